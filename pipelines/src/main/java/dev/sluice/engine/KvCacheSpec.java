package dev.sluice.engine;

/**
 * Size of the paged KV cache a {@link ModelRunner} owns: {@code numBlocks} blocks of {@code
 * blockSize} token positions each, for every layer (keys and values). Block ids run from 0 to
 * {@code numBlocks - 1}; which sequence uses which block is decided by the caller's block pool.
 */
public record KvCacheSpec(int numBlocks, int blockSize) {
  public KvCacheSpec {
    if (numBlocks <= 0) {
      throw new IllegalArgumentException("numBlocks must be > 0, got " + numBlocks);
    }
    if (blockSize <= 0 || Integer.bitCount(blockSize) != 1) {
      throw new IllegalArgumentException("blockSize must be a power of two, got " + blockSize);
    }
  }
}
