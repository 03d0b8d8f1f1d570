package dev.sluice.node.metrics;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reduces a node's registry to the {@link NodeSnapshot.Signal}s the alert rules need, the way the
 * equivalent Prometheus rules in {@code deploy/prometheus} do: gauges as they are, GPU memory as
 * used / total, the queue-wait p99 as {@code histogram_quantile(0.99, increase(...[window]))}
 * (linear interpolation inside the bucket), and the refusal ratio as {@code
 * increase(refusals[window]) / increase(requests[window])}.
 *
 * <p>Keeps the cumulative values of past samples for one window; not thread-safe (one reporter owns
 * it). Plain Java, so it is tested without actors.
 */
public final class SignalSampler {

  private static final Set<String> FAMILIES =
      Set.of(
          "sluice_node_cpu_usage_ratio",
          "sluice_cluster_unreachable_members",
          "sluice_gpu_memory_used_bytes",
          "sluice_gpu_memory_total_bytes",
          "sluice_peer_round_trip_seconds",
          "sluice_queue_wait_seconds",
          "sluice_refusals",
          "sluice_requests");

  /** Cumulative state at one instant. */
  private record Cumulative(
      long atNanos, Map<String, long[]> queueBuckets, double refusals, double requests) {}

  private final Duration window;
  private final long refusalMinRequests;
  private final Deque<Cumulative> history = new ArrayDeque<>();
  private double[] queueBounds;

  public SignalSampler(Duration window, long refusalMinRequests) {
    this.window = window;
    this.refusalMinRequests = refusalMinRequests;
  }

  /** Samples {@code registry} now. */
  public List<NodeSnapshot.Signal> sample(PrometheusRegistry registry) {
    return sample(registry.scrape(FAMILIES::contains), System.nanoTime());
  }

  /** Reduces {@code snapshots} taken at monotonic time {@code nowNanos}. */
  public List<NodeSnapshot.Signal> sample(MetricSnapshots snapshots, long nowNanos) {
    List<NodeSnapshot.Signal> out = new ArrayList<>();
    Map<String, Double> gpuUsed = new HashMap<>();
    Map<String, Double> gpuTotal = new HashMap<>();
    Map<String, long[]> queueBuckets = new HashMap<>();
    double refusals = 0;
    double requests = 0;
    for (MetricSnapshot s : snapshots) {
      String name = s.getMetadata().getPrometheusName();
      switch (s) {
        case GaugeSnapshot g -> {
          for (GaugeSnapshot.GaugeDataPointSnapshot p : g.getDataPoints()) {
            switch (name) {
              case "sluice_node_cpu_usage_ratio" ->
                  out.add(new NodeSnapshot.Signal(NodeSnapshot.NODE_CPU, "", p.getValue()));
              case "sluice_cluster_unreachable_members" ->
                  out.add(
                      new NodeSnapshot.Signal(NodeSnapshot.UNREACHABLE_MEMBERS, "", p.getValue()));
              case "sluice_peer_round_trip_seconds" ->
                  out.add(
                      new NodeSnapshot.Signal(
                          NodeSnapshot.PEER_RTT, p.getLabels().get("peer"), p.getValue()));
              case "sluice_gpu_memory_used_bytes" ->
                  gpuUsed.put(p.getLabels().get("device"), p.getValue());
              case "sluice_gpu_memory_total_bytes" ->
                  gpuTotal.put(p.getLabels().get("device"), p.getValue());
              default -> {}
            }
          }
        }
        case CounterSnapshot c -> {
          double sum = 0;
          for (CounterSnapshot.CounterDataPointSnapshot p : c.getDataPoints()) {
            sum += p.getValue();
          }
          if (name.equals("sluice_refusals")) {
            refusals = sum;
          } else if (name.equals("sluice_requests")) {
            requests = sum;
          }
        }
        case HistogramSnapshot h when name.equals("sluice_queue_wait_seconds") -> {
          for (HistogramSnapshot.HistogramDataPointSnapshot p : h.getDataPoints()) {
            ClassicHistogramBuckets b = p.getClassicBuckets();
            long[] counts = new long[b.size()];
            double[] bounds = new double[b.size()];
            for (int i = 0; i < b.size(); i++) {
              counts[i] = b.getCount(i);
              bounds[i] = b.getUpperBound(i);
            }
            queueBounds = bounds;
            queueBuckets.put(p.getLabels().get("model"), counts);
          }
        }
        default -> {}
      }
    }
    for (Map.Entry<String, Double> e : gpuUsed.entrySet()) {
      Double total = gpuTotal.get(e.getKey());
      if (total != null && total > 0) {
        out.add(new NodeSnapshot.Signal(NodeSnapshot.GPU_MEMORY, e.getKey(), e.getValue() / total));
      }
    }

    Cumulative current = new Cumulative(nowNanos, queueBuckets, refusals, requests);
    // The baseline is the oldest sample still inside the window (at least one sample back).
    while (history.size() > 1 && nowNanos - history.peekFirst().atNanos() > window.toNanos()) {
      history.pollFirst();
    }
    Cumulative base = history.peekFirst();
    if (base != null) {
      for (Map.Entry<String, long[]> e : queueBuckets.entrySet()) {
        long[] before = base.queueBuckets().get(e.getKey());
        long[] delta = e.getValue().clone();
        if (before != null) {
          for (int i = 0; i < delta.length; i++) {
            delta[i] -= before[i];
          }
        }
        double p99 = quantile(0.99, queueBounds, delta);
        if (!Double.isNaN(p99)) {
          out.add(new NodeSnapshot.Signal(NodeSnapshot.QUEUE_WAIT_P99, e.getKey(), p99));
        }
      }
      double answered = requests - base.requests();
      if (answered >= refusalMinRequests) {
        double refused = Math.max(0, refusals - base.refusals());
        out.add(new NodeSnapshot.Signal(NodeSnapshot.REFUSAL_RATIO, "", refused / answered));
      }
    }
    history.addLast(current);
    return out;
  }

  /**
   * The {@code q}-quantile of per-bucket (not cumulative) counts with upper bounds {@code bounds},
   * interpolated linearly inside the bucket as Prometheus' {@code histogram_quantile} does; NaN
   * when there are no observations. A quantile in the {@code +Inf} bucket returns the highest
   * finite bound.
   */
  static double quantile(double q, double[] bounds, long[] counts) {
    long total = 0;
    for (long c : counts) {
      total += c;
    }
    if (total <= 0) {
      return Double.NaN;
    }
    double rank = q * total;
    long cumulative = 0;
    for (int i = 0; i < counts.length; i++) {
      long before = cumulative;
      cumulative += counts[i];
      if (cumulative >= rank && counts[i] > 0) {
        if (Double.isInfinite(bounds[i])) {
          return i > 0 ? bounds[i - 1] : 0;
        }
        double lower = i == 0 ? 0 : bounds[i - 1];
        return lower + (bounds[i] - lower) * ((rank - before) / counts[i]);
      }
    }
    return bounds.length > 1 ? bounds[bounds.length - 2] : Double.NaN;
  }
}
