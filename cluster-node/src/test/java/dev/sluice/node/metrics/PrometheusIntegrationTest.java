package dev.sluice.node.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import dev.sluice.node.config.NodeConfig;
import dev.sluice.node.config.NodeSettings;
import dev.sluice.node.launch.ClusterNode;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.ActorSystem;
import org.junit.jupiter.api.Test;

/**
 * A real Prometheus (Debian's binary) scrapes a running node's {@code /metrics} (started the way
 * the jars start it), evaluates the shipped alert rules with the CPU threshold forced low, and a
 * real Alertmanager delivers the alert to a webhook receiver. Everything on loopback with random
 * ports; every wait is bounded; the processes are killed in {@code finally}.
 */
class PrometheusIntegrationTest {

  static final Path PROMETHEUS = Path.of("/usr/bin/prometheus");
  static final Path ALERTMANAGER = Path.of("/usr/bin/prometheus-alertmanager");
  static final ObjectMapper JSON = new ObjectMapper();
  static final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  static String get(String url) throws Exception {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
            HttpResponse.BodyHandlers.ofString());
    return r.statusCode() == 200 ? r.body() : null;
  }

  static void awaitUp(String url, Duration max, Process p, Path log) throws Exception {
    long deadline = System.nanoTime() + max.toNanos();
    while (System.nanoTime() < deadline) {
      if (p != null && !p.isAlive()) {
        throw new AssertionError(url + ": process exited:\n" + Files.readString(log));
      }
      try {
        if (get(url) != null) {
          return;
        }
      } catch (IOException notYet) {
        // not listening yet
      }
      Thread.sleep(200);
    }
    throw new AssertionError(
        url + " not up after " + max + (log != null ? ":\n" + Files.readString(log) : ""));
  }

  static Process start(Path log, String... cmd) throws IOException {
    return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
  }

  static void kill(Process p) throws InterruptedException {
    if (p == null) {
      return;
    }
    p.destroy();
    if (!p.waitFor(10, TimeUnit.SECONDS)) {
      p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void prometheusFiresTheShippedCpuRuleAndAlertmanagerDeliversIt() throws Exception {
    assumeTrue(
        Files.isExecutable(PROMETHEUS) && Files.isExecutable(ALERTMANAGER),
        "prometheus / prometheus-alertmanager not installed (Debian packages; "
            + ".ci/install.d/observability.sh installs them): skipping");
    Path dir = Files.createTempDirectory("sluice-prometheus-it");
    BlockingQueue<String> delivered = new LinkedBlockingQueue<>();
    HttpServer hook =
        HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    hook.createContext(
        "/alert",
        ex -> {
          delivered.add(new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
          ex.sendResponseHeaders(200, -1);
          ex.close();
        });
    hook.start();
    ActorSystem<Void> node = null;
    Process alertmanager = null;
    Process prometheus = null;
    try {
      // The node, started as the jars start it: Pekko Management serves /metrics.
      int managementPort = freePort();
      Map<String, Object> flags = new HashMap<>();
      flags.put("sluice.node.port", 0);
      flags.put("sluice.management.port", managementPort);
      flags.put("sluice.node.roles", List.of("worker"));
      flags.put("pekko.cluster.jmx.multi-mbeans-in-same-jvm", "on");
      var config = NodeConfig.load(flags, Optional.empty(), Optional.empty());
      NodeSettings settings = NodeSettings.fromConfig(config);
      node =
          ClusterNode.start(
              new ClusterNode.Prepared(NodeConfig.withDerivedPekko(config, settings), settings));
      String target = "127.0.0.1:" + managementPort;
      awaitUp("http://" + target + "/metrics", Duration.ofSeconds(60), null, null);

      // The shipped rules, with the CPU condition forced true and no "for" delay.
      String rules =
          Files.readString(Path.of("..", "deploy", "prometheus", "rules", "sluice-alerts.yml"));
      assertThat(rules).contains("expr: sluice_node_cpu_usage_ratio > 0.85");
      rules =
          rules
              .replace(
                  "expr: sluice_node_cpu_usage_ratio > 0.85",
                  "expr: sluice_node_cpu_usage_ratio > -1")
              .replaceAll("for: \\w+", "for: 0s");
      Files.writeString(dir.resolve("rules.yml"), rules);

      int amPort = freePort();
      int promPort = freePort();
      Files.writeString(
          dir.resolve("alertmanager.yml"),
          """
          route:
            receiver: hook
            group_by: [alertname, instance]
            group_wait: 0s
            group_interval: 1s
            repeat_interval: 1h
          receivers:
            - name: hook
              webhook_configs:
                - url: http://127.0.0.1:%d/alert
                  send_resolved: true
          """
              .formatted(hook.getAddress().getPort()));
      Files.writeString(
          dir.resolve("prometheus.yml"),
          """
          global:
            scrape_interval: 1s
            evaluation_interval: 1s
          rule_files: [rules.yml]
          alerting:
            alertmanagers:
              - static_configs:
                  - targets: ["127.0.0.1:%d"]
          scrape_configs:
            - job_name: sluice
              metrics_path: /metrics
              static_configs:
                - targets: ["%s"]
          """
              .formatted(amPort, target));

      Path amLog = dir.resolve("alertmanager.log");
      alertmanager =
          start(
              amLog,
              ALERTMANAGER.toString(),
              "--config.file=" + dir.resolve("alertmanager.yml"),
              "--storage.path=" + dir.resolve("am-data"),
              "--web.listen-address=127.0.0.1:" + amPort,
              "--cluster.listen-address=");
      Path promLog = dir.resolve("prometheus.log");
      prometheus =
          start(
              promLog,
              PROMETHEUS.toString(),
              "--config.file=" + dir.resolve("prometheus.yml"),
              "--storage.tsdb.path=" + dir.resolve("prom-data"),
              "--web.listen-address=127.0.0.1:" + promPort);
      awaitUp(
          "http://127.0.0.1:" + amPort + "/-/ready", Duration.ofSeconds(60), alertmanager, amLog);
      awaitUp(
          "http://127.0.0.1:" + promPort + "/-/ready", Duration.ofSeconds(60), prometheus, promLog);

      // Prometheus scrapes the node: its membership series reads one Up member.
      String query =
          "http://127.0.0.1:"
              + promPort
              + "/api/v1/query?query="
              + URLEncoder.encode("sluice_cluster_members{status=\"up\"}", StandardCharsets.UTF_8);
      JsonNode result = null;
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (System.nanoTime() < deadline) {
        String body = get(query);
        if (body != null) {
          result = JSON.readTree(body).at("/data/result");
          if (result.size() > 0) {
            break;
          }
        }
        Thread.sleep(500);
      }
      assertThat(result).as("query result for sluice_cluster_members").isNotNull().hasSize(1);
      assertThat(result.get(0).at("/metric/instance").asText()).isEqualTo(target);
      assertThat(result.get(0).at("/value/1").asText()).isEqualTo("1");

      // The rule fires and Alertmanager delivers it.
      JsonNode cpuAlert = null;
      List<String> seen = new ArrayList<>();
      deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (cpuAlert == null && System.nanoTime() < deadline) {
        String body = delivered.poll(1, TimeUnit.SECONDS);
        if (body == null) {
          continue;
        }
        seen.add(body);
        for (JsonNode a : JSON.readTree(body).get("alerts")) {
          if (a.at("/labels/alertname").asText().equals("SluiceNodeCpuHigh")) {
            cpuAlert = a;
          }
        }
      }
      assertThat(cpuAlert)
          .as(
              "SluiceNodeCpuHigh at the webhook; got %s; prometheus log:%n%s",
              seen, Files.readString(promLog))
          .isNotNull();
      assertThat(cpuAlert.get("status").asText()).isEqualTo("firing");
      assertThat(cpuAlert.at("/labels/instance").asText()).isEqualTo(target);
      assertThat(cpuAlert.at("/labels/job").asText()).isEqualTo("sluice");
      assertThat(cpuAlert.at("/labels/severity").asText()).isEqualTo("warning");
      assertThat(cpuAlert.at("/annotations/summary").asText())
          .startsWith("CPU on " + target + " at ");
    } finally {
      kill(prometheus);
      kill(alertmanager);
      hook.stop(0);
      if (node != null) {
        node.terminate();
        node.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      try (Stream<Path> files = Files.walk(dir)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }
}
