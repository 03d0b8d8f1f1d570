package dev.sluice.engine.cpu;

import dev.sluice.engine.KvCacheSpec;
import dev.sluice.engine.StepBatch;
import dev.sluice.engine.model.ModelConfig;

/**
 * Validation of a {@link StepBatch} before any compute, shared by the CPU backends: a bad token id,
 * block id or position fails with a message naming the sequence instead of corrupting another
 * sequence's KV blocks or failing deep inside a kernel.
 */
final class BatchChecks {
  private BatchChecks() {}

  static void validate(StepBatch b, ModelConfig c, KvCacheSpec kv, float[] logits) {
    if (b.numSeqs <= 0) {
      throw new IllegalArgumentException("empty batch");
    }
    long need = (long) b.logitRows() * c.vocabSize();
    if (logits.length < need) {
      throw new IllegalArgumentException(
          "logits array holds " + logits.length + " floats, the batch needs " + need);
    }
    for (int s = 0; s < b.numSeqs; s++) {
      int len = b.seqLen(s);
      if (len <= 0) {
        throw new IllegalArgumentException("sequence " + s + " of the batch has no tokens");
      }
      int start = b.seqPos[s];
      long end = (long) start + len; // exclusive
      if (start < 0 || end > (long) b.maxBlocksPerSeq * kv.blockSize()) {
        throw new IllegalArgumentException(
            "sequence " + s + ": positions [" + start + ", " + end + ") exceed its block table");
      }
      for (int i = 0; i < (end + kv.blockSize() - 1) / kv.blockSize(); i++) {
        int block = b.blockTable[s * b.maxBlocksPerSeq + i];
        if (block < 0 || block >= kv.numBlocks()) {
          throw new IllegalArgumentException(
              "sequence "
                  + s
                  + ": block table entry "
                  + i
                  + " is "
                  + block
                  + ", not in [0, "
                  + kv.numBlocks()
                  + ")");
        }
      }
      for (int t = b.seqStart[s]; t < b.seqStart[s + 1]; t++) {
        if (b.tokens[t] < 0 || b.tokens[t] >= c.vocabSize()) {
          throw new IllegalArgumentException(
              "sequence "
                  + s
                  + ": token id "
                  + b.tokens[t]
                  + " is not in [0, "
                  + c.vocabSize()
                  + ")");
        }
      }
    }
  }
}
