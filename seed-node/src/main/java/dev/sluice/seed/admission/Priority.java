package dev.sluice.seed.admission;

import java.util.Locale;

/**
 * A tenant's priority class. Each class may fill only its share of a worker's token queue, so as
 * load rises the lowest class is refused first ({@code sheddable} at 60% of the bound, {@code
 * standard} at 85%, {@code critical} up to the full bound; the same shares scale {@code
 * max-queue-delay}), and the worker receives the class as {@code Generate.priority} (0 = most
 * important) when it must shed queued work.
 */
public enum Priority {
  CRITICAL(1.0),
  STANDARD(0.85),
  SHEDDABLE(0.6);

  private final double queueShare;

  Priority(double queueShare) {
    this.queueShare = queueShare;
  }

  /**
   * The fraction of a worker's queue bound (in tokens) this class may fill, and of {@code
   * max-queue-delay} it may wait.
   */
  public double queueShare() {
    return queueShare;
  }

  /** {@code critical}, {@code standard} or {@code sheddable} (case-insensitive). */
  public static Priority parse(String s) {
    return valueOf(s.trim().toUpperCase(Locale.ROOT));
  }

  /** The lower-case name used in configuration and headers. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}
