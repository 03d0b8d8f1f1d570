package dev.sluice.engine.model;

/**
 * Hyper-parameters of a decoder-only transformer, read from GGUF metadata.
 *
 * @param architecture {@code llama} or {@code qwen2}
 * @param dim embedding width ({@code n_embd})
 * @param hiddenDim feed-forward width ({@code n_ff})
 * @param layers number of blocks
 * @param heads query heads
 * @param kvHeads key/value heads (grouped-query attention when fewer than {@code heads})
 * @param headDim width of one head ({@code dim / heads} unless the file says otherwise)
 * @param vocabSize vocabulary size (rows of the embedding)
 * @param contextLength the model's maximum context
 * @param rmsEps epsilon of RMSNorm
 * @param ropeTheta rotary base frequency
 * @param ropeDim dimensions of each head that are rotated (usually {@code headDim})
 * @param ropeType pairing of rotated dimensions
 * @param ropeScale linear rope scaling factor (1 = none); positions are divided by it
 * @param qkvBias whether Q, K and V projections carry a bias (qwen2)
 */
public record ModelConfig(
    String architecture,
    int dim,
    int hiddenDim,
    int layers,
    int heads,
    int kvHeads,
    int headDim,
    int vocabSize,
    int contextLength,
    float rmsEps,
    float ropeTheta,
    int ropeDim,
    RopeType ropeType,
    float ropeScale,
    boolean qkvBias) {

  /** Width of the key (and value) projection: {@code kvHeads * headDim}. */
  public int kvDim() {
    return kvHeads * headDim;
  }

  /** Width of the query projection: {@code heads * headDim}. */
  public int qDim() {
    return heads * headDim;
  }
}
