package dev.sluice.engine.model;

import dev.sluice.engine.gguf.GgufTensor;
import java.util.List;

/**
 * All tensors of a model, as views of its memory-mapped GGUF file. A backend uploads them once (the
 * CPU backends read them in place).
 *
 * @param tokenEmbedding (vocabSize, dim)
 * @param outputNorm (dim) F32
 * @param output (vocabSize, dim); the same tensor as {@code tokenEmbedding} when tied
 * @param ropeFreqs (ropeDim / 2) F32 per-frequency divisors of the rotary angles (Llama 3.1's
 *     {@code rope_freqs.weight}: angle {@code i} is {@code pos * theta^(-2i/ropeDim) /
 *     ropeFreqs[i]}), or null when the model has none. A backend that does not apply them must
 *     refuse such weights.
 */
public record ModelWeights(
    ModelConfig config,
    GgufTensor tokenEmbedding,
    List<LayerWeights> layers,
    GgufTensor outputNorm,
    GgufTensor output,
    GgufTensor ropeFreqs) {

  /** Weights without rope frequency factors (the original five-field form). */
  public ModelWeights(
      ModelConfig config,
      GgufTensor tokenEmbedding,
      List<LayerWeights> layers,
      GgufTensor outputNorm,
      GgufTensor output) {
    this(config, tokenEmbedding, layers, outputNorm, output, null);
  }
}
