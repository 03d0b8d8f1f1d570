package dev.sluice.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Activations quantized to 8-bit blocks the way llama.cpp does before a quantized dot product:
 * {@code block_q8_0} (32 values, f16 scale) for Q8_0/Q4_0 weights and {@code block_q8_K} (256
 * values, f32 scale, sums per 16) for the k-quants.
 *
 * <p>The quantized integers are kept as {@code float} lanes: a product of a weight integer (|q| <=
 * 128) and an activation integer (|q| <= 127) summed over one block stays below 2^24, so the float
 * arithmetic of the kernels reproduces ggml's integer block sums exactly while using the fast float
 * FMA units (see docs/kernels.md for the measurement behind this choice).
 *
 * <p>With {@code dequantized} the quantizers also fill {@link #deq}, the float values {@code q *
 * d}, for the batched kernels, which multiply decoded float weights.
 *
 * <p>Vectorized with the species of {@link VectorMatMul}; the rounding matches {@code Math.rint}
 * and ggml's {@code nearest_int} exactly, so the integers are the ones llama.cpp computes.
 *
 * <p>One instance is scratch owned by one thread (held in a {@link ThreadLocal}); its arrays only
 * grow, so steady-state calls allocate nothing.
 */
final class Q8Activations {

  private static final VectorSpecies<Float> FS = VectorMatMul.FS;
  private static final int L = VectorMatMul.L;

  /** (T, cols): the quantized integers of each activation row, as floats. */
  float[] q = new float[0];

  /** (T, cols): Q8_0 only, the same integers as shorts for the 16-bit integer kernel. */
  short[] qs = new short[0];

  /**
   * (T, cols): Q8_0 only, the same integers as bytes, for the Q8_0 kernel on wide rows (half the
   * cache footprint of {@link #qs}; see {@code VectorMatMul.dotQ80WideBytes}).
   */
  byte[] qb = new byte[0];

  /** (T, cols / blockSize): the scale of each block (Q8_0: f16-rounded; Q8_K: f32). */
  float[] d = new float[0];

  /** (T, cols / 32): Q8_K only, the sum of the integers of each 32-wide sub-block. */
  float[] sum32 = new float[0];

  /** (T, cols): q * d, the activations as the quantized dot product sees them (batched path). */
  float[] deq = new float[0];

  /** (T, cols / 32): Q8_K only, sum32 times the block scale d (the Q4_K min term, T = 1). */
  float[] sumd32 = new float[0];

  /**
   * (cols): T = 1, Q4_K weights on 512-bit vectors only: the integers of the first row as shorts,
   * permuted within each 256-block into the lane order of {@code VectorMatMul.dotQ4KWide}.
   */
  short[] qk4 = new short[0];

  /** (cols): {@link #qk4} as bytes, for the Q4_K kernel on wide rows (half the footprint). */
  byte[] qk4b = new byte[0];

  private void ensure(int t, int cols, int blockSize, boolean dequantized) {
    int n = t * cols;
    if (q.length < n) {
      q = new float[n];
    }
    if (blockSize == 32 && qs.length < n) {
      qs = new short[n];
      qb = new byte[n];
    }
    if (dequantized && deq.length < n) {
      deq = new float[n];
    }
    if (d.length < n / blockSize) {
      d = new float[n / blockSize];
    }
    if (sum32.length < n / 32) {
      sum32 = new float[n / 32];
      sumd32 = new float[n / 32];
    }
  }

  /**
   * Quantizes {@code t} rows of {@code cols} values to Q8_0 as ggml-cpu's x86 {@code
   * quantize_row_q8_0} does: {@code d = amax / 127} stored as f16, {@code q = rint(x * (127 /
   * amax))}.
   */
  void quantizeQ80(float[] x, int t, int cols, boolean dequantized) {
    quantizeQ80(x, 0, t, cols, dequantized);
  }

  /** {@link #quantizeQ80} of the rows starting at {@code x[xOff]}, stored from index 0. */
  void quantizeQ80(float[] x, int xOff, int t, int cols, boolean dequantized) {
    ensure(t, cols, 32, dequantized);
    int n = t * cols;
    for (int o = 0; o < n; o += 32) {
      FloatVector m = FloatVector.zero(FS);
      for (int j = 0; j < 32; j += L) {
        m = m.max(FloatVector.fromArray(FS, x, xOff + o + j).abs());
      }
      float amax = m.reduceLanes(VectorOperators.MAX); // max is order-independent
      float id = amax != 0f ? 127f / amax : 0f;
      float d16 = Float.float16ToFloat(Float.floatToFloat16(amax / 127f));
      for (int j = 0; j < 32; j += L) {
        FloatVector r = rint(FloatVector.fromArray(FS, x, xOff + o + j).mul(id));
        r.intoArray(q, o + j);
        if (dequantized) {
          r.mul(d16).intoArray(deq, o + j);
        }
      }
      d[o / 32] = d16;
    }
    for (int i = 0; i < n; i++) {
      qs[i] = (short) q[i];
      qb[i] = (byte) q[i];
    }
  }

  /**
   * Fills {@link #qk4} from the first row of {@link #q} (after {@link #quantizeQ8K}), in the lane
   * order of the Q4_K kernel. Each 256-block is two halves h (the kernel's two word-mixed weight
   * vectors) of four 32-short segments k: 0 the low nibble of a word's byte 0, 1 the low nibble of
   * its byte 1, 2 and 3 the high nibbles. Short lane j of half h is word 8h + 2 (j / 8) + j % 2 of
   * 32-byte group (j / 2) % 4, so position 128h + 32k + j holds element 64 g + 2 w + (k % 2) + (k
   * >= 2 ? 32 : 0) with g = (j / 2) % 4 and w = 8h + 2 (j / 8) + j % 2.
   */
  void permuteQ4K(int cols) {
    if (qk4.length < cols) {
      qk4 = new short[cols];
      qk4b = new byte[cols];
    }
    for (int x = 0; x < cols; x += 256) {
      for (int h = 0; h < 2; h++) {
        for (int k = 0; k < 4; k++) {
          for (int j = 0; j < 32; j++) {
            int g = (j >> 1) & 3;
            int w = 8 * h + 2 * (j >> 3) + (j & 1);
            int e = x + 64 * g + 2 * w + (k & 1) + (k >= 2 ? 32 : 0);
            qk4[x + 128 * h + 32 * k + j] = (short) q[e];
            qk4b[x + 128 * h + 32 * k + j] = (byte) q[e];
          }
        }
      }
    }
  }

  /**
   * Round half to even, as {@code Math.rint} and ggml's {@code nearest_int}, for |v| < 2^22: adding
   * and subtracting 1.5 * 2^23 leaves the float's last place at 1.
   */
  private static FloatVector rint(FloatVector v) {
    return v.add(MAGIC).sub(MAGIC);
  }

  private static final float MAGIC = 12582912f;

  /**
   * Quantizes {@code t} rows of {@code cols} values to Q8_K as ggml's {@code quantize_row_q8_K_ref}
   * does: the scale comes from the signed value of largest magnitude ({@code iscale = -127 / max}),
   * {@code q = min(127, rint(iscale * x))}, {@code d = 1 / iscale}.
   */
  void quantizeQ8K(float[] x, int t, int cols, boolean dequantized) {
    quantizeQ8K(x, 0, t, cols, dequantized);
  }

  /** {@link #quantizeQ8K} of the rows starting at {@code x[xOff]}, stored from index 0. */
  void quantizeQ8K(float[] x, int xOff, int t, int cols, boolean dequantized) {
    ensure(t, cols, 256, dequantized);
    int blocks = t * cols / 256;
    for (int b = 0; b < blocks; b++) {
      int o = b * 256;
      float amax = 0f;
      float max = 0f;
      for (int j = 0; j < 256; j++) {
        float ax = Math.abs(x[xOff + o + j]);
        if (ax > amax) {
          amax = ax;
          max = x[xOff + o + j];
        }
      }
      if (amax == 0f) {
        java.util.Arrays.fill(q, o, o + 256, 0f);
        java.util.Arrays.fill(sum32, b * 8, b * 8 + 8, 0f);
        java.util.Arrays.fill(sumd32, b * 8, b * 8 + 8, 0f);
        if (dequantized) {
          java.util.Arrays.fill(deq, o, o + 256, 0f);
        }
        d[b] = 0f;
        continue;
      }
      float iscale = -127f / max;
      float db = 1f / iscale;
      for (int s = 0; s < 8; s++) {
        FloatVector sum = FloatVector.zero(FS);
        for (int j = o + s * 32; j < o + s * 32 + 32; j += L) {
          FloatVector r = rint(FloatVector.fromArray(FS, x, xOff + j).mul(iscale)).min(127f);
          r.intoArray(q, j);
          sum = sum.add(r);
          if (dequantized) {
            r.mul(db).intoArray(deq, j);
          }
        }
        // Integers below 2^24: exact in any order.
        sum32[b * 8 + s] = sum.reduceLanes(VectorOperators.ADD);
        sumd32[b * 8 + s] = sum32[b * 8 + s] * db;
      }
      d[b] = db;
    }
  }
}
