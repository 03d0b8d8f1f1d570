package dev.sluice.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class KvBlockPoolTest {

  @Test
  void allocatesUntilExhaustedThenFailsClearly() {
    KvBlockPool pool = new KvBlockPool(new KvCacheSpec(3, 16));
    assertThat(pool.allocate()).isEqualTo(0);
    assertThat(pool.allocate()).isEqualTo(1);
    assertThat(pool.allocate()).isEqualTo(2);
    assertThat(pool.freeBlocks()).isZero();
    assertThat(pool.tryAllocate()).isEqualTo(-1);
    assertThatThrownBy(pool::allocate)
        .isInstanceOf(KvCacheExhaustedException.class)
        .hasMessageContaining("KV cache exhausted")
        .hasMessageContaining("0 of 3 blocks (16 tokens each) free");
    pool.release(1);
    assertThat(pool.allocate()).isEqualTo(1);
  }

  @Test
  void sharedBlocksAreFreedAtTheLastRelease() {
    KvBlockPool pool = new KvBlockPool(new KvCacheSpec(2, 8));
    int b = pool.allocate();
    pool.retain(b);
    assertThat(pool.refCount(b)).isEqualTo(2);
    pool.release(b);
    assertThat(pool.freeBlocks()).isEqualTo(1);
    pool.release(b);
    assertThat(pool.freeBlocks()).isEqualTo(2);
    assertThatThrownBy(() -> pool.release(b))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("KV block " + b + " is not allocated");
  }

  @Test
  void bulkAllocationIsAllOrNothing() {
    KvBlockPool pool = new KvBlockPool(new KvCacheSpec(4, 8));
    int[] out = new int[5];
    assertThatThrownBy(() -> pool.allocate(5, out, 0))
        .isInstanceOf(KvCacheExhaustedException.class);
    assertThat(pool.freeBlocks()).isEqualTo(4);
    pool.allocate(4, out, 1);
    assertThat(out).containsExactly(0, 0, 1, 2, 3);
    assertThat(pool.blocksFor(17)).isEqualTo(3);
  }
}
