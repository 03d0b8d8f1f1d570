package dev.sluice.engine.sampling;

import java.util.List;

/**
 * How to pick each next token of one sequence, validated on construction.
 *
 * <p>Bounds (the field names in messages are the OpenAI request names):
 *
 * <ul>
 *   <li>{@code temperature} in [0, 2]; 0 is greedy (argmax after penalties);
 *   <li>{@code topK} &ge; 0; 0 disables it;
 *   <li>{@code topP} in (0, 1]; 1 disables it;
 *   <li>{@code minP} in [0, 1]; 0 disables it (keeps tokens with p &ge; minP &middot; p_max);
 *   <li>{@code repetitionPenalty} in (0, 10]; 1 disables it (llama.cpp/CTRL rule: positive logits
 *       divided, negative multiplied);
 *   <li>{@code penaltyWindow} &ge; -1: how many of the last tokens the three penalties look at; -1
 *       all tokens seen (prompt tokens included if the caller feeds them), 0 none;
 *   <li>{@code presencePenalty}, {@code frequencyPenalty} in [-2, 2] (OpenAI's definition: minus
 *       {@code presence} once for a token seen, minus {@code frequency} per occurrence);
 *   <li>{@code seed}: {@code null} for a random one; the same seed gives the same tokens;
 *   <li>{@code maxTokens} &ge; 1 (the upper bound depends on the model's context: the engine checks
 *       it);
 *   <li>{@code stop}: at most 4 non-empty strings; the text before the first occurrence is
 *       returned, the stop string itself is not;
 *   <li>{@code stopTokenIds}: ids &ge; 0 (and below the vocabulary size, see {@link
 *       #validateFor(int)}); the model's end-of-generation tokens always stop;
 *   <li>{@code logprobs} in [-1, 20]: -1 none, n &ge; 0 the chosen token's log-probability and the
 *       n most likely tokens'.
 * </ul>
 */
public record SamplingParams(
    float temperature,
    int topK,
    float topP,
    float minP,
    float repetitionPenalty,
    int penaltyWindow,
    float presencePenalty,
    float frequencyPenalty,
    Long seed,
    int maxTokens,
    List<String> stop,
    List<Integer> stopTokenIds,
    int logprobs) {

  /** The most stop strings a request may carry (as OpenAI). */
  public static final int MAX_STOP_STRINGS = 4;

  /** The most alternatives {@code logprobs} may ask for (as OpenAI's {@code top_logprobs}). */
  public static final int MAX_LOGPROBS = 20;

  public SamplingParams {
    range("temperature", temperature, 0, 2, "between 0 and 2");
    if (topK < 0) {
      throw new SamplingParamsException("top_k", "top_k must be >= 0 (0 disables it), got " + topK);
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new SamplingParamsException("top_p", "top_p must be in (0, 1], got " + topP);
    }
    range("min_p", minP, 0, 1, "between 0 and 1");
    if (!(repetitionPenalty > 0 && repetitionPenalty <= 10)) {
      throw new SamplingParamsException(
          "repetition_penalty",
          "repetition_penalty must be in (0, 10] (1 disables it), got " + repetitionPenalty);
    }
    if (penaltyWindow < -1) {
      throw new SamplingParamsException(
          "penalty_window",
          "penalty_window must be >= -1 (-1: all tokens, 0: none), got " + penaltyWindow);
    }
    range("presence_penalty", presencePenalty, -2, 2, "between -2 and 2");
    range("frequency_penalty", frequencyPenalty, -2, 2, "between -2 and 2");
    if (maxTokens < 1) {
      throw new SamplingParamsException("max_tokens", "max_tokens must be >= 1, got " + maxTokens);
    }
    stop = stop == null ? List.of() : List.copyOf(stop);
    if (stop.size() > MAX_STOP_STRINGS) {
      throw new SamplingParamsException(
          "stop", "stop may hold at most " + MAX_STOP_STRINGS + " strings, got " + stop.size());
    }
    for (String s : stop) {
      if (s.isEmpty()) {
        throw new SamplingParamsException("stop", "stop strings must not be empty");
      }
    }
    stopTokenIds = stopTokenIds == null ? List.of() : List.copyOf(stopTokenIds);
    for (int id : stopTokenIds) {
      if (id < 0) {
        throw new SamplingParamsException(
            "stop_token_ids", "stop_token_ids must be >= 0, got " + id);
      }
    }
    if (logprobs < -1 || logprobs > MAX_LOGPROBS) {
      throw new SamplingParamsException(
          "logprobs",
          "logprobs must be between 0 and " + MAX_LOGPROBS + " (or -1 for none), got " + logprobs);
    }
  }

  private static void range(String name, float v, float lo, float hi, String what) {
    if (!(v >= lo && v <= hi)) { // also rejects NaN
      throw new SamplingParamsException(name, name + " must be " + what + ", got " + v);
    }
  }

  /** Checks the vocabulary-dependent bounds. */
  public SamplingParams validateFor(int vocabSize) {
    for (int id : stopTokenIds) {
      if (id >= vocabSize) {
        throw new SamplingParamsException(
            "stop_token_ids",
            "stop_token_ids: " + id + " is not below the vocabulary size " + vocabSize);
      }
    }
    return this;
  }

  /**
   * The ids that end the sequence: the model's end-of-generation tokens and {@link
   * #stopTokenIds()}, sorted, without duplicates.
   */
  public int[] stopTokens(int[] endOfGeneration) {
    return java.util.stream.IntStream.concat(
            java.util.Arrays.stream(endOfGeneration),
            stopTokenIds.stream().mapToInt(Integer::intValue))
        .sorted()
        .distinct()
        .toArray();
  }

  /** Whether tokens are chosen by argmax. */
  public boolean greedy() {
    return temperature == 0f;
  }

  /** Whether any of the three penalties is active. */
  public boolean hasPenalties() {
    return penaltyWindow != 0
        && (repetitionPenalty != 1f || presencePenalty != 0f || frequencyPenalty != 0f);
  }

  /** Greedy decoding of up to {@code maxTokens} tokens. */
  public static SamplingParams greedy(int maxTokens) {
    return builder().temperature(0).maxTokens(maxTokens).build();
  }

  public static Builder builder() {
    return new Builder();
  }

  /** A builder starting from the defaults (OpenAI's: temperature 1, no filters). */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.temperature = temperature;
    b.topK = topK;
    b.topP = topP;
    b.minP = minP;
    b.repetitionPenalty = repetitionPenalty;
    b.penaltyWindow = penaltyWindow;
    b.presencePenalty = presencePenalty;
    b.frequencyPenalty = frequencyPenalty;
    b.seed = seed;
    b.maxTokens = maxTokens;
    b.stop = stop;
    b.stopTokenIds = stopTokenIds;
    b.logprobs = logprobs;
    return b;
  }

  /** Builds {@link SamplingParams}; defaults: temperature 1, top-k/top-p/min-p/penalties off. */
  public static final class Builder {
    private float temperature = 1f;
    private int topK = 0;
    private float topP = 1f;
    private float minP = 0f;
    private float repetitionPenalty = 1f;
    private int penaltyWindow = -1;
    private float presencePenalty = 0f;
    private float frequencyPenalty = 0f;
    private Long seed;
    private int maxTokens = 256;
    private List<String> stop = List.of();
    private List<Integer> stopTokenIds = List.of();
    private int logprobs = -1;

    private Builder() {}

    public Builder temperature(float v) {
      temperature = v;
      return this;
    }

    public Builder topK(int v) {
      topK = v;
      return this;
    }

    public Builder topP(float v) {
      topP = v;
      return this;
    }

    public Builder minP(float v) {
      minP = v;
      return this;
    }

    public Builder repetitionPenalty(float v) {
      repetitionPenalty = v;
      return this;
    }

    public Builder penaltyWindow(int v) {
      penaltyWindow = v;
      return this;
    }

    public Builder presencePenalty(float v) {
      presencePenalty = v;
      return this;
    }

    public Builder frequencyPenalty(float v) {
      frequencyPenalty = v;
      return this;
    }

    public Builder seed(Long v) {
      seed = v;
      return this;
    }

    public Builder maxTokens(int v) {
      maxTokens = v;
      return this;
    }

    public Builder stop(List<String> v) {
      stop = v;
      return this;
    }

    public Builder stopTokenIds(List<Integer> v) {
      stopTokenIds = v;
      return this;
    }

    public Builder logprobs(int v) {
      logprobs = v;
      return this;
    }

    /**
     * @throws SamplingParamsException naming the first invalid parameter
     */
    public SamplingParams build() {
      return new SamplingParams(
          temperature,
          topK,
          topP,
          minP,
          repetitionPenalty,
          penaltyWindow,
          presencePenalty,
          frequencyPenalty,
          seed,
          maxTokens,
          stop,
          stopTokenIds,
          logprobs);
    }
  }
}
