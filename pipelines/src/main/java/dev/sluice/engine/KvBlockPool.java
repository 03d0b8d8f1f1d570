package dev.sluice.engine;

/**
 * The allocator of a runner's paged KV cache: {@code numBlocks} blocks of {@code blockSize} token
 * positions, handed out by id. Blocks are reference-counted so that a later prefix cache can share
 * a block between sequences with the same prompt prefix: {@link #allocate} returns a block with one
 * reference, {@link #retain} adds one, {@link #release} drops one and frees the block at zero.
 *
 * <p>Not thread-safe: owned by the device's owner thread, like the runner. Allocation and release
 * are O(1) and allocate nothing. Failure semantics: {@link #allocate} throws {@link
 * KvCacheExhaustedException} when every block is in use ({@link #tryAllocate} returns -1 instead);
 * releasing or retaining a free block is a caller bug and throws {@link IllegalStateException}
 * naming the block.
 */
public final class KvBlockPool {
  private final int numBlocks;
  private final int blockSize;
  private final int[] refCount; // (numBlocks)
  private final int[] freeStack; // (numBlocks) ids of free blocks; top at freeCount - 1
  private int freeCount;

  public KvBlockPool(KvCacheSpec spec) {
    this.numBlocks = spec.numBlocks();
    this.blockSize = spec.blockSize();
    this.refCount = new int[numBlocks];
    this.freeStack = new int[numBlocks];
    // Lowest ids on top, so a fresh pool hands out 0, 1, 2, ...
    for (int i = 0; i < numBlocks; i++) {
      freeStack[i] = numBlocks - 1 - i;
    }
    this.freeCount = numBlocks;
  }

  public int numBlocks() {
    return numBlocks;
  }

  public int blockSize() {
    return blockSize;
  }

  public int freeBlocks() {
    return freeCount;
  }

  public int usedBlocks() {
    return numBlocks - freeCount;
  }

  /** Blocks needed to hold {@code tokens} positions. */
  public int blocksFor(int tokens) {
    return (tokens + blockSize - 1) / blockSize;
  }

  /** A free block with one reference, or -1 when none is free. */
  public int tryAllocate() {
    if (freeCount == 0) {
      return -1;
    }
    int b = freeStack[--freeCount];
    refCount[b] = 1;
    return b;
  }

  /** A free block with one reference; throws when the pool is exhausted. */
  public int allocate() {
    int b = tryAllocate();
    if (b < 0) {
      throw exhausted(1);
    }
    return b;
  }

  /**
   * Allocates {@code n} blocks into {@code out[off..off+n)}, all or nothing: when fewer than {@code
   * n} are free, nothing is taken and {@link KvCacheExhaustedException} is thrown.
   */
  public void allocate(int n, int[] out, int off) {
    if (n > freeCount) {
      throw exhausted(n);
    }
    for (int i = 0; i < n; i++) {
      out[off + i] = tryAllocate();
    }
  }

  /** Adds a reference to an allocated block (sharing it). */
  public void retain(int block) {
    check(block);
    refCount[block]++;
  }

  /** Drops a reference; the block returns to the pool when none is left. */
  public void release(int block) {
    check(block);
    if (--refCount[block] == 0) {
      freeStack[freeCount++] = block;
    }
  }

  /** Releases {@code blocks[off..off+n)}. */
  public void release(int[] blocks, int off, int n) {
    for (int i = 0; i < n; i++) {
      release(blocks[off + i]);
    }
  }

  public int refCount(int block) {
    if (block < 0 || block >= numBlocks) {
      throw new IllegalArgumentException("block " + block + " is not in [0, " + numBlocks + ")");
    }
    return refCount[block];
  }

  private void check(int block) {
    if (refCount(block) == 0) {
      throw new IllegalStateException("KV block " + block + " is not allocated");
    }
  }

  private KvCacheExhaustedException exhausted(int wanted) {
    return new KvCacheExhaustedException(
        "KV cache exhausted: "
            + wanted
            + " block(s) wanted, "
            + freeCount
            + " of "
            + numBlocks
            + " blocks ("
            + blockSize
            + " tokens each) free");
  }
}
