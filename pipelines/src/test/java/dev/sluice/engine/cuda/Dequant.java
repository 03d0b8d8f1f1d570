package dev.sluice.engine.cuda;

import dev.sluice.engine.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Scalar dequantization of ggml blocks, transcribed from ggml's {@code dequantize_row_*}
 * (ggml-quants.c): the reference the CUDA kernels are checked against.
 */
final class Dequant {
  private static final ValueLayout.OfShort I16 =
      ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfFloat F32 =
      ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private Dequant() {}

  static float half(MemorySegment s, long off) {
    return Float.float16ToFloat(s.get(I16, off));
  }

  private static int u8(MemorySegment s, long off) {
    return s.get(ValueLayout.JAVA_BYTE, off) & 0xFF;
  }

  private static int s8(MemorySegment s, long off) {
    return s.get(ValueLayout.JAVA_BYTE, off);
  }

  /** Row {@code r} (of {@code cols} elements) of a tensor of type {@code t}. */
  static float[] row(GgmlType t, MemorySegment data, int r, int cols) {
    long rowBytes = t.bytesFor(cols);
    long base = r * rowBytes;
    float[] y = new float[cols];
    switch (t) {
      case F32 -> {
        for (int i = 0; i < cols; i++) {
          y[i] = data.get(F32, base + 4L * i);
        }
      }
      case F16 -> {
        for (int i = 0; i < cols; i++) {
          y[i] = half(data, base + 2L * i);
        }
      }
      case BF16 -> {
        for (int i = 0; i < cols; i++) {
          y[i] = Float.intBitsToFloat((data.get(I16, base + 2L * i) & 0xFFFF) << 16);
        }
      }
      case Q8_0 -> {
        for (int b = 0; b < cols / 32; b++) {
          long o = base + 34L * b;
          float d = half(data, o);
          for (int j = 0; j < 32; j++) {
            y[32 * b + j] = d * s8(data, o + 2 + j);
          }
        }
      }
      case Q4_0 -> {
        for (int b = 0; b < cols / 32; b++) {
          long o = base + 18L * b;
          float d = half(data, o);
          for (int j = 0; j < 16; j++) {
            int q = u8(data, o + 2 + j);
            y[32 * b + j] = d * ((q & 0xF) - 8);
            y[32 * b + j + 16] = d * ((q >> 4) - 8);
          }
        }
      }
      case Q4_K -> {
        for (int b = 0; b < cols / 256; b++) {
          long o = base + 144L * b;
          float d = half(data, o);
          float min = half(data, o + 2);
          long sc = o + 4;
          long q = o + 16;
          int yi = 256 * b;
          int is = 0;
          for (int j = 0; j < 256; j += 64) {
            int[] sm = scaleMin(data, sc, is);
            float d1 = d * sm[0];
            float m1 = min * sm[1];
            sm = scaleMin(data, sc, is + 1);
            float d2 = d * sm[0];
            float m2 = min * sm[1];
            for (int l = 0; l < 32; l++) {
              y[yi++] = d1 * (u8(data, q + l) & 0xF) - m1;
            }
            for (int l = 0; l < 32; l++) {
              y[yi++] = d2 * (u8(data, q + l) >> 4) - m2;
            }
            q += 32;
            is += 2;
          }
        }
      }
      case Q6_K -> {
        for (int b = 0; b < cols / 256; b++) {
          long o = base + 210L * b;
          float d = half(data, o + 208);
          long ql = o;
          long qh = o + 128;
          long sc = o + 192;
          int yi = 256 * b;
          for (int n = 0; n < 256; n += 128) {
            for (int l = 0; l < 32; l++) {
              int is = l / 16;
              int q1 = ((u8(data, ql + l) & 0xF) | (((u8(data, qh + l) >> 0) & 3) << 4)) - 32;
              int q2 = ((u8(data, ql + l + 32) & 0xF) | (((u8(data, qh + l) >> 2) & 3) << 4)) - 32;
              int q3 = ((u8(data, ql + l) >> 4) | (((u8(data, qh + l) >> 4) & 3) << 4)) - 32;
              int q4 = ((u8(data, ql + l + 32) >> 4) | (((u8(data, qh + l) >> 6) & 3) << 4)) - 32;
              y[yi + l] = d * s8(data, sc + is) * q1;
              y[yi + l + 32] = d * s8(data, sc + is + 2) * q2;
              y[yi + l + 64] = d * s8(data, sc + is + 4) * q3;
              y[yi + l + 96] = d * s8(data, sc + is + 6) * q4;
            }
            yi += 128;
            ql += 64;
            qh += 32;
            sc += 8;
          }
        }
      }
    }
    return y;
  }

  // ggml get_scale_min_k4
  private static int[] scaleMin(MemorySegment s, long q, int j) {
    if (j < 4) {
      return new int[] {u8(s, q + j) & 63, u8(s, q + j + 4) & 63};
    }
    return new int[] {
      (u8(s, q + j + 4) & 0xF) | ((u8(s, q + j - 4) >> 6) << 4),
      (u8(s, q + j + 4) >> 4) | ((u8(s, q + j) >> 6) << 4)
    };
  }

  /** The whole matrix, row-major {@code (rows, cols)}. */
  static float[] matrix(GgmlType t, MemorySegment data, int rows, int cols) {
    float[] m = new float[rows * cols];
    for (int r = 0; r < rows; r++) {
      System.arraycopy(row(t, data, r, cols), 0, m, r * cols, cols);
    }
    return m;
  }
}
