package dev.sluice.node.metrics;

import dev.sluice.engine.cpu.NativeKernels;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.List;

/**
 * Every application metric a Sluice node exports, defined in one place so that names, labels and
 * bucket layouts stay consistent between the code that updates them, the alert rules in {@code
 * deploy/prometheus} and the dashboards in {@code deploy/grafana}.
 *
 * <p>Names follow the Prometheus conventions: base units ({@code _seconds}, {@code _bytes}), ratios
 * in 0..1 ({@code _ratio}), counters end in {@code _total} (the client appends it). Labels carry
 * bounded sets only (route, model, status, reason, device, tier, action, peer).
 *
 * <p>Who feeds what: the node itself feeds the cluster, peer round-trip, CPU, JVM and GPU series
 * (see {@link NodeMetrics}); the serving path (gateway, admission, workers) feeds the request,
 * refusal, latency, queue, batch, token, KV and model-load series; the cache tiers feed the {@code
 * sluice_cache_*} series and the capacity planner the {@code sluice_planner_*} series. A labelled
 * series appears in {@code /metrics} from its first update on.
 *
 * <p>Thread-safe: the Prometheus client's metric objects may be updated from any thread. Hot paths
 * should resolve a labelled child once (for example {@code timeToFirstToken.labelValues(model)})
 * and keep it, so no label lookup happens per token.
 */
public final class SluiceMetrics {

  // Bucket layouts (seconds unless noted). Chosen around the operators' SLOs: TTFT and queue wait
  // resolve tens of milliseconds up to a minute; inter-token latency resolves single milliseconds.
  static final double[] TTFT_BUCKETS = {
    0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2, 3, 5, 10, 20, 30, 60
  };
  static final double[] INTER_TOKEN_BUCKETS = {
    0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5
  };
  static final double[] REQUEST_BUCKETS = {
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600
  };
  static final double[] QUEUE_WAIT_BUCKETS = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60
  };
  static final double[] BATCH_SIZE_BUCKETS = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

  private final PrometheusRegistry registry;

  // ---- serving: fed by the gateway / admission / workers --------------------------------------

  /**
   * Completion requests answered by a gateway, by API route, model and status (including refusals):
   * the HTTP status, or for a stream that began, the status of the error event that ended it (499:
   * the client went away). Model {@code none}: refused before the model was known to be served.
   */
  public final Counter requests;

  /**
   * Requests answered with an error before any output, by reason: the {@code X-Sluice-Reason} value
   * (e.g. {@code queue_full}, {@code no_worker}, {@code tenant_quota}, {@code
   * deadline_unmeetable}).
   */
  public final Counter refusals;

  /** Time from admission at the gateway to the first generated chunk, in seconds. */
  public final Histogram timeToFirstToken;

  /**
   * Time between consecutive generated tokens of one request as the gateway streams them, in
   * seconds (a chunk of n tokens: its gap since the previous chunk, divided by n, n times).
   */
  public final Histogram interTokenLatency;

  /** End-to-end request latency as the client sees it, in seconds. */
  public final Histogram requestDuration;

  /**
   * Time from admission at the gateway until a worker accepted the request, in seconds: the
   * worker's entry queue, tokenization and compute window (the request was handed to the device).
   * It excludes the wait for a sequence slot inside the engine and the prefill itself (those are in
   * the time to first token).
   */
  public final Histogram queueWait;

  /** Requests waiting on this node's workers (not yet running on a device), by model. */
  public final Gauge queuedRequests;

  /** Prompt tokens not yet prefilled on this node's workers, by model. */
  public final Gauge queuedTokens;

  /** Sequences in one forward step of a device (continuous batching), per step. */
  public final Histogram batchSize;

  /** Prompt tokens processed (prefill); tokens/s is {@code rate()} of this. */
  public final Counter promptTokens;

  /** Tokens generated and sent to clients; tokens/s is {@code rate()} of this. */
  public final Counter generatedTokens;

  /** KV-cache blocks in use on a device. */
  public final Gauge kvBlocksUsed;

  /** KV-cache blocks free on a device. */
  public final Gauge kvBlocksFree;

  /**
   * A device's measured rate in tokens per second of busy time, by phase (prefill, decode): the
   * rate its worker reports to the gateways' admission model.
   */
  public final Gauge deviceTokensPerSecond;

  /** Seconds a device spent in forward steps (its utilisation as a rate), by device. */
  public final Counter deviceBusySeconds;

  /**
   * 1 when this JVM's CPU workers run the native VNNI kernels for quantized weights, 0 when they
   * run the Vector API kernels (no library, an older CPU, or switched off); set once at start.
   */
  public final Gauge cpuNativeKernels;

  /** Duration of the last load of a model onto this node, in seconds. */
  public final Gauge modelLoadDuration;

  // ---- cache tiers: fed by the L1/L2/L3 caches
  // ---------------------------------------------------

  /** Cache lookups by tier (l1, l2, l3), entry kind (response, kv_block) and result (hit, miss). */
  public final Counter cacheLookups;

  /** Bytes held by a cache tier. */
  public final Gauge cacheSize;

  /** Entries evicted from a cache tier. */
  public final Counter cacheEvictions;

  // ---- capacity planner: fed by the scheduler singleton -----------------------------------------

  /** Planner decisions by action (scale_up_l1, scale_up_l2, scale_up_l3, hold, scale_down). */
  public final Counter plannerDecisions;

  /** Demand the planner forecasts over its horizon, in tokens per second. */
  public final Gauge plannerForecastTokensPerSecond;

  /** Demand the planner observes now, in tokens per second. */
  public final Gauge plannerDemandTokensPerSecond;

  /** Serving capacity provisioned per tier (private, reserved, on_demand), in replicas. */
  public final Gauge plannerCapacityReplicas;

  /** Planning intervals in which the queue-wait SLO was violated. */
  public final Counter plannerSloViolations;

  // ---- node: fed by NodeMetrics itself
  // -----------------------------------------------------------

  /** Latest round-trip time of a ping to a peer node, in seconds. */
  public final Gauge peerRoundTrip;

  /** Pings to a peer node that got no answer within the ping timeout. */
  public final Counter peerPingTimeouts;

  /** Creates the metric objects and registers them in {@code registry}. */
  public SluiceMetrics(PrometheusRegistry registry) {
    this.registry = registry;
    requests =
        Counter.builder()
            .name("sluice_requests_total")
            .help(
                "Completion requests answered, by API route, model and status (HTTP status; for a"
                    + " stream that began, its error event's status; 499: client went away).")
            .labelNames("route", "model", "status")
            .register(registry);
    refusals =
        Counter.builder()
            .name("sluice_refusals_total")
            .help("Requests refused before any output, by reason (the X-Sluice-Reason header).")
            .labelNames("reason")
            .register(registry);
    timeToFirstToken =
        Histogram.builder()
            .name("sluice_time_to_first_token_seconds")
            .help("Time from admission at the gateway to the first generated chunk.")
            .labelNames("model")
            .classicOnly()
            .classicUpperBounds(TTFT_BUCKETS)
            .register(registry);
    interTokenLatency =
        Histogram.builder()
            .name("sluice_inter_token_latency_seconds")
            .help(
                "Time between consecutive generated tokens of one request, at the gateway (a"
                    + " chunk's gap spread over its tokens).")
            .labelNames("model")
            .classicOnly()
            .classicUpperBounds(INTER_TOKEN_BUCKETS)
            .register(registry);
    requestDuration =
        Histogram.builder()
            .name("sluice_request_duration_seconds")
            .help("End-to-end request latency, from arrival to the last byte sent.")
            .labelNames("route", "model")
            .classicOnly()
            .classicUpperBounds(REQUEST_BUCKETS)
            .register(registry);
    queueWait =
        Histogram.builder()
            .name("sluice_queue_wait_seconds")
            .help(
                "Time from admission at the gateway until a worker handed the request to its"
                    + " device (entry queue, tokenization, compute window; excludes the wait for"
                    + " a sequence slot and prefill).")
            .labelNames("model")
            .classicOnly()
            .classicUpperBounds(QUEUE_WAIT_BUCKETS)
            .register(registry);
    deviceTokensPerSecond =
        Gauge.builder()
            .name("sluice_device_tokens_per_second")
            .help(
                "A device's measured tokens per second of busy time, by phase (prefill, decode):"
                    + " the rate its worker reports to admission.")
            .labelNames("device", "phase")
            .register(registry);
    deviceBusySeconds =
        Counter.builder()
            .name("sluice_device_busy_seconds")
            .help(
                "Seconds a device spent in forward steps (prefill or decode); its rate is the"
                    + " device's utilisation, its share of wall time the engine was not idle.")
            .labelNames("device")
            .register(registry);
    cpuNativeKernels =
        Gauge.builder()
            .name("sluice_cpu_native_kernels")
            .help(
                "1 when CPU workers run the native AVX-512 VNNI kernels for quantized weights, 0"
                    + " when they run the Vector API kernels (see the worker's start-up log).")
            .register(registry);
    cpuNativeKernels.set(NativeKernels.available() ? 1 : 0);
    queuedRequests =
        Gauge.builder()
            .name("sluice_queued_requests")
            .help("Requests waiting on this node's workers, not yet running on a device.")
            .labelNames("model")
            .register(registry);
    queuedTokens =
        Gauge.builder()
            .name("sluice_queued_tokens")
            .help("Prompt tokens waiting on this node's workers, not yet prefilled.")
            .labelNames("model")
            .register(registry);
    batchSize =
        Histogram.builder()
            .name("sluice_batch_size")
            .help("Sequences in one forward step of a device.")
            .labelNames("device")
            .classicOnly()
            .classicUpperBounds(BATCH_SIZE_BUCKETS)
            .register(registry);
    promptTokens =
        Counter.builder()
            .name("sluice_prompt_tokens_total")
            .help("Prompt tokens written to the KV cache (prefill).")
            .labelNames("model")
            .register(registry);
    generatedTokens =
        Counter.builder()
            .name("sluice_generated_tokens_total")
            .help("Tokens generated and sent towards clients.")
            .labelNames("model")
            .register(registry);
    kvBlocksUsed =
        Gauge.builder()
            .name("sluice_kv_blocks_used")
            .help("KV-cache blocks in use on a device.")
            .labelNames("device")
            .register(registry);
    kvBlocksFree =
        Gauge.builder()
            .name("sluice_kv_blocks_free")
            .help("KV-cache blocks free on a device.")
            .labelNames("device")
            .register(registry);
    modelLoadDuration =
        Gauge.builder()
            .name("sluice_model_load_duration_seconds")
            .help("Duration of the last load of a model onto this node.")
            .labelNames("model")
            .register(registry);
    cacheLookups =
        Counter.builder()
            .name("sluice_cache_lookups_total")
            .help("Cache lookups by tier, entry kind and result (hit or miss).")
            .labelNames("tier", "kind", "result")
            .register(registry);
    cacheSize =
        Gauge.builder()
            .name("sluice_cache_size_bytes")
            .help("Bytes held by a cache tier.")
            .labelNames("tier")
            .register(registry);
    cacheEvictions =
        Counter.builder()
            .name("sluice_cache_evictions_total")
            .help("Entries evicted from a cache tier.")
            .labelNames("tier")
            .register(registry);
    plannerDecisions =
        Counter.builder()
            .name("sluice_planner_decisions_total")
            .help("Capacity planner decisions by action.")
            .labelNames("action")
            .register(registry);
    plannerForecastTokensPerSecond =
        Gauge.builder()
            .name("sluice_planner_forecast_tokens_per_second")
            .help("Demand forecast over the planner's horizon, in tokens per second.")
            .register(registry);
    plannerDemandTokensPerSecond =
        Gauge.builder()
            .name("sluice_planner_demand_tokens_per_second")
            .help("Demand observed by the planner, in tokens per second.")
            .register(registry);
    plannerCapacityReplicas =
        Gauge.builder()
            .name("sluice_planner_capacity_replicas")
            .help("Serving capacity provisioned per tier, in replicas.")
            .labelNames("tier")
            .register(registry);
    plannerSloViolations =
        Counter.builder()
            .name("sluice_planner_slo_violations_total")
            .help("Planning intervals in which the queue-wait SLO was violated.")
            .register(registry);
    peerRoundTrip =
        Gauge.builder()
            .name("sluice_peer_round_trip_seconds")
            .help(
                "Latest round-trip time of a ping to a peer node (while a ping is unanswered,"
                    + " its age so far).")
            .labelNames("peer")
            .register(registry);
    peerPingTimeouts =
        Counter.builder()
            .name("sluice_peer_ping_timeouts_total")
            .help("Pings to a peer node that got no answer within the ping timeout.")
            .labelNames("peer")
            .register(registry);
  }

  /** The registry these metrics are registered in (the node's, served at {@code /metrics}). */
  public PrometheusRegistry registry() {
    return registry;
  }

  /**
   * Metric families that are defined but not yet updated by any code in this build (the cache tiers
   * and the planner have not landed), so that the dashboards that query them are honest about it.
   * Remove a name when the code that feeds it lands.
   */
  public static final List<String> NOT_YET_FED =
      List.of(
          "sluice_cache_lookups_total",
          "sluice_cache_size_bytes",
          "sluice_cache_evictions_total",
          "sluice_planner_decisions_total",
          "sluice_planner_forecast_tokens_per_second",
          "sluice_planner_demand_tokens_per_second",
          "sluice_planner_capacity_replicas",
          "sluice_planner_slo_violations_total");
}
