package dev.sluice.engine.tokenizer;

import java.util.Arrays;

/** Open-addressing map from non-negative {@code long} keys to {@code int}, without boxing. */
final class LongIntMap {
  private long[] keys;
  private int[] values;
  private int size;
  private int mask;

  LongIntMap(int expected) {
    int cap = Integer.highestOneBit(Math.max(4, expected * 2 - 1)) << 1;
    keys = new long[cap];
    values = new int[cap];
    Arrays.fill(keys, -1L);
    mask = cap - 1;
  }

  private static int hash(long k) {
    long h = k * 0x9E3779B97F4A7C15L;
    return (int) (h ^ (h >>> 32));
  }

  /** Stores {@code value} unless {@code key} is present (first value wins, like emplace). */
  void putIfAbsent(long key, int value) {
    if ((size + 1) * 2 > keys.length) {
      grow();
    }
    int i = hash(key) & mask;
    while (keys[i] != -1L) {
      if (keys[i] == key) {
        return;
      }
      i = (i + 1) & mask;
    }
    keys[i] = key;
    values[i] = value;
    size++;
  }

  int get(long key, int missing) {
    int i = hash(key) & mask;
    while (true) {
      long k = keys[i];
      if (k == key) {
        return values[i];
      }
      if (k == -1L) {
        return missing;
      }
      i = (i + 1) & mask;
    }
  }

  private void grow() {
    long[] oldK = keys;
    int[] oldV = values;
    keys = new long[oldK.length * 2];
    values = new int[oldK.length * 2];
    Arrays.fill(keys, -1L);
    mask = keys.length - 1;
    size = 0;
    for (int i = 0; i < oldK.length; i++) {
      if (oldK[i] != -1L) {
        putIfAbsent(oldK[i], oldV[i]);
      }
    }
  }
}
