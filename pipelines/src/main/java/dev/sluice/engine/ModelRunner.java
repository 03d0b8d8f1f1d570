package dev.sluice.engine;

import dev.sluice.engine.model.ModelConfig;

/**
 * A model loaded on a {@link Backend}, with its KV-cache block storage. One {@link #forward} call
 * advances a whole batch: every sequence of the batch gets its new tokens' keys and values written
 * into its blocks, and logits come out for each sequence's last token (or, for tests, every token).
 * Not thread-safe: driven by the device's owner thread.
 */
public interface ModelRunner extends AutoCloseable {

  ModelConfig config();

  KvCacheSpec kvCache();

  /**
   * Runs the batch. For sequence {@code s}, its tokens {@code batch.tokens[seqStart(s) ..
   * seqStart(s+1))} sit at positions {@code batch.seqPos[s] ..}; position {@code p} is stored in
   * block {@code batch.blockTable[s * batch.maxBlocksPerSeq + p / blockSize]} at slot {@code p %
   * blockSize}; each token attends to positions {@code 0..p} of its own sequence.
   *
   * @param logits receives {@code batch.logitRows() * vocabSize} floats, row-major
   */
  void forward(StepBatch batch, float[] logits);

  @Override
  void close();
}
