package dev.sluice.engine;

import dev.sluice.engine.sampling.Sampler;
import dev.sluice.engine.sampling.SamplerState;
import dev.sluice.engine.sampling.SamplingParams;
import dev.sluice.engine.sampling.TokenLogprobs;

/**
 * Chooses a sequence's next token from its logits. One instance per sequence (it may keep state,
 * such as a seeded random generator), called on the engine's owner thread.
 */
@FunctionalInterface
public interface TokenSampler {

  /**
   * @param logits the row {@code logits[off .. off + vocab)}; the sampler may modify it in place
   * @param tokens the sequence so far, prompt then generated tokens, {@code tokens[0 .. len)}
   * @return the chosen token id in {@code [0, vocab)}
   */
  int sample(float[] logits, int off, int vocab, int[] tokens, int len);

  /** Greedy decoding: the highest logit, the lowest id on ties (as llama.cpp). */
  static TokenSampler greedy() {
    return (logits, off, vocab, tokens, len) -> {
      int best = 0;
      for (int i = 1; i < vocab; i++) {
        if (logits[off + i] > logits[off + best]) {
          best = i;
        }
      }
      return best;
    };
  }

  /**
   * One sequence's sampling with the {@link Sampler} of the owner thread (shared by its sequences),
   * the sequence's parameters and state. When {@code logprobs} is given and {@code
   * params.logprobs() >= 0}, it holds the chosen token's log-probabilities when the sink's {@link
   * TokenSink#onToken} runs (same thread, right after sampling).
   */
  static TokenSampler of(
      Sampler sampler, SamplingParams params, SamplerState state, TokenLogprobs logprobs) {
    return (logits, off, vocab, tokens, len) ->
        sampler.sample(logits, off, params, state, logprobs);
  }
}
