package dev.sluice.engine.sampling;

import java.util.Arrays;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The per-sequence part of sampling: the random stream (SplitMix64, fully specified so that the
 * same seed gives the same tokens on any JVM) and the tokens seen so far, which the penalties
 * count. One per sequence, owned by whoever drives that sequence; not thread-safe.
 */
public final class SamplerState {
  private final long seed;
  private long rng;
  private int[] history;
  private int size;
  private int promptEnd; // history[0 .. promptEnd) are prompt tokens

  /** A state seeded with {@code params.seed()}, or a random seed when it is {@code null}. */
  public SamplerState(SamplingParams params) {
    this(params.seed() != null ? params.seed() : ThreadLocalRandom.current().nextLong());
  }

  public SamplerState(long seed) {
    this.seed = seed;
    this.rng = seed;
    this.history = new int[64];
  }

  /** The seed in use (report it so that a request can be replayed). */
  public long seed() {
    return seed;
  }

  /**
   * Records prompt tokens: the repetition penalty counts them, presence and frequency penalties do
   * not (OpenAI's and vLLM's definitions). Call before the first {@link Sampler#sample}.
   */
  public void acceptPrompt(int[] tokens, int off, int len) {
    if (promptEnd != size) {
      throw new IllegalStateException("prompt tokens must come before generated ones");
    }
    acceptAll(tokens, off, len);
    promptEnd = size;
  }

  /**
   * Records a generated token (for the penalties). {@link Sampler#sample} records the tokens it
   * picks itself.
   */
  public void accept(int token) {
    if (size == history.length) {
      history = Arrays.copyOf(history, size * 2);
    }
    history[size++] = token;
  }

  /** Records {@code tokens[off .. off+len)}. */
  public void acceptAll(int[] tokens, int off, int len) {
    for (int i = 0; i < len; i++) {
      accept(tokens[off + i]);
    }
  }

  /** Tokens seen so far. */
  public int size() {
    return size;
  }

  int[] history() {
    return history;
  }

  /** How many of the recorded tokens are prompt tokens. */
  public int promptLength() {
    return promptEnd;
  }

  /** The next uniform double in [0, 1). */
  double nextDouble() {
    return (nextLong() >>> 11) * 0x1.0p-53;
  }

  private long nextLong() {
    long z = (rng += 0x9E3779B97F4A7C15L);
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
