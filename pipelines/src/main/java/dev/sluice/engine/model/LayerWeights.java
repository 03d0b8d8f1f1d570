package dev.sluice.engine.model;

import dev.sluice.engine.gguf.GgufTensor;

/**
 * The tensors of one transformer block, as stored in the file (any supported type). Matrices are
 * (out x in) in ggml order, i.e. {@code shape = {in, out}}. Biases are null unless the architecture
 * has them.
 */
public record LayerWeights(
    GgufTensor attnNorm, // (dim) F32
    GgufTensor wq, // (qDim, dim)
    GgufTensor wk, // (kvDim, dim)
    GgufTensor wv, // (kvDim, dim)
    GgufTensor wo, // (dim, qDim)
    GgufTensor bq, // (qDim) F32 or null
    GgufTensor bk, // (kvDim) F32 or null
    GgufTensor bv, // (kvDim) F32 or null
    GgufTensor ffnNorm, // (dim) F32
    GgufTensor wGate, // (hiddenDim, dim)
    GgufTensor wUp, // (hiddenDim, dim)
    GgufTensor wDown // (dim, hiddenDim)
    ) {}
