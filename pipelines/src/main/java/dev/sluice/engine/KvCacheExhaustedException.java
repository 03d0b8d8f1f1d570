package dev.sluice.engine;

/**
 * Thrown when a {@link KvBlockPool} has no free block left. An expected, recoverable condition:
 * callers (the batch engine, admission control) wait for sequences to finish or shed work.
 */
public final class KvCacheExhaustedException extends IllegalStateException {
  private static final long serialVersionUID = 1L;

  public KvCacheExhaustedException(String message) {
    super(message);
  }
}
