package dev.sluice.node.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class SignalSamplerTest {

  static final long SECOND = 1_000_000_000L;

  static double value(List<NodeSnapshot.Signal> signals, String name, String subject) {
    return signals.stream()
        .filter(s -> s.name().equals(name) && s.subject().equals(subject))
        .mapToDouble(NodeSnapshot.Signal::value)
        .findFirst()
        .orElse(Double.NaN);
  }

  @Test
  void quantileInterpolatesLikeHistogramQuantile() {
    double[] bounds = {0.1, 0.5, 1, Double.POSITIVE_INFINITY};
    // 100 observations: 50 in (0, 0.1], 40 in (0.1, 0.5], 10 in (0.5, 1].
    long[] counts = {50, 40, 10, 0};
    // rank 99 lies 9/10 into the (0.5, 1] bucket.
    assertThat(SignalSampler.quantile(0.99, bounds, counts)).isCloseTo(0.95, within(1e-9));
    assertThat(SignalSampler.quantile(0.5, bounds, counts)).isCloseTo(0.1, within(1e-9));
    assertThat(SignalSampler.quantile(0.99, bounds, new long[] {0, 0, 0, 5})).isEqualTo(1.0);
    assertThat(SignalSampler.quantile(0.99, bounds, new long[4])).isNaN();
  }

  @Test
  void queueWaitP99AndRefusalRatioAreOverTheWindowOnly() {
    PrometheusRegistry registry = new PrometheusRegistry();
    SluiceMetrics m = new SluiceMetrics(registry);
    SignalSampler sampler = new SignalSampler(Duration.ofSeconds(60), 20);

    // Before the window: slow queueing and many refusals that must not count later.
    for (int i = 0; i < 100; i++) {
      m.queueWait.labelValues("llama").observe(20);
      m.requests.labelValues("/v1/completions", "llama", "503").inc();
      m.refusals.labelValues("over_capacity").inc();
    }
    List<NodeSnapshot.Signal> first = sampler.sample(registry.scrape(), 0);
    assertThat(value(first, NodeSnapshot.QUEUE_WAIT_P99, "llama")).isNaN();

    // Within the window: fast queueing, 10% refused.
    for (int i = 0; i < 100; i++) {
      m.queueWait.labelValues("llama").observe(0.04);
      m.requests.labelValues("/v1/completions", "llama", i < 10 ? "503" : "200").inc();
      if (i < 10) {
        m.refusals.labelValues("over_capacity").inc();
      }
    }
    List<NodeSnapshot.Signal> second = sampler.sample(registry.scrape(), 30 * SECOND);
    assertThat(value(second, NodeSnapshot.QUEUE_WAIT_P99, "llama")).isBetween(0.025, 0.05);
    assertThat(value(second, NodeSnapshot.REFUSAL_RATIO, "")).isCloseTo(0.10, within(1e-9));

    // Too few requests in the window: no ratio at all rather than a noisy one.
    m.requests.labelValues("/v1/completions", "llama", "503").inc();
    m.refusals.labelValues("over_capacity").inc();
    List<NodeSnapshot.Signal> third = sampler.sample(registry.scrape(), 120 * SECOND);
    assertThat(value(third, NodeSnapshot.REFUSAL_RATIO, "")).isNaN();
  }

  @Test
  void gpuMemoryIsUsedOverTotalPerDeviceAndPeerRttPassesThrough() {
    PrometheusRegistry registry = new PrometheusRegistry();
    SluiceMetrics m = new SluiceMetrics(registry);
    // Same families as HostMetrics.registerGpu, set by hand (no NVML here).
    Gauge used =
        Gauge.builder()
            .name("sluice_gpu_memory_used_bytes")
            .labelNames("device")
            .register(registry);
    Gauge total =
        Gauge.builder()
            .name("sluice_gpu_memory_total_bytes")
            .labelNames("device")
            .register(registry);
    used.labelValues("0").set(76e9);
    total.labelValues("0").set(80e9);
    used.labelValues("1").set(1e9);
    total.labelValues("1").set(80e9);
    m.peerRoundTrip.labelValues("10.0.0.7:25520").set(0.75);
    Gauge.builder().name("sluice_cluster_unreachable_members").register(registry).set(1);
    List<NodeSnapshot.Signal> s =
        new SignalSampler(Duration.ofMinutes(1), 20).sample(registry.scrape(), 0);
    assertThat(value(s, NodeSnapshot.GPU_MEMORY, "0")).isCloseTo(0.95, within(1e-9));
    assertThat(value(s, NodeSnapshot.GPU_MEMORY, "1")).isCloseTo(0.0125, within(1e-9));
    assertThat(value(s, NodeSnapshot.PEER_RTT, "10.0.0.7:25520")).isEqualTo(0.75);
    assertThat(value(s, NodeSnapshot.UNREACHABLE_MEMBERS, "")).isEqualTo(1.0);
  }
}
