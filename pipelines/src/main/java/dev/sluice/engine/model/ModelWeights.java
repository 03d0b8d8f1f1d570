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
 */
public record ModelWeights(
    ModelConfig config,
    GgufTensor tokenEmbedding,
    List<LayerWeights> layers,
    GgufTensor outputNorm,
    GgufTensor output) {}
