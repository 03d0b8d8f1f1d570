package dev.sluice.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The native Q4_K and Q6_K kernels reproduce llama.cpp's AVX2 {@code ggml_vec_dot_q4_K_q8_K} and
 * {@code ggml_vec_dot_q6_K_q8_K} bit for bit (see docs/kernels.md, "Native VNNI kernels: Q4_K and
 * Q6_K"): the test transcribes those functions in scalar Java (8 int32 lanes, lane k holding bytes
 * 4k..4k+3 of every 32-value group times its scale; a fused multiply-add per super-block; the same
 * horizontal sums) and compares the raw float bits, for single tokens and for batches that run
 * through the multi-token tiles. Where llama.cpp runs these functions (Q6_K on this machine's
 * build), this is what makes the engine's logits equal to llama.cpp's.
 */
class NativeKQuantsTest {

  static Stream<Arguments> cases() {
    return Stream.of(GgmlType.Q4_K, GgmlType.Q6_K)
        .flatMap(t -> IntStream.of(1, 2, 3, 4, 8, 13).mapToObj(n -> Arguments.of(t, n)));
  }

  @ParameterizedTest(name = "{0} T={1}")
  @MethodSource("cases")
  void equalsGgmlAvx2DotProductBitForBit(GgmlType type, int batch) {
    assumeTrue(NativeKernels.available(), NativeKernels.status());
    int rows = 11;
    int cols = 1536;
    GgufTensor w = QuantTestData.random(type, rows, cols, 4242 + type.id);
    float[] x = QuantTestData.gaussian(batch * cols, 17 + batch);
    // a block whose largest magnitude appears with both signs (ggml keeps the first)
    x[300] = -9f;
    x[301] = 9f;
    float[] out = new float[batch * rows];
    NativeKernels.matmul(w, x, batch, out, 0, rows);
    for (int t = 0; t < batch; t++) {
      Q8K y = Q8K.of(x, t * cols, cols);
      for (int r = 0; r < rows; r++) {
        long row = (long) r * cols / 256 * type.typeSize;
        float want = type == GgmlType.Q4_K ? dotQ4K(w.data(), row, y) : dotQ6K(w.data(), row, y);
        assertThat(Float.floatToRawIntBits(out[t * rows + r]))
            .as(
                "%s token %d of %d, row %d: %s against ggml's %s",
                type, t, batch, r, out[t * rows + r], want)
            .isEqualTo(Float.floatToRawIntBits(want));
      }
    }
  }

  /** ggml's {@code block_q8_K} for one row: quantize_row_q8_K_ref. */
  record Q8K(float[] d, byte[] qs, int[] bsums) {
    static Q8K of(float[] x, int off, int cols) {
      int nb = cols / 256;
      float[] d = new float[nb];
      byte[] qs = new byte[cols];
      int[] bsums = new int[cols / 16];
      for (int b = 0; b < nb; b++) {
        float amax = 0;
        float max = 0;
        for (int j = 0; j < 256; j++) {
          float ax = Math.abs(x[off + 256 * b + j]);
          if (ax > amax) {
            amax = ax;
            max = x[off + 256 * b + j];
          }
        }
        if (amax == 0) {
          continue;
        }
        float iscale = -127f / max;
        for (int j = 0; j < 256; j++) {
          int v = nearestInt(iscale * x[off + 256 * b + j]);
          qs[256 * b + j] = (byte) Math.min(127, v);
          bsums[(256 * b + j) / 16] += qs[256 * b + j];
        }
        d[b] = 1 / iscale;
      }
      return new Q8K(d, qs, bsums);
    }

    private static int nearestInt(float f) {
      int i = Float.floatToRawIntBits(f + 12582912f);
      return (i & 0x007fffff) - 0x00400000;
    }
  }

  private static int u8(MemorySegment s, long off) {
    return s.get(ValueLayout.JAVA_BYTE, off) & 0xFF;
  }

  private static float f16(MemorySegment s, long off) {
    return Float.float16ToFloat((short) (u8(s, off) | u8(s, off + 1) << 8));
  }

  /** ggml's hsum_float_8: (hi + lo), then pairs, then the last two. */
  private static float hsum8(float[] a) {
    float[] r = new float[4];
    for (int k = 0; k < 4; k++) {
      r[k] = a[4 + k] + a[k];
    }
    return (r[0] + r[2]) + (r[1] + r[3]);
  }

  /** ggml_vec_dot_q4_K_q8_K, AVX2 branch, in scalar form. */
  static float dotQ4K(MemorySegment w, long row, Q8K y) {
    float[] acc = new float[8];
    float[] accm = new float[4];
    for (int i = 0; i < y.d.length; i++) {
      long blk = row + 144L * i;
      float d = y.d[i] * f16(w, blk);
      float dmin = -y.d[i] * f16(w, blk + 2);
      int[] sc = new int[8];
      int[] mn = new int[8];
      for (int j = 0; j < 8; j++) {
        sc[j] = MatMul.q4kScale(w, blk + 4, j);
        mn[j] = MatMul.q4kMin(w, blk + 4, j);
      }
      for (int k = 0; k < 4; k++) {
        int prod = 0;
        for (int j = 2 * k; j < 2 * k + 2; j++) {
          prod += mn[j] * (y.bsums[16 * i + 2 * j] + y.bsums[16 * i + 2 * j + 1]);
        }
        accm[k] = Math.fma(dmin, (float) prod, accm[k]);
      }
      int[] sumi = new int[8];
      for (int j = 0; j < 4; j++) {
        for (int k = 0; k < 8; k++) {
          int lo = 0;
          int hi = 0;
          for (int b = 4 * k; b < 4 * k + 4; b++) {
            int q = u8(w, blk + 16 + 32 * j + b);
            lo += (q & 15) * y.qs[256 * i + 64 * j + b];
            hi += (q >> 4) * y.qs[256 * i + 64 * j + 32 + b];
          }
          sumi[k] += sc[2 * j] * lo + sc[2 * j + 1] * hi;
        }
      }
      for (int k = 0; k < 8; k++) {
        acc[k] = Math.fma(d, (float) sumi[k], acc[k]);
      }
    }
    float m = (accm[0] + accm[2]) + (accm[1] + accm[3]);
    return hsum8(acc) + m;
  }

  /** ggml_vec_dot_q6_K_q8_K, AVX2 branch, in scalar form. */
  static float dotQ6K(MemorySegment w, long row, Q8K y) {
    float[] acc = new float[8];
    for (int i = 0; i < y.d.length; i++) {
      long blk = row + 210L * i;
      float d = y.d[i] * f16(w, blk + 208);
      int[] sumi = new int[8];
      for (int j = 0; j < 2; j++) {
        long ql = blk + 64 * j;
        long qh = blk + 128 + 32 * j;
        for (int m = 0; m < 4; m++) {
          for (int k = 0; k < 8; k++) {
            int s = 0;
            for (int l = 4 * k; l < 4 * k + 4; l++) {
              int h = u8(w, qh + l) >> (2 * m) & 3;
              int lowBits = (m & 1) == 0 ? u8(w, ql + l) : u8(w, ql + 32 + l);
              int q = (m < 2 ? lowBits & 15 : lowBits >> 4) | h << 4;
              s += (q - 32) * y.qs[256 * i + 128 * j + 32 * m + l];
            }
            int scale = w.get(ValueLayout.JAVA_BYTE, blk + 192 + 8 * j + 2 * m + (k >= 4 ? 1 : 0));
            sumi[k] += scale * s;
          }
        }
      }
      for (int k = 0; k < 8; k++) {
        acc[k] = Math.fma(d, (float) sumi[k], acc[k]);
      }
    }
    return hsum8(acc);
  }
}
