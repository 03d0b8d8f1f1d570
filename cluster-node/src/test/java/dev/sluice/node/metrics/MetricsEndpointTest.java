package dev.sluice.node.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.sluice.engine.cpu.NativeKernels;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.management.javadsl.PekkoManagement;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@code GET /metrics} on a real management port of a one-node cluster. */
class MetricsEndpointTest {

  static ActorSystem<Void> system;
  static URI metricsUri;
  static final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  static Config nodeConfig(String name) {
    return ConfigFactory.parseString(
            """
            pekko.actor.provider = cluster
            pekko.actor.serialize-messages = on
            pekko.remote.artery.canonical.hostname = 127.0.0.1
            pekko.remote.artery.canonical.port = 0
            pekko.management.http.hostname = 127.0.0.1
            pekko.management.http.port = 0
            pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
            pekko.loglevel = WARNING
            sluice.metrics.ping.interval = 200ms
            sluice.metrics.report.interval = 200ms
            """)
        .withFallback(ConfigFactory.load());
  }

  /** Starts Pekko Management and returns the base URI it bound. */
  static URI startManagement(ActorSystem<?> s) throws Exception {
    return URI.create(
        PekkoManagement.get(Adapter.toClassic(s))
            .start()
            .toCompletableFuture()
            .get(30, TimeUnit.SECONDS)
            .toString());
  }

  @BeforeAll
  static void start() throws Exception {
    system = ActorSystem.create(Behaviors.empty(), "metrics", nodeConfig("metrics"));
    Cluster cluster = Cluster.get(system);
    cluster.manager().tell(Join.create(cluster.selfMember().address()));
    Awaitility.await()
        .atMost(Duration.ofSeconds(20))
        .until(() -> cluster.selfMember().status().equals(MemberStatus.up()));
    URI base = startManagement(system);
    metricsUri = base.resolve("/metrics");
  }

  @AfterAll
  static void stop() throws Exception {
    if (system != null) {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }

  /** Touches every application metric once, so each family has series in the output. */
  static void exerciseAll(SluiceMetrics m) {
    m.requests.labelValues("/v1/chat/completions", "qwen2-0.5b", "200").inc();
    m.requests.labelValues("/v1/chat/completions", "qwen2-0.5b", "503").inc();
    m.refusals.labelValues("over_capacity").inc();
    m.timeToFirstToken.labelValues("qwen2-0.5b").observe(0.180);
    m.interTokenLatency.labelValues("qwen2-0.5b").observe(0.021);
    m.requestDuration.labelValues("/v1/chat/completions", "qwen2-0.5b").observe(2.4);
    m.queueWait.labelValues("qwen2-0.5b").observe(0.07);
    m.queuedRequests.labelValues("qwen2-0.5b").set(3);
    m.queuedTokens.labelValues("qwen2-0.5b").set(1200);
    m.batchSize.labelValues("cpu:0").observe(6);
    m.promptTokens.labelValues("qwen2-0.5b").inc(900);
    m.generatedTokens.labelValues("qwen2-0.5b").inc(128);
    m.kvBlocksUsed.labelValues("cpu:0").set(40);
    m.kvBlocksFree.labelValues("cpu:0").set(984);
    m.deviceTokensPerSecond.labelValues("cpu:0", "decode").set(250);
    m.deviceBusySeconds.labelValues("cpu:0").inc(1.5);
    m.modelLoadDuration.labelValues("qwen2-0.5b").set(3.2);
    m.cacheLookups.labelValues("l1", "response", "hit").inc();
    m.cacheSize.labelValues("l1").set(1 << 20);
    m.cacheEvictions.labelValues("l1").inc();
    m.plannerDecisions.labelValues("hold").inc();
    m.plannerForecastTokensPerSecond.set(1500);
    m.plannerDemandTokensPerSecond.set(1200);
    m.plannerCapacityReplicas.labelValues("private").set(2);
    m.plannerSloViolations.inc();
    // Fed by the PeerPinger on a multi-node cluster; set here so a one-node test sees them too.
    m.peerRoundTrip.labelValues("127.0.0.1:25599").set(0.0012);
    m.peerPingTimeouts.labelValues("127.0.0.1:25599").inc();
  }

  static String get(URI uri, String accept) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10));
    if (accept != null) {
      b.header("Accept", accept);
    }
    HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as("GET %s", uri).isEqualTo(200);
    return r.headers().firstValue("Content-Type").orElse("") + "\n" + r.body();
  }

  @Test
  void servesPrometheusTextWithEveryFamily() throws Exception {
    exerciseAll(NodeMetrics.get(system).metrics());
    String response = get(metricsUri, null);
    String contentType = response.substring(0, response.indexOf('\n'));
    String body = response.substring(response.indexOf('\n') + 1);

    assertThat(contentType).startsWith("text/plain").contains("version=0.0.4");
    assertThat(body)
        .contains(
            "sluice_requests_total{model=\"qwen2-0.5b\",route=\"/v1/chat/completions\",status=\"503\"} ")
        .contains("sluice_refusals_total{reason=\"over_capacity\"} ")
        .contains("sluice_time_to_first_token_seconds_bucket{model=\"qwen2-0.5b\",le=\"0.25\"} ")
        .contains("sluice_cluster_members{status=\"up\"} 1")
        .contains("sluice_cluster_unreachable_members 0")
        .contains("sluice_node_cpu_cores ")
        .contains("sluice_cpu_native_kernels " + (NativeKernels.available() ? "1.0" : "0.0"))
        .contains("jvm_memory_used_bytes")
        .contains("process_cpu_seconds_total");
    if (!NodeMetrics.get(system).gpuMetricsAvailable()) {
      // No driver here: the GPU series are absent, not zero.
      assertThat(body).doesNotContain("sluice_gpu_");
    } else {
      assertThat(body).contains("sluice_gpu_memory_total_bytes{device=\"0\"}");
    }
  }

  @Test
  void promtoolAcceptsTheOutput() throws Exception {
    assumeTrue(Promtool.find() != null, Promtool.MISSING);
    exerciseAll(NodeMetrics.get(system).metrics());
    String response = get(metricsUri, null);
    String body = response.substring(response.indexOf('\n') + 1);
    Promtool.Result r = Promtool.run(body, "check", "metrics");
    assertThat(r.output()).as("promtool check metrics findings").isBlank();
    assertThat(r.exitCode()).isZero();
  }

  @Test
  void servesOpenMetricsWhenAsked() throws Exception {
    String response = get(metricsUri, "application/openmetrics-text; version=1.0.0");
    assertThat(response).startsWith("application/openmetrics-text").contains("# EOF");
  }
}
