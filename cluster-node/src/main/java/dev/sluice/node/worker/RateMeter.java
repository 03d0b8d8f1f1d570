package dev.sluice.node.worker;

/**
 * A device's processing rate in tokens per second of busy time, for the admission model: fed the
 * device's cumulative counters (tokens processed, nanoseconds spent processing them), it turns each
 * new sample of at least {@code minSampleNanos} busy time into a rate and smooths it (EWMA, weight
 * one half).
 *
 * <p>Why busy time and not wall-clock time: the gateway predicts how long a new request will take
 * from this rate, so it must say what the device can do, not what it did. A rate over wall-clock
 * time decays towards zero while the device idles; the next request then looks unmeetable and is
 * refused, so the device stays idle and the rate keeps decaying. An idle interval therefore leaves
 * the rate as it was, and a short burst (one JIT-cold step) waits until enough busy time has
 * accumulated to be a fair sample. Not thread-safe: one owner (the worker actor).
 */
final class RateMeter {
  private final long minSampleNanos;
  private long lastTokens;
  private long lastBusyNanos;
  private double rate;

  RateMeter(long minSampleNanos) {
    this.minSampleNanos = minSampleNanos;
  }

  /**
   * Takes the device's cumulative counters; returns the smoothed rate (0 until a first sample).
   *
   * @param tokens tokens processed so far
   * @param busyNanos nanoseconds spent processing them so far
   */
  double update(long tokens, long busyNanos) {
    long busy = busyNanos - lastBusyNanos;
    long n = tokens - lastTokens;
    if (busy < 0 || n < 0) {
      // The counters restarted (a new device loop): start over from them.
      lastTokens = tokens;
      lastBusyNanos = busyNanos;
      return rate;
    }
    if (busy >= minSampleNanos && n > 0) {
      double sample = n / (busy / 1e9);
      rate = rate == 0 ? sample : 0.5 * rate + 0.5 * sample;
      lastTokens = tokens;
      lastBusyNanos = busyNanos;
    }
    return rate;
  }

  /** The current smoothed rate in tokens per busy second (0 until a first sample). */
  double rate() {
    return rate;
  }
}
