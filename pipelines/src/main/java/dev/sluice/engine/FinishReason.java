package dev.sluice.engine;

/** Why a sequence ended. */
public enum FinishReason {
  /** A stop token was sampled, or the sink asked to stop (a stop string). */
  STOP,
  /** The request's token limit or the sequence's context length was reached. */
  LENGTH,
  /** {@link BatchEngine#cancel} was called. */
  CANCELLED,
  /** The forward pass, the sampler or the sink failed for this sequence. */
  ERROR
}
