package dev.sluice.seed.admission;

import dev.sluice.seed.routing.WorkerView;

/**
 * Predicts how long a request would take on a worker, from the worker's queue and measured rates.
 * Plain arithmetic, no state:
 *
 * <pre>
 *   prefill wait  = (queued prefill tokens + own prompt tokens) / prefill rate
 *   queue drain   = queued decode tokens (max_tokens of everything ahead) / aggregate decode rate
 *   own decode    = max_tokens / (aggregate decode rate / running sequences, ours included)
 * </pre>
 *
 * A first model (mean remaining tokens per slot turnover) under-predicted at 3x load: continuous
 * batching shares the device, so sequences admitted later slow the earlier ones down; draining the
 * whole queue at the aggregate rate is the honest bound. A worker that has not measured a rate yet
 * uses the configured fallback, so a cold cluster admits rather than refuses blindly.
 */
public final class QueueModel {
  private final double fallbackPrefillRate;
  private final double fallbackDecodeRate;

  public QueueModel(double fallbackPrefillRate, double fallbackDecodeRate) {
    this.fallbackPrefillRate = fallbackPrefillRate;
    this.fallbackDecodeRate = fallbackDecodeRate;
  }

  double prefillRate(WorkerView w) {
    return w.prefillTokensPerSecond() > 0 ? w.prefillTokensPerSecond() : fallbackPrefillRate;
  }

  double decodeRate(WorkerView w) {
    return w.decodeTokensPerSecond() > 0 ? w.decodeTokensPerSecond() : fallbackDecodeRate;
  }

  /** Predicted seconds from now until a new request of the given size completes on {@code w}. */
  public double predictedSeconds(WorkerView w, long promptTokens, long maxTokens) {
    double prefill = (w.queuedPrefillTokens() + promptTokens) / prefillRate(w);
    int slots = Math.max(1, w.maxSequences());
    int running = Math.min(slots, w.requests() + 1);
    double decode = decodeRate(w);
    // The work already there drains at the device's full rate whatever the order (continuous
    // batching keeps it busy); our own tokens are then decoded at the shared per-sequence rate,
    // because the sequences running beside ours share the device with it. This bounds the
    // completion of every admitted request, also when later admissions join the batch.
    return prefill + w.queuedDecodeTokens() / decode + maxTokens / (decode / running);
  }

  /**
   * Predicted seconds from now until a new request would start on {@code w} (its wait, not its
   * service): the prompts queued ahead of it, and, when every decode slot is taken, the slot
   * turnovers ahead of it. A continuous-batching device frees a slot every {@code L / D} seconds on
   * average (L the tokens a sequence still has to generate, D the aggregate decode rate); L is
   * taken as the mean of the queued completion tokens over the requests on the worker. A worker
   * with free slots predicts no slot wait however long its running generations are (all its work is
   * counted only in {@link #predictedSeconds}): a new request joins the batch at once.
   */
  public double startSeconds(WorkerView w) {
    double prefill = w.queuedPrefillTokens() / prefillRate(w);
    int ahead = w.requests() + 1 - Math.max(1, w.maxSequences());
    if (ahead <= 0) {
      return prefill;
    }
    double meanRemaining = (double) w.queuedDecodeTokens() / w.requests();
    return prefill + ahead * meanRemaining / decodeRate(w);
  }

  /**
   * Seconds until the worker's queue has drained enough for a prediction of {@code predicted} to
   * fit {@code budget}: the excess work, drained at the worker's full rates.
   */
  public double secondsUntilFits(double predicted, double budget) {
    return Math.max(0, predicted - budget);
  }

  /**
   * Seconds until {@code excessTokens} of outstanding work have been processed by {@code w}
   * (decode-bound: the slower of the two rates dominates a mixed queue).
   */
  public double secondsToDrain(WorkerView w, long excessTokens) {
    return excessTokens / Math.min(prefillRate(w), decodeRate(w));
  }
}
