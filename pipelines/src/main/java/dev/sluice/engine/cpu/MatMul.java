package dev.sluice.engine.cpu;

import dev.sluice.engine.gguf.GgufTensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

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
  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

  /** Float lanes: the preferred species when it has 8 or 16 lanes (AVX2 / AVX-512). */
  static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;

  static final int L = FS.length();

  /** Whether the vector kernels can run here; otherwise {@link #fast} uses the reference. */
  static final boolean VECTOR_OK = L == 8 || L == 16;

  /** Byte, short and int species with as many lanes as {@link #FS}. */
  private static final VectorSpecies<Byte> BS =
      VECTOR_OK ? VectorShape.forBitSize(L * 8).withLanes(byte.class) : null;

  private static final VectorSpecies<Short> SS =
      VECTOR_OK ? VectorShape.forBitSize(L * 16).withLanes(short.class) : null;
  private static final VectorSpecies<Integer> IS = VECTOR_OK ? FS.withLanes(int.class) : null;

  /** Butterfly shuffles for {@link #sum}: lane i swaps with lane i ^ k, k = L/2 .. 1. */
  private static final VectorShuffle<Float>[] BUTTERFLY = butterflies();

  @SuppressWarnings("unchecked")
  private static VectorShuffle<Float>[] butterflies() {
    if (!VECTOR_OK) {
      return null;
    }
    int steps = Integer.numberOfTrailingZeros(L);
    VectorShuffle<Float>[] s = new VectorShuffle[steps];
    for (int i = 0; i < steps; i++) {
      int k = L >> (i + 1);
      s[i] = VectorShuffle.fromOp(FS, lane -> lane ^ k);
    }
    return s;
  }

  /**
   * Sum of the lanes in a fixed order. {@code reduceLanes(ADD)} leaves the order unspecified, and
   * it does differ between the interpreter and C2, which made results depend on JIT warm-up.
   */
  static float sum(FloatVector v) {
    for (VectorShuffle<Float> s : BUTTERFLY) {
      v = v.add(v.rearrange(s));
    }
    return v.lane(0);
  }

  private static final ThreadLocal<Q8Activations> SCRATCH =
      ThreadLocal.withInitial(Q8Activations::new);

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

  private static float f16(MemorySegment s, long off) {
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

  private static void validate(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
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

  private static IllegalArgumentException unsupported(GgufTensor w) {
    return new IllegalArgumentException(
        "tensor " + w.name() + " has type " + w.type() + ", which has no CPU matmul kernel");
  }

  // ---------------------------------------------------------------------------------------------
  // Fast

  /**
   * Vector API version of {@link #reference}, same contract. Quantized types first quantize the
   * activations to 8-bit blocks (like llama.cpp), so they differ from the reference by at most the
   * activation quantization error; see docs/kernels.md for the tolerance.
   */
  public static void fast(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
    validate(w, x, T, out, r0, r1);
    if (T == 0 || r0 == r1) {
      return;
    }
    if (!VECTOR_OK) {
      reference(w, x, T, out, r0, r1);
      return;
    }
    MemorySegment s = w.data();
    int rows = w.rows();
    int cols = w.cols();
    long rb = rowBytes(w);
    switch (w.type()) {
      case F32 -> {
        for (int r = r0; r < r1; r++) {
          for (int t = 0; t < T; t++) {
            out[t * rows + r] = dotF32(s, r * rb, x, t * cols, cols);
          }
        }
      }
      case F16 -> {
        for (int r = r0; r < r1; r++) {
          for (int t = 0; t < T; t++) {
            out[t * rows + r] = dotF16(s, r * rb, x, t * cols, cols);
          }
        }
      }
      case BF16 -> {
        for (int r = r0; r < r1; r++) {
          for (int t = 0; t < T; t++) {
            out[t * rows + r] = dotBF16(s, r * rb, x, t * cols, cols);
          }
        }
      }
      case Q8_0 -> {
        Q8Activations a = SCRATCH.get();
        a.quantizeQ80(x, T, cols);
        for (int r = r0; r < r1; r++) {
          for (int t = 0; t < T; t++) {
            out[t * rows + r] = dotQ80(s, r * rb, a.q, a.d, t * cols, cols);
          }
        }
      }
      case Q4_0 -> {
        Q8Activations a = SCRATCH.get();
        a.quantizeQ80(x, T, cols);
        for (int r = r0; r < r1; r++) {
          for (int t = 0; t < T; t++) {
            out[t * rows + r] = dotQ40(s, r * rb, a.q, a.d, t * cols, cols);
          }
        }
      }
      case Q4_K -> {
        Q8Activations a = SCRATCH.get();
        a.quantizeQ8K(x, T, cols);
        for (int r = r0; r < r1; r++) {
          for (int t = 0; t < T; t++) {
            out[t * rows + r] = dotQ4K(s, r * rb, a, t * cols, cols);
          }
        }
      }
      case Q6_K -> {
        Q8Activations a = SCRATCH.get();
        a.quantizeQ8K(x, T, cols);
        for (int r = r0; r < r1; r++) {
          for (int t = 0; t < T; t++) {
            out[t * rows + r] = dotQ6K(s, r * rb, a, t * cols, cols);
          }
        }
      }
      default -> throw unsupported(w);
    }
  }

  private static float dotF32(MemorySegment s, long off, float[] x, int xo, int n) {
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = FloatVector.zero(FS);
    int c = 0;
    for (; c + 2 * L <= n; c += 2 * L) {
      a0 =
          FloatVector.fromMemorySegment(FS, s, off + 4L * c, LE)
              .fma(FloatVector.fromArray(FS, x, xo + c), a0);
      a1 =
          FloatVector.fromMemorySegment(FS, s, off + 4L * (c + L), LE)
              .fma(FloatVector.fromArray(FS, x, xo + c + L), a1);
    }
    float sum = sum(a0.add(a1));
    for (; c < n; c++) {
      sum += s.get(F32, off + 4L * c) * x[xo + c];
    }
    return sum;
  }

  /** IEEE half to float on {@link #L} lanes, including subnormals, infinities and NaN. */
  static FloatVector halfToFloat(ShortVector h) {
    IntVector i = (IntVector) h.convertShape(VectorOperators.S2I, IS, 0);
    IntVector em = i.and(0x7fff).lanewise(VectorOperators.LSHL, 13);
    // Exponent rebias by a multiply: exact for normals, and turns subnormal halves (f32
    // denormals here) into the right normal floats.
    IntVector scaled = em.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
    VectorMask<Integer> special = i.and(0x7c00).eq(0x7c00);
    IntVector bits = scaled.blend(em.or(0x7f800000), special);
    return bits.or(i.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
  }

  private static float dotF16(MemorySegment s, long off, float[] x, int xo, int n) {
    FloatVector a0 = FloatVector.zero(FS);
    int c = 0;
    for (; c + L <= n; c += L) {
      FloatVector wv = halfToFloat(ShortVector.fromMemorySegment(SS, s, off + 2L * c, LE));
      a0 = wv.fma(FloatVector.fromArray(FS, x, xo + c), a0);
    }
    float sum = sum(a0);
    for (; c < n; c++) {
      sum += Float.float16ToFloat(s.get(F16, off + 2L * c)) * x[xo + c];
    }
    return sum;
  }

  private static float dotBF16(MemorySegment s, long off, float[] x, int xo, int n) {
    FloatVector a0 = FloatVector.zero(FS);
    int c = 0;
    for (; c + L <= n; c += L) {
      FloatVector wv =
          ((IntVector)
                  ShortVector.fromMemorySegment(SS, s, off + 2L * c, LE)
                      .convertShape(VectorOperators.S2I, IS, 0))
              .lanewise(VectorOperators.LSHL, 16)
              .reinterpretAsFloats();
      a0 = wv.fma(FloatVector.fromArray(FS, x, xo + c), a0);
    }
    float sum = sum(a0);
    for (; c < n; c++) {
      sum += Float.intBitsToFloat(s.get(F16, off + 2L * c) << 16) * x[xo + c];
    }
    return sum;
  }

  private static FloatVector bytesToFloat(ByteVector b) {
    return (FloatVector) b.convertShape(VectorOperators.B2F, FS, 0);
  }

  private static float dotQ80(MemorySegment s, long off, float[] xq, float[] xd, int xo, int n) {
    FloatVector acc = FloatVector.zero(FS);
    int xb = xo / 32;
    for (int b = 0; b < n / 32; b++) {
      long bo = off + 34L * b;
      FloatVector blk = FloatVector.zero(FS);
      for (int j = 0; j < 32; j += L) {
        FloatVector wq = bytesToFloat(ByteVector.fromMemorySegment(BS, s, bo + 2 + j, LE));
        blk = wq.fma(FloatVector.fromArray(FS, xq, xo + 32 * b + j), blk);
      }
      acc = blk.fma(FloatVector.broadcast(FS, f16(s, bo) * xd[xb + b]), acc);
    }
    return sum(acc);
  }

  private static float dotQ40(MemorySegment s, long off, float[] xq, float[] xd, int xo, int n) {
    FloatVector acc = FloatVector.zero(FS);
    int xb = xo / 32;
    for (int b = 0; b < n / 32; b++) {
      long bo = off + 18L * b;
      FloatVector blk = FloatVector.zero(FS);
      for (int j = 0; j < 16; j += L) {
        ByteVector v = ByteVector.fromMemorySegment(BS, s, bo + 2 + j, LE);
        FloatVector lo = bytesToFloat(v.and((byte) 0xF).sub((byte) 8));
        FloatVector hi = bytesToFloat(v.lanewise(VectorOperators.LSHR, 4).sub((byte) 8));
        blk = lo.fma(FloatVector.fromArray(FS, xq, xo + 32 * b + j), blk);
        blk = hi.fma(FloatVector.fromArray(FS, xq, xo + 32 * b + 16 + j), blk);
      }
      acc = blk.fma(FloatVector.broadcast(FS, f16(s, bo) * xd[xb + b]), acc);
    }
    return sum(acc);
  }

  private static float dotQ4K(MemorySegment s, long off, Q8Activations a, int xo, int n) {
    FloatVector acc = FloatVector.zero(FS);
    float mins = 0f;
    int xb = xo / 256;
    for (int b = 0; b < n / 256; b++) {
      long bo = off + 144L * b;
      float dx = a.d[xb + b];
      float d = f16(s, bo) * dx;
      float dmin = f16(s, bo + 2) * dx;
      int msum = 0;
      for (int j = 0; j < 8; j++) {
        msum += q4kMin(s, bo + 4, j) * (int) a.sum32[(xb + b) * 8 + j];
      }
      mins += dmin * msum;
      int x0 = xo + 256 * b;
      for (int j = 0; j < 4; j++) {
        FloatVector lo = FloatVector.zero(FS);
        FloatVector hi = FloatVector.zero(FS);
        for (int l = 0; l < 32; l += L) {
          ByteVector v = ByteVector.fromMemorySegment(BS, s, bo + 16 + 32 * j + l, LE);
          lo =
              bytesToFloat(v.and((byte) 0xF))
                  .fma(FloatVector.fromArray(FS, a.q, x0 + 64 * j + l), lo);
          hi =
              bytesToFloat(v.lanewise(VectorOperators.LSHR, 4))
                  .fma(FloatVector.fromArray(FS, a.q, x0 + 64 * j + 32 + l), hi);
        }
        acc = lo.fma(FloatVector.broadcast(FS, d * q4kScale(s, bo + 4, 2 * j)), acc);
        acc = hi.fma(FloatVector.broadcast(FS, d * q4kScale(s, bo + 4, 2 * j + 1)), acc);
      }
    }
    return sum(acc) - mins;
  }

  private static float dotQ6K(MemorySegment s, long off, Q8Activations a, int xo, int n) {
    FloatVector acc = FloatVector.zero(FS);
    int xb = xo / 256;
    for (int b = 0; b < n / 256; b++) {
      long bo = off + 210L * b;
      float d = f16(s, bo + 208) * a.d[xb + b];
      for (int h = 0; h < 2; h++) {
        long ql = bo + 64 * h;
        long qh = bo + 128 + 32 * h;
        long sc = bo + 192 + 8 * h;
        int x0 = xo + 256 * b + 128 * h;
        for (int l = 0; l < 32; l += L) {
          int is = l / 16;
          ByteVector va = ByteVector.fromMemorySegment(BS, s, ql + l, LE);
          ByteVector vc = ByteVector.fromMemorySegment(BS, s, ql + 32 + l, LE);
          ByteVector vh = ByteVector.fromMemorySegment(BS, s, qh + l, LE);
          ByteVector q1 =
              va.and((byte) 0xF).or(vh.lanewise(VectorOperators.LSHL, 4).and((byte) 0x30));
          ByteVector q2 =
              vc.and((byte) 0xF).or(vh.lanewise(VectorOperators.LSHL, 2).and((byte) 0x30));
          ByteVector q3 = va.lanewise(VectorOperators.LSHR, 4).or(vh.and((byte) 0x30));
          ByteVector q4 =
              vc.lanewise(VectorOperators.LSHR, 4)
                  .or(vh.lanewise(VectorOperators.LSHR, 2).and((byte) 0x30));
          FloatVector p1 =
              bytesToFloat(q1.sub((byte) 32)).mul(FloatVector.fromArray(FS, a.q, x0 + l));
          FloatVector p2 =
              bytesToFloat(q2.sub((byte) 32)).mul(FloatVector.fromArray(FS, a.q, x0 + 32 + l));
          FloatVector p3 =
              bytesToFloat(q3.sub((byte) 32)).mul(FloatVector.fromArray(FS, a.q, x0 + 64 + l));
          FloatVector p4 =
              bytesToFloat(q4.sub((byte) 32)).mul(FloatVector.fromArray(FS, a.q, x0 + 96 + l));
          acc = p1.fma(FloatVector.broadcast(FS, d * s.get(ValueLayout.JAVA_BYTE, sc + is)), acc);
          acc =
              p2.fma(FloatVector.broadcast(FS, d * s.get(ValueLayout.JAVA_BYTE, sc + is + 2)), acc);
          acc =
              p3.fma(FloatVector.broadcast(FS, d * s.get(ValueLayout.JAVA_BYTE, sc + is + 4)), acc);
          acc =
              p4.fma(FloatVector.broadcast(FS, d * s.get(ValueLayout.JAVA_BYTE, sc + is + 6)), acc);
        }
      }
    }
    return sum(acc);
  }
}
