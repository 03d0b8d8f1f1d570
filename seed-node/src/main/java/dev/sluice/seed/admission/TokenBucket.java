package dev.sluice.seed.admission;

/**
 * A token bucket measured in model tokens (prompt + max completion tokens of a request). Not
 * thread-safe: {@link AdmissionController} guards it. Time is passed in, so tests need no clock.
 */
final class TokenBucket {
  private final double ratePerSecond;
  private final double capacity;
  private double level;
  private long lastNanos;

  TokenBucket(double ratePerSecond, double capacity, long nowNanos) {
    this.ratePerSecond = ratePerSecond;
    this.capacity = capacity;
    this.level = capacity;
    this.lastNanos = nowNanos;
  }

  private void refill(long nowNanos) {
    if (nowNanos > lastNanos) {
      level = Math.min(capacity, level + (nowNanos - lastNanos) / 1e9 * ratePerSecond);
      lastNanos = nowNanos;
    }
  }

  /**
   * Takes {@code tokens} if available (returns 0); otherwise returns the seconds until they would
   * be, or infinity when {@code tokens} exceeds the bucket's size.
   */
  double tryTake(double tokens, long nowNanos) {
    refill(nowNanos);
    if (tokens > capacity) {
      return Double.POSITIVE_INFINITY; // never satisfiable: bigger than the whole bucket
    }
    if (level >= tokens) {
      level -= tokens;
      return 0;
    }
    return (tokens - level) / ratePerSecond;
  }

  /** Gives back tokens that were charged but not used (a refused or short request). */
  void refund(double tokens, long nowNanos) {
    refill(nowNanos);
    level = Math.min(capacity, level + tokens);
  }

  double level() {
    return level;
  }
}
