package dev.sluice.engine.cpu;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

/**
 * Builds weight tensors in ggml's byte layouts for tests and benchmarks: random ones (with finite,
 * realistic f16 scales; random bytes there could be NaN) and hand-packed blocks with known values.
 */
final class QuantTestData {

  private QuantTestData() {}

  static GgufTensor tensor(String name, GgmlType type, int rows, int cols, byte[] bytes) {
    return new GgufTensor(name, type, new long[] {cols, rows}, MemorySegment.ofArray(bytes));
  }

  static short half(float v) {
    return Float.floatToFloat16(v);
  }

  /** A random tensor whose dequantized values are of order 0.01 to 1, like trained weights. */
  static GgufTensor random(GgmlType type, int rows, int cols, long seed) {
    Random rnd = new Random(seed);
    long size = type.bytesFor((long) rows * cols);
    ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(size)).order(ByteOrder.LITTLE_ENDIAN);
    long blocks = (long) rows * cols / type.blockSize;
    for (long i = 0; i < blocks; i++) {
      switch (type) {
        case F32 -> b.putFloat((float) rnd.nextGaussian());
        case F16 -> b.putShort(half((float) rnd.nextGaussian()));
        case BF16 ->
            b.putShort((short) (Float.floatToRawIntBits((float) rnd.nextGaussian()) >>> 16));
        case Q8_0 -> {
          b.putShort(half(0.001f + 0.02f * rnd.nextFloat()));
          putRandom(b, rnd, 32);
        }
        case Q4_0 -> {
          b.putShort(half(0.001f + 0.1f * rnd.nextFloat()));
          putRandom(b, rnd, 16);
        }
        case Q4_K -> {
          b.putShort(half(0.0005f + 0.005f * rnd.nextFloat()));
          b.putShort(half(0.0005f + 0.005f * rnd.nextFloat()));
          putRandom(b, rnd, 12 + 128);
        }
        case Q6_K -> {
          putRandom(b, rnd, 128 + 64 + 16);
          b.putShort(half(0.0005f + 0.005f * rnd.nextFloat()));
        }
        default -> throw new IllegalArgumentException(type.toString());
      }
    }
    return tensor("random." + type, type, rows, cols, b.array());
  }

  private static void putRandom(ByteBuffer b, Random rnd, int n) {
    byte[] bytes = new byte[n];
    rnd.nextBytes(bytes);
    b.put(bytes);
  }

  static float[] gaussian(int n, long seed) {
    Random rnd = new Random(seed);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) rnd.nextGaussian();
    }
    return v;
  }

  /** Packs eight 6-bit scales and mins the way {@code get_scale_min_k4} unpacks them. */
  static byte[] packQ4KScales(int[] sc, int[] m) {
    byte[] q = new byte[12];
    for (int j = 0; j < 4; j++) {
      q[j] = (byte) ((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
      q[j + 4] = (byte) ((m[j] & 63) | ((m[j + 4] >> 4) << 6));
      q[j + 8] = (byte) ((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
    }
    return q;
  }

  /**
   * Packs 256 six-bit values (0..63) into a Q6_K block's {@code ql}/{@code qh} layout: element
   * {@code 128n + 32k + l} (k = 0..3) has its low nibble in {@code ql[64n + 32(k&1) + l]} (low
   * nibble for k < 2, high for k >= 2) and its top two bits in {@code qh[32n + l]} at bit 2k.
   */
  static void packQ6K(int[] q6, byte[] ql, byte[] qh) {
    for (int n = 0; n < 2; n++) {
      for (int k = 0; k < 4; k++) {
        for (int l = 0; l < 32; l++) {
          int v = q6[128 * n + 32 * k + l];
          int li = 64 * n + 32 * (k & 1) + l;
          ql[li] |= (byte) (k < 2 ? (v & 0xF) : (v & 0xF) << 4);
          qh[32 * n + l] |= (byte) (((v >> 4) & 3) << (2 * k));
        }
      }
    }
  }
}
