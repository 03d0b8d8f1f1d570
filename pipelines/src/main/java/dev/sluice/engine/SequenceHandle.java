package dev.sluice.engine;

import java.util.Arrays;

/**
 * A submitted sequence as the caller sees it: its id, progress and outcome. Read on the engine's
 * owner thread (or after it has finished).
 */
public final class SequenceHandle {
  private final long id;
  private final int promptLength;
  int[] tokens; // prompt then generated, [0, length)
  int length;
  int cached; // positions whose keys and values are in the KV cache
  int[] blocks; // KV block ids in position order
  int numBlocks;
  FinishReason finishReason;
  final GenerationRequest request;

  SequenceHandle(long id, GenerationRequest request, int capacity) {
    this.id = id;
    this.request = request;
    this.promptLength = request.prompt().length;
    this.tokens = Arrays.copyOf(request.prompt(), capacity);
    this.length = promptLength;
  }

  public long id() {
    return id;
  }

  public int promptLength() {
    return promptLength;
  }

  /** Tokens generated so far. */
  public int generated() {
    return length - promptLength;
  }

  /** A copy of the generated tokens. */
  public int[] outputTokens() {
    return Arrays.copyOfRange(tokens, promptLength, length);
  }

  /** True while the prompt has not been fully written to the KV cache. */
  public boolean prefilling() {
    return cached < promptLength;
  }

  public boolean isDone() {
    return finishReason != null;
  }

  /** Why it ended, or null while it runs or waits. */
  public FinishReason finishReason() {
    return finishReason;
  }

  /** KV blocks it holds now (0 once finished). */
  public int blocksHeld() {
    return numBlocks;
  }

  @Override
  public String toString() {
    return "Sequence[" + id + ", prompt " + promptLength + ", generated " + generated() + "]";
  }
}
