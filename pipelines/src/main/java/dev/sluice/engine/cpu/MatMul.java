package dev.sluice.engine.cpu;

import dev.sluice.engine.gguf.GgufTensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Matrix times activations for every weight type Sluice reads (F32, F16, BF16, Q8_0, Q4_0, Q4_K,
 * Q6_K), straight from the memory-mapped GGUF bytes.
 *
 * <p>Shapes: the weight {@code w} is {@code (rows, cols)} (ggml {@code shape = {cols, rows}}), the
 * activations {@code x} are {@code (T, cols)} row-major and the result {@code out} is {@code (T,
 * rows)} row-major. Each call computes the rows {@code [r0, r1)} for all {@code T} activation rows,
 * so several threads can share one matrix product by splitting the row range.
 *
 * <p>Two implementations with the same contract:
 *
 * <ul>
 *   <li>{@link #reference}: readable scalar code, dequantizing each weight row exactly as ggml's
 *       {@code dequantize_row_*} and accumulating in double. The oracle for tests and the scalar
 *       backend.
 *   <li>{@link #fast}: Vector API kernels that read each weight row once and apply it to all {@code
 *       T} activation rows. For quantized weights the activations are first quantized to 8-bit
 *       blocks like llama.cpp (Q8_0 for Q8_0/Q4_0, Q8_K for Q4_K/Q6_K), so the result follows
 *       llama.cpp's numerics rather than the reference's; the difference is bounded by the
 *       activation quantization error (see docs/kernels.md). Unquantized types agree with the
 *       reference to float rounding.
 * </ul>
 *
 * <p>Failure semantics: a shape that does not fit the arrays or the tensor bytes, or a row range
 * outside the matrix, throws {@link IllegalArgumentException} before any work; so does a tensor
 * type without a kernel, naming the tensor and its type. Nothing else is checked per element.
 * Thread-safety: stateless apart from per-thread scratch; concurrent calls on disjoint row ranges
 * of the same {@code out} are safe.
 */
public final class MatMul {

  private MatMul() {}

  private static final ValueLayout.OfShort F16 =
      ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfFloat F32 =
      ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  /**
   * Whether {@link #fast} runs the Vector API kernels: the {@code jdk.incubator.vector} module is
   * resolved ({@code --add-modules jdk.incubator.vector}) and the preferred vectors have 8 or 16
   * float lanes (AVX2 / AVX-512). The kernels live in a class of their own so that this class, and
   * {@link #reference}, load without the module.
   */
  private static final boolean VECTORS = detectVectors();

  private static boolean detectVectors() {
    if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
      return false;
    }
    try {
      return VectorMatMul.supported();
    } catch (LinkageError e) {
      return false;
    }
  }

  /**
   * Whether {@link #fast} uses vector kernels here; when false it computes with {@link #reference}
   * (start the JVM with {@code --add-modules jdk.incubator.vector} on a CPU with AVX2 or better).
   */
  public static boolean vectorized() {
    return VECTORS;
  }

  // ---------------------------------------------------------------------------------------------
  // Reference

  /**
   * Scalar reference: {@code out[t * rows + r] = sum_c W[r][c] * x[t * cols + c]} for {@code t <
   * T}, {@code r0 <= r < r1}, with {@code W} dequantized as ggml does and the sum in double.
   */
  public static void reference(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
    validate(w, x, T, out, r0, r1);
    int rows = w.rows();
    int cols = w.cols();
    float[] row = new float[cols];
    for (int r = r0; r < r1; r++) {
      dequantize(w, r, row, 0);
      for (int t = 0; t < T; t++) {
        double sum = 0;
        for (int c = 0; c < cols; c++) {
          sum += (double) row[c] * x[t * cols + c];
        }
        out[t * rows + r] = (float) sum;
      }
    }
  }

  /**
   * Writes row {@code row} of {@code w}, dequantized, into {@code out[off .. off + cols)} (the
   * embedding lookup).
   */
  public static void dequantizeRow(GgufTensor w, int row, float[] out, int off) {
    checkTensor(w);
    if (row < 0 || row >= w.rows()) {
      throw new IllegalArgumentException(
          "row " + row + " is outside tensor " + w.name() + " with " + w.rows() + " rows");
    }
    if (off < 0 || (long) off + w.cols() > out.length) {
      throw new IllegalArgumentException(
          "output of length "
              + out.length
              + " cannot hold "
              + w.cols()
              + " values of "
              + w.name()
              + " at offset "
              + off);
    }
    dequantize(w, row, out, off);
  }

  private static void dequantize(GgufTensor w, int row, float[] out, int off) {
    MemorySegment s = w.data();
    int cols = w.cols();
    long base = row * rowBytes(w);
    switch (w.type()) {
      case F32 -> {
        for (int c = 0; c < cols; c++) {
          out[off + c] = s.get(F32, base + 4L * c);
        }
      }
      case F16 -> {
        for (int c = 0; c < cols; c++) {
          out[off + c] = Float.float16ToFloat(s.get(F16, base + 2L * c));
        }
      }
      case BF16 -> {
        for (int c = 0; c < cols; c++) {
          out[off + c] = Float.intBitsToFloat(s.get(F16, base + 2L * c) << 16);
        }
      }
      case Q8_0 -> {
        for (int b = 0; b < cols / 32; b++) {
          long bo = base + 34L * b;
          float d = f16(s, bo);
          for (int j = 0; j < 32; j++) {
            out[off + 32 * b + j] = d * s.get(ValueLayout.JAVA_BYTE, bo + 2 + j);
          }
        }
      }
      case Q4_0 -> {
        for (int b = 0; b < cols / 32; b++) {
          long bo = base + 18L * b;
          float d = f16(s, bo);
          for (int j = 0; j < 16; j++) {
            int q = s.get(ValueLayout.JAVA_BYTE, bo + 2 + j) & 0xFF;
            out[off + 32 * b + j] = d * ((q & 0xF) - 8);
            out[off + 32 * b + j + 16] = d * ((q >> 4) - 8);
          }
        }
      }
      case Q4_K -> {
        for (int b = 0; b < cols / 256; b++) {
          long bo = base + 144L * b;
          float d = f16(s, bo);
          float dmin = f16(s, bo + 2);
          int y = off + 256 * b;
          for (int j = 0; j < 4; j++) { // 64 values per 32 bytes of quants: low then high nibbles
            float d1 = d * q4kScale(s, bo + 4, 2 * j);
            float m1 = dmin * q4kMin(s, bo + 4, 2 * j);
            float d2 = d * q4kScale(s, bo + 4, 2 * j + 1);
            float m2 = dmin * q4kMin(s, bo + 4, 2 * j + 1);
            for (int l = 0; l < 32; l++) {
              int q = s.get(ValueLayout.JAVA_BYTE, bo + 16 + 32 * j + l) & 0xFF;
              out[y + 64 * j + l] = d1 * (q & 0xF) - m1;
              out[y + 64 * j + 32 + l] = d2 * (q >> 4) - m2;
            }
          }
        }
      }
      case Q6_K -> {
        for (int b = 0; b < cols / 256; b++) {
          long bo = base + 210L * b;
          float d = f16(s, bo + 208);
          for (int n = 0; n < 2; n++) { // two halves of 128 values
            long ql = bo + 64 * n;
            long qh = bo + 128 + 32 * n;
            long sc = bo + 192 + 8 * n;
            int y = off + 256 * b + 128 * n;
            for (int l = 0; l < 32; l++) {
              int is = l / 16;
              int a = s.get(ValueLayout.JAVA_BYTE, ql + l) & 0xFF;
              int c = s.get(ValueLayout.JAVA_BYTE, ql + 32 + l) & 0xFF;
              int h = s.get(ValueLayout.JAVA_BYTE, qh + l) & 0xFF;
              int q1 = ((a & 0xF) | ((h & 3) << 4)) - 32;
              int q2 = ((c & 0xF) | (((h >> 2) & 3) << 4)) - 32;
              int q3 = ((a >> 4) | (((h >> 4) & 3) << 4)) - 32;
              int q4 = ((c >> 4) | (((h >> 6) & 3) << 4)) - 32;
              out[y + l] = d * s.get(ValueLayout.JAVA_BYTE, sc + is) * q1;
              out[y + l + 32] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 2) * q2;
              out[y + l + 64] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 4) * q3;
              out[y + l + 96] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 6) * q4;
            }
          }
        }
      }
      default -> throw unsupported(w);
    }
  }

  /** ggml's {@code get_scale_min_k4}: the 6-bit scale of sub-block {@code j} (0..7). */
  static int q4kScale(MemorySegment s, long scales, int j) {
    if (j < 4) {
      return u8(s, scales + j) & 63;
    }
    return (u8(s, scales + j + 4) & 0xF) | ((u8(s, scales + j - 4) >> 6) << 4);
  }

  /** ggml's {@code get_scale_min_k4}: the 6-bit min of sub-block {@code j} (0..7). */
  static int q4kMin(MemorySegment s, long scales, int j) {
    if (j < 4) {
      return u8(s, scales + j + 4) & 63;
    }
    return (u8(s, scales + j + 4) >> 4) | ((u8(s, scales + j) >> 6) << 4);
  }

  private static int u8(MemorySegment s, long off) {
    return s.get(ValueLayout.JAVA_BYTE, off) & 0xFF;
  }

  static float f16(MemorySegment s, long off) {
    return Float.float16ToFloat(s.get(F16, off));
  }

  // ---------------------------------------------------------------------------------------------
  // Validation

  static long rowBytes(GgufTensor w) {
    return (long) (w.cols() / w.type().blockSize) * w.type().typeSize;
  }

  private static void checkTensor(GgufTensor w) {
    switch (w.type()) {
      case F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K -> {}
      default -> throw unsupported(w);
    }
    if (w.shape().length < 1 || w.shape()[0] <= 0 || w.cols() % w.type().blockSize != 0) {
      throw new IllegalArgumentException(
          "tensor "
              + w.name()
              + " of type "
              + w.type()
              + " has "
              + (w.shape().length < 1 ? 0 : w.shape()[0])
              + " columns, not a positive multiple of its block size "
              + w.type().blockSize);
    }
    long need = rowBytes(w) * w.rows();
    if (w.data().byteSize() < need) {
      throw new IllegalArgumentException(
          "tensor "
              + w.name()
              + " holds "
              + w.data().byteSize()
              + " bytes but "
              + w.rows()
              + " rows of "
              + w.cols()
              + " "
              + w.type()
              + " values need "
              + need);
    }
  }

  static void validate(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
    checkTensor(w);
    int rows = w.rows();
    int cols = w.cols();
    if (T < 0) {
      throw new IllegalArgumentException("T must be >= 0, got " + T);
    }
    if ((long) T * cols > x.length) {
      throw new IllegalArgumentException(
          "activations of length "
              + x.length
              + " are shorter than T="
              + T
              + " rows of "
              + cols
              + " (the columns of "
              + w.name()
              + ")");
    }
    if ((long) T * rows > out.length) {
      throw new IllegalArgumentException(
          "output of length "
              + out.length
              + " is shorter than T="
              + T
              + " rows of "
              + rows
              + " (the rows of "
              + w.name()
              + ")");
    }
    if (r0 < 0 || r1 > rows || r0 > r1) {
      throw new IllegalArgumentException(
          "row range [" + r0 + ", " + r1 + ") is outside tensor " + w.name() + " of " + rows);
    }
  }

  static IllegalArgumentException unsupported(GgufTensor w) {
    return new IllegalArgumentException(
        "tensor " + w.name() + " has type " + w.type() + ", which has no CPU matmul kernel");
  }

  /**
   * Fast version of {@link #reference}, same contract: the native VNNI kernels for quantized
   * weights where {@link NativeKernels#available()}, else the Vector API kernels. Quantized types
   * first quantize the activations to 8-bit blocks (like llama.cpp), so they differ from the
   * reference by at most the activation quantization error; see docs/kernels.md for the tolerance
   * and the kernels. Without either ({@link #vectorized()} false) it computes with {@link
   * #reference}.
   */
  public static void fast(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
    validate(w, x, T, out, r0, r1);
    if (T == 0 || r0 == r1) {
      return;
    }
    if (NativeKernels.handles(w.type())) {
      NativeKernels.matmul(w, x, T, out, r0, r1);
    } else {
      javaKernels(w, x, T, out, r0, r1);
    }
  }

  /**
   * {@link #fast} on the Vector API kernels whatever {@link NativeKernels} offers: the tests of the
   * Java kernels and the A/B experiments call it.
   */
  static void vectorFast(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
    validate(w, x, T, out, r0, r1);
    if (T == 0 || r0 == r1) {
      return;
    }
    javaKernels(w, x, T, out, r0, r1);
  }

  /** The Vector API kernels, or the reference without vectors; arguments validated. */
  private static void javaKernels(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
    if (VECTORS) {
      VectorMatMul.run(w, x, T, out, r0, r1);
    } else {
      reference(w, x, T, out, r0, r1);
    }
  }
}
