package dev.sluice.seed.admission;

import dev.sluice.seed.routing.WorkerView;

/**
 * Predicts how long a request would take on a worker, from the worker's queue and measured rates.
 * Plain arithmetic, no state:
 *
 * <pre>
 *   prefill wait  = (queued prefill tokens + own prompt tokens) / prefill rate
 *   slot wait     = ceil(excess / max sequences) * (mean remaining decode tokens / per-sequence rate)
 *                   where excess = sequences already there + 1 - max sequences (if positive)
 *   own decode    = max_tokens / per-sequence rate at the resulting concurrency
 * </pre>
 *
 * The per-sequence rate is the aggregate decode rate divided by the running sequences (continuous
 * batching shares the device). A worker that has not measured a rate yet uses the configured
 * fallback, so a cold cluster admits rather than refuses blindly.
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
    double perSeq = decodeRate(w) / running;
    double slotWait = 0;
    int excess = w.requests() + 1 - slots;
    if (excess > 0) {
      double meanRemaining = (double) w.queuedDecodeTokens() / Math.max(1, w.requests());
      slotWait = Math.ceil((double) excess / slots) * (meanRemaining / perSeq);
    }
    return prefill + slotWait + maxTokens / perSeq;
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
