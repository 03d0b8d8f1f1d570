package dev.sluice.seed.gateway;

import dev.sluice.node.metrics.SluiceMetrics;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.http.javadsl.model.HttpResponse;

/**
 * The gateway's request series: requests by route, model and status, refusals by reason, time to
 * first token, inter-token latency, end-to-end duration and queue wait. One {@link Exchange} per
 * HTTP request records its outcome exactly once, whichever way it ends; the per-model latency
 * children are resolved once per model ({@link ModelSeries}) so a session's per-chunk updates are
 * plain histogram observations.
 *
 * <p>Label values stay bounded: the model label is the requested model only once the pool knows it
 * ({@link #NO_MODEL} before that, so arbitrary names sent by clients never become series), the
 * route is one of the two completion paths, the status a HTTP status code and the reason one of the
 * gateway's {@code X-Sluice-Reason} values.
 */
public final class GatewayMetrics {

  /** The model label of a request refused before its model was known to be served. */
  public static final String NO_MODEL = "none";

  /** The route label of {@code POST /v1/chat/completions}. */
  public static final String CHAT_ROUTE = "/v1/chat/completions";

  /** The route label of {@code POST /v1/completions}. */
  public static final String COMPLETIONS_ROUTE = "/v1/completions";

  /**
   * The status recorded for a stream the client closed before it ended (nginx's convention; the
   * HTTP status sent was 200).
   */
  public static final int CLIENT_CLOSED = 499;

  private final SluiceMetrics metrics;
  private final Map<String, ModelSeries> models = new ConcurrentHashMap<>();

  public GatewayMetrics(SluiceMetrics metrics) {
    this.metrics = metrics;
  }

  /** The metric objects (tests read them). */
  public SluiceMetrics metrics() {
    return metrics;
  }

  /** Starts recording one completion request that arrived now. */
  Exchange begin(boolean chat) {
    return new Exchange(chat ? CHAT_ROUTE : COMPLETIONS_ROUTE, System.nanoTime());
  }

  /** The per-model latency series, resolved once per model. */
  ModelSeries model(String model) {
    return models.computeIfAbsent(model, m -> new ModelSeries(metrics, m));
  }

  /** A model's latency histograms, bound to its label value. */
  static final class ModelSeries {
    final DistributionDataPoint timeToFirstToken;
    final DistributionDataPoint interTokenLatency;
    final DistributionDataPoint queueWait;

    ModelSeries(SluiceMetrics m, String model) {
      timeToFirstToken = m.timeToFirstToken.labelValues(model);
      interTokenLatency = m.interTokenLatency.labelValues(model);
      queueWait = m.queueWait.labelValues(model);
    }
  }

  /** One HTTP request's outcome, recorded once (the first of its possible ends wins). */
  final class Exchange {
    private final String route;
    private final long startNanos;
    private final AtomicBoolean recorded = new AtomicBoolean();
    private volatile String model = NO_MODEL;
    private volatile boolean streamed;
    private volatile int streamStatus;
    private volatile boolean produced;

    private Exchange(String route, long startNanos) {
      this.route = route;
      this.startNanos = startNanos;
    }

    /** The request names a model the pool knows: from here on it is the model label. */
    void model(String name) {
      model = name;
    }

    /** The response is a stream: it is recorded when the stream ends, not when headers go out. */
    void streaming() {
      streamed = true;
    }

    /** The stream carried its normal end ({@code 200}) or an error event (the error's status). */
    void streamEnd(int status) {
      streamStatus = status;
    }

    /** Generated text reached this request: an error after it is no refusal. */
    void produced() {
      produced = true;
    }

    /** A whole (non-streamed) response is being sent; passes it through. */
    HttpResponse respond(HttpResponse r) {
      if (!streamed) {
        Optional<String> reason =
            produced ? Optional.empty() : r.getHeader(HttpApi.REASON_HEADER).map(h -> h.value());
        record(r.status().intValue(), reason);
      }
      return r;
    }

    /** The stream ended; without a normal end or error event the client went away first. */
    void streamEnded() {
      int s = streamStatus;
      record(s == 0 ? CLIENT_CLOSED : s, Optional.empty());
    }

    private void record(int status, Optional<String> refusalReason) {
      if (!recorded.compareAndSet(false, true)) {
        return;
      }
      String m = model;
      metrics.requests.labelValues(route, m, Integer.toString(status)).inc();
      metrics.requestDuration.labelValues(route, m).observe((System.nanoTime() - startNanos) / 1e9);
      refusalReason.ifPresent(reason -> metrics.refusals.labelValues(reason).inc());
    }
  }
}
