package dev.sluice.seed.alerting;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.management.javadsl.PekkoManagement;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code POST /alerts/alertmanager} on a seed's management port relays Alertmanager's webhook to
 * DingTalk- and WeCom-shaped receivers; with the real Alertmanager (Debian) in front of it too.
 */
class AlertRelayTest {

  static final ObjectMapper JSON = new ObjectMapper();
  static final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  static final String OK = "{\"errcode\":0,\"errmsg\":\"ok\"}";
  static Receiver dingtalk;
  static Receiver wecom;
  static ActorSystem<Void> system;
  static URI relay;

  static final String MESSAGE =
      """
      {"receiver":"sluice","status":"firing","alerts":[{"status":"firing",
        "labels":{"alertname":"SluiceGpuMemoryHigh","device":"0","instance":"w1:8558",
                  "job":"sluice","severity":"warning"},
        "annotations":{"summary":"GPU 0 on w1:8558: memory 95% used (above 90%)",
                       "description":"Check nvidia-smi."},
        "startsAt":"2026-03-01T08:00:00.123Z","endsAt":"0001-01-01T00:00:00Z",
        "generatorURL":"http://prometheus:9090/graph","fingerprint":"a1"}],
       "groupLabels":{"alertname":"SluiceGpuMemoryHigh"},"commonLabels":{},
       "commonAnnotations":{},"externalURL":"http://alertmanager:9093","version":"4",
       "groupKey":"{}:{alertname=\\"SluiceGpuMemoryHigh\\"}","truncatedAlerts":0}
      """;

  @BeforeAll
  static void start() throws Exception {
    dingtalk = new Receiver(200, OK);
    wecom = new Receiver(200, OK);
    system =
        ActorSystem.create(
            Behaviors.empty(),
            "relay",
            ConfigFactory.parseString(
                    """
                    pekko.actor.provider = cluster
                    pekko.remote.artery.canonical.hostname = 127.0.0.1
                    pekko.remote.artery.canonical.port = 0
                    pekko.loglevel = WARNING
                    pekko.management.http.hostname = 127.0.0.1
                    pekko.management.http.port = 0
                    sluice.alerting.http { timeout = 2s, retries = 0 }
                    sluice.alerting.notifiers {
                      dingtalk { url = "%s" }
                      wecom { url = "%s" }
                      slack { url = "%s" }
                    }
                    """
                        .formatted(
                            dingtalk.url("/robot/send?access_token=t"),
                            wecom.url("/cgi-bin/webhook/send?key=k"),
                            wecom.url("/slack-must-not-get-this")))
                .withFallback(ConfigFactory.load()));
    URI base =
        URI.create(
            PekkoManagement.get(system.classicSystem())
                .start()
                .toCompletableFuture()
                .get(30, TimeUnit.SECONDS)
                .toString());
    relay = base.resolve("/alerts/alertmanager");
  }

  @AfterAll
  static void stop() throws Exception {
    system.terminate();
    system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    dingtalk.close();
    wecom.close();
  }

  /** The next request whose body contains {@code text} (the tests share the receivers). */
  static Receiver.Request nextContaining(Receiver r, String text) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      Receiver.Request next = r.next(Duration.ofMillis(500));
      if (next != null && next.body().contains(text)) {
        return next;
      }
    }
    return null;
  }

  static HttpResponse<String> post(URI uri, String body) throws Exception {
    return http.send(
        HttpRequest.newBuilder(uri)
            .timeout(Duration.ofSeconds(10))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void relaysAlertmanagerMessagesToTheRobots() throws Exception {
    HttpResponse<String> r = post(relay, MESSAGE);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    JsonNode d = JSON.readTree(nextContaining(dingtalk, "SluiceGpuMemoryHigh").body());
    assertThat(d.at("/markdown/title").asText())
        .isEqualTo("[FIRING] SluiceGpuMemoryHigh on w1:8558");
    assertThat(d.at("/markdown/text").asText())
        .isEqualTo(
            """
            ### [FIRING] SluiceGpuMemoryHigh on w1:8558

            **GPU 0 on w1:8558: memory 95% used (above 90%)**

            - severity: warning
            - node: w1:8558
            - subject: 0
            - since: 2026-03-01 08:00:00 UTC

            > Check nvidia-smi.
            """);
    Receiver.Request w = nextContaining(wecom, "SluiceGpuMemoryHigh");
    assertThat(w.uri().getPath()).isEqualTo("/cgi-bin/webhook/send");
    assertThat(JSON.readTree(w.body()).at("/markdown/content").asText())
        .startsWith("### [FIRING] SluiceGpuMemoryHigh on w1:8558");
    // Slack has an address (on the same receiver) but is not a relay notifier by default.
    Receiver.Request more;
    while ((more = wecom.next(Duration.ofMillis(500))) != null) {
      assertThat(more.uri().getPath()).isNotEqualTo("/slack-must-not-get-this");
    }

    HttpResponse<String> bad = post(relay, "{\"hello\":1}");
    assertThat(bad.statusCode()).isEqualTo(400);
    assertThat(bad.body()).contains("not an Alertmanager webhook message");
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  @Test
  void realAlertmanagerDeliversThroughTheRelay() throws Exception {
    Path binary = Path.of("/usr/bin/prometheus-alertmanager");
    assumeTrue(
        Files.isExecutable(binary),
        "prometheus-alertmanager not installed (Debian package; .ci/install.d/observability.sh"
            + " installs it): skipping");
    Path dir = Files.createTempDirectory("sluice-relay-it");
    Process am = null;
    try {
      int port = freePort();
      Files.writeString(
          dir.resolve("alertmanager.yml"),
          """
          route:
            receiver: sluice-relay
            group_by: [alertname, instance]
            group_wait: 0s
            group_interval: 1s
            repeat_interval: 1h
          receivers:
            - name: sluice-relay
              webhook_configs:
                - url: %s
                  send_resolved: true
          """
              .formatted(relay));
      am =
          new ProcessBuilder(
                  binary.toString(),
                  "--config.file=" + dir.resolve("alertmanager.yml"),
                  "--storage.path=" + dir.resolve("data"),
                  "--web.listen-address=127.0.0.1:" + port,
                  "--cluster.listen-address=")
              .redirectErrorStream(true)
              .redirectOutput(dir.resolve("am.log").toFile())
              .start();
      URI alerts = URI.create("http://127.0.0.1:" + port + "/api/v2/alerts");
      String alert =
          """
          [{"labels":{"alertname":"SluiceQueueWaitSloBreached","instance":"n1:8558",
                      "model":"qwen2","severity":"critical"},
            "annotations":{"summary":"Queue-wait p99 for model qwen2 on n1:8558 is 4.96s (SLO 2s)",
                           "description":"Add replicas."}}]
          """;
      // Push the alert as Prometheus would, once Alertmanager listens.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      boolean pushed = false;
      while (!pushed && System.nanoTime() < deadline) {
        assertThat(am.isAlive())
            .as("alertmanager running: %s", Files.readString(dir.resolve("am.log")))
            .isTrue();
        try {
          pushed = post(alerts, alert).statusCode() == 200;
        } catch (IOException notYet) {
          Thread.sleep(200);
        }
      }
      assertThat(pushed).as("alert accepted by Alertmanager").isTrue();
      Receiver.Request d = nextContaining(dingtalk, "SluiceQueueWaitSloBreached");
      assertThat(d).as("DingTalk message from Alertmanager via the relay").isNotNull();
      assertThat(JSON.readTree(d.body()).at("/markdown/text").asText())
          .contains("**Queue-wait p99 for model qwen2 on n1:8558 is 4.96s (SLO 2s)**")
          .contains("- severity: critical")
          .contains("- subject: qwen2");
    } finally {
      if (am != null) {
        am.destroy();
        if (!am.waitFor(10, TimeUnit.SECONDS)) {
          am.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      }
      try (Stream<Path> files = Files.walk(dir)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }
}
