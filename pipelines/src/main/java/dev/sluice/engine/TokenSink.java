package dev.sluice.engine;

/**
 * Receives a sequence's output as it is produced, on the engine's owner thread; keep it quick (hand
 * off to a queue or stream). The Pekko Streams pipeline of the workers implements it.
 */
public interface TokenSink {

  /**
   * A new token (stop tokens are not delivered). Return {@code false} to finish the sequence now
   * with {@link FinishReason#STOP}, e.g. when a stop string has matched the detokenized text.
   */
  boolean onToken(SequenceHandle seq, int token);

  /**
   * The sequence is over and its KV blocks are free. Called exactly once per submitted request.
   *
   * @param error the cause when {@code reason} is {@link FinishReason#ERROR}, else null
   */
  void onFinish(SequenceHandle seq, FinishReason reason, Throwable error);
}
