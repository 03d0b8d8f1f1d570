package dev.sluice.engine.sampling;

/**
 * The sampling of one sequence: its parameters, its {@link SamplerState} (seeded random stream,
 * tokens seen) and the thread's shared {@link Sampler}. Its {@link #sample(float[], int, int,
 * int[], int)} has the engine's {@code TokenSampler} shape, so {@code new SequenceSampler(...)
 * ::sample} plugs into a generation request; it keeps the state in step with the sequence it is
 * given (prompt first, then each generated token).
 *
 * <p>Called on the owner thread of the shared Sampler only; one instance per sequence.
 */
public final class SequenceSampler {
  private final Sampler sampler;
  private final SamplingParams params;
  private final SamplerState state;
  private final TokenLogprobs logprobs;
  private final int promptLength;
  private boolean started;

  /**
   * @param sampler the calling thread's sampler (vocabulary-sized buffers, shared by sequences)
   * @param promptLength how many leading tokens of the sequence are prompt
   */
  public SequenceSampler(Sampler sampler, SamplingParams params, int promptLength) {
    this.sampler = sampler;
    this.params = params.validateFor(sampler.vocabSize());
    this.state = new SamplerState(params);
    this.logprobs = params.logprobs() >= 0 ? new TokenLogprobs() : null;
    this.promptLength = promptLength;
  }

  /**
   * Picks the next token from {@code logits[off .. off + vocab)} for the sequence {@code tokens[0
   * .. len)} (prompt, then the tokens generated so far).
   */
  public int sample(float[] logits, int off, int vocab, int[] tokens, int len) {
    if (vocab != sampler.vocabSize()) {
      throw new IllegalArgumentException(
          "logits row of " + vocab + " for a sampler of vocabulary " + sampler.vocabSize());
    }
    if (!started) {
      state.acceptPrompt(tokens, 0, Math.min(promptLength, len));
      started = true;
    }
    // Tokens the engine added that this sampler did not pick (e.g. forced ones).
    if (state.size() < len) {
      state.acceptAll(tokens, state.size(), len - state.size());
    }
    return sampler.sample(logits, off, params, state, logprobs);
  }

  public SamplingParams params() {
    return params;
  }

  /** The seed in use (reported so that a request can be replayed). */
  public long seed() {
    return state.seed();
  }

  /** The log-probabilities of the last sampled token, or {@code null} if not requested. */
  public TokenLogprobs lastLogprobs() {
    return logprobs;
  }
}
