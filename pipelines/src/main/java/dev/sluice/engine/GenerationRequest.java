package dev.sluice.engine;

import java.util.Arrays;

/**
 * One generation: a tokenized prompt and how to continue it.
 *
 * @param prompt token ids (BOS included if the model wants one); at least one token
 * @param maxTokens the most tokens to generate (stop tokens not counted as output)
 * @param stopTokens ids that end the sequence when sampled (e.g. EOS, end-of-turn)
 * @param sampler chooses each next token; one instance per request
 * @param sink receives the tokens and the end
 */
public record GenerationRequest(
    int[] prompt, int maxTokens, int[] stopTokens, TokenSampler sampler, TokenSink sink) {
  public GenerationRequest {
    if (prompt == null || prompt.length == 0) {
      throw new IllegalArgumentException("prompt must hold at least one token");
    }
    if (maxTokens < 0) {
      throw new IllegalArgumentException("maxTokens must be >= 0, got " + maxTokens);
    }
    if (sampler == null || sink == null) {
      throw new IllegalArgumentException("sampler and sink are required");
    }
    prompt = prompt.clone();
    stopTokens = stopTokens == null ? new int[0] : stopTokens.clone();
    Arrays.sort(stopTokens);
  }

  boolean isStopToken(int token) {
    return Arrays.binarySearch(stopTokens, token) >= 0;
  }
}
