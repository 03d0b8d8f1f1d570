package dev.sluice.seed.alerting;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.sluice.node.metrics.NodeMetrics;
import dev.sluice.node.metrics.SluiceMetrics;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * The built-in evaluator end to end: a running node's real metrics -> its snapshot on the cluster
 * topic -> the alerter singleton -> DingTalk- and WeCom-shaped receivers, firing then resolved.
 */
class AlerterTest {

  static final ObjectMapper JSON = new ObjectMapper();
  static final String SECRET = "SECtest0123456789";

  static Map<String, String> query(String raw) {
    Map<String, String> m = new HashMap<>();
    for (String kv : raw.split("&")) {
      int i = kv.indexOf('=');
      m.put(kv.substring(0, i), kv.substring(i + 1));
    }
    return m;
  }

  @Test
  void refusalsOnANodeNotifyDingTalkAndWeComThenResolve() throws Exception {
    try (Receiver dingtalk = new Receiver(200, "{\"errcode\":0,\"errmsg\":\"ok\"}");
        Receiver wecom = new Receiver(200, "{\"errcode\":0,\"errmsg\":\"ok\"}")) {
      Config config =
          ConfigFactory.parseString(
                  """
                  pekko.actor.provider = cluster
                  pekko.actor.serialize-messages = on
                  pekko.remote.artery.canonical.hostname = 127.0.0.1
                  pekko.remote.artery.canonical.port = 0
                  pekko.loglevel = WARNING
                  pekko.cluster.roles = ["seed"]
                  sluice.metrics.report { interval = 200ms, window = 1s, refusal-min-requests = 1 }
                  sluice.alerting {
                    evaluation-interval = 200ms
                    rules {
                      node-cpu-high.enabled = off
                      gpu-memory-high.enabled = off
                      inter-node-latency-high.enabled = off
                      queue-wait-slo.enabled = off
                      member-unreachable.enabled = off
                      refusal-rate-high.for = 0s
                    }
                    http { timeout = 2s, retries = 1, retry-backoff = 100ms }
                    notifiers {
                      dingtalk { url = "%s", secret-env = TEST_DINGTALK_SECRET }
                      wecom { url = "%s" }
                    }
                  }
                  """
                      .formatted(
                          dingtalk.url("/robot/send?access_token=abc"),
                          wecom.url("/cgi-bin/webhook/send?key=k")))
              .withFallback(ConfigFactory.load());
      List<String> skipped = new ArrayList<>();
      AlertingSettings settings =
          AlertingSettings.fromConfig(config, Map.of("TEST_DINGTALK_SECRET", SECRET)::get, skipped);
      assertThat(settings.notifiers())
          .extracting(AlertingSettings.NotifierSettings::name)
          .containsExactly("dingtalk", "wecom");
      assertThat(skipped).hasSize(2).allMatch(s -> s.contains("is not set"));

      ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "alerting", config);
      try {
        Cluster cluster = Cluster.get(system);
        cluster.manager().tell(Join.create(cluster.selfMember().address()));
        Awaitility.await()
            .atMost(Duration.ofSeconds(20))
            .until(() -> cluster.selfMember().status().equals(MemberStatus.up()));
        SluiceMetrics metrics = NodeMetrics.get(system).metrics();
        Alerter.init(system, settings);

        // The node refuses every request (ratio 100% > 5%), until the alert arrives: the topic
        // between the node's reporter and the singleton takes a few gossip rounds to connect.
        Receiver.Request d = null;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (d == null && System.nanoTime() < deadline) {
          metrics.requests.labelValues("/v1/chat/completions", "m", "503").inc();
          metrics.refusals.labelValues("over_capacity").inc();
          d = dingtalk.next(Duration.ofMillis(100));
        }
        assertThat(d).as("DingTalk notification").isNotNull();
        JsonNode db = JSON.readTree(d.body());
        assertThat(db.get("msgtype").asText()).isEqualTo("markdown");
        assertThat(db.at("/markdown/title").asText())
            .startsWith("[FIRING] SluiceRefusalRateHigh on 127.0.0.1:");
        assertThat(db.at("/markdown/text").asText())
            .containsPattern("refuses \\d+\\.\\d% of requests \\(above 5.0%\\)");
        Map<String, String> q = query(d.uri().getRawQuery());
        long ts = Long.parseLong(q.get("timestamp"));
        assertThat(Math.abs(System.currentTimeMillis() - ts)).isLessThan(60_000);
        assertThat(q.get("sign")).isEqualTo(DingTalkNotifier.sign(ts, SECRET));
        assertThat(URLDecoder.decode(q.get("sign"), StandardCharsets.UTF_8)).hasSize(44);

        Receiver.Request w = wecom.next(Duration.ofSeconds(30));
        assertThat(w).as("WeCom notification").isNotNull();
        assertThat(JSON.readTree(w.body()).at("/markdown/content").asText())
            .startsWith("### [FIRING] SluiceRefusalRateHigh on 127.0.0.1:");

        // Refusals stop: after the 1 s window the ratio is gone and the alert resolves, once.
        Receiver.Request dr = dingtalk.next(Duration.ofSeconds(30));
        assertThat(dr).as("DingTalk resolved notification").isNotNull();
        assertThat(JSON.readTree(dr.body()).at("/markdown/title").asText())
            .startsWith("[RESOLVED] SluiceRefusalRateHigh");
        assertThat(JSON.readTree(dr.body()).at("/markdown/text").asText()).contains("- resolved: ");
        Receiver.Request wr = wecom.next(Duration.ofSeconds(30));
        assertThat(JSON.readTree(wr.body()).at("/markdown/content").asText())
            .startsWith("### [RESOLVED] SluiceRefusalRateHigh");
        assertThat(dingtalk.next(Duration.ofSeconds(1))).as("no repeat after resolve").isNull();
      } finally {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
    }
  }
}
