package dev.sluice.engine.cpu;

import dev.sluice.engine.gguf.GgufTensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The batched ({@code T >= 2}) kernels behind {@link MatMul#fast}: batched decode of many sequences
 * and prefill chunks, for {@code T} above {@code VectorMatMul.perTokenMax} (smaller batches run the
 * fused single-token kernels token by token, which is faster there). Inputs are validated by {@link
 * MatMul}; {@code xf} holds the activations as the products should see them (for quantized weights:
 * the 8-bit-quantized activations dequantized to float, see {@link Q8Activations#deq}).
 *
 * <p>Four weight rows are decoded into a per-thread float buffer, then a register-blocked kernel
 * multiplies them with the activation rows, four at a time (16 accumulators, 8 loads per 16 FMAs;
 * at 512 bits it runs at ~55-60 G multiply-adds/s per core, the FMA peak of the machine).
 * Remainders of 1, 2 or 3 activation rows have kernels of their own (earlier versions repeated the
 * last row to fill a group of four, so that {@code T = 2} cost as much as {@code T = 4}). The
 * weight bytes leave memory once per tile of activation rows ({@link #tile}); a decode step of up
 * to a few dozen sequences is one tile.
 *
 * <p>Where the time goes and what was tried: docs/kernels.md ("T >= 2").
 *
 * <p>Determinism: every sum is taken in a fixed order (lanes are reduced by halving the vector,
 * then four scalars added pairwise), so a result does not depend on JIT warm-up or on the thread
 * split; it may differ in the last bits from the {@code T = 1} kernels. Steady-state calls allocate
 * nothing (per-thread scratch that only grows).
 */
final class BatchedMatMul {

  private BatchedMatMul() {}

  private static final ValueLayout.OfShort F16 =
      ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfInt I32 =
      ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfLong I64 =
      ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfFloat F32 =
      ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

  private static final VectorSpecies<Float> FS = VectorMatMul.FS;
  private static final int L = VectorMatMul.L;

  /** Byte, short and int species with as many lanes as {@link #FS}. */
  private static final VectorSpecies<Byte> BS = VectorShape.forBitSize(L * 8).withLanes(byte.class);

  private static final VectorSpecies<Short> SS =
      VectorShape.forBitSize(L * 16).withLanes(short.class);
  private static final VectorSpecies<Integer> IS = FS.withLanes(int.class);

  /** Float vectors of half the lanes of {@link #FS}, and of four lanes: the lane reduction. */
  private static final VectorSpecies<Float> HALF =
      VectorShape.forBitSize(L * 16).withLanes(float.class);

  private static final VectorSpecies<Float> QUARTER = FloatVector.SPECIES_128;

  /** Per-thread scratch; arrays only grow, so steady-state calls allocate nothing. */
  private static final class Scratch {
    /** (4, cols): four decoded weight rows. */
    float[] quad = new float[0];

    /** (cols / 16): k-quants, d * scale of each sub-block of the row being decoded. */
    float[] scale = new float[0];

    /** (cols / 32): Q4_K only, dmin * min of each sub-block of the row being decoded. */
    float[] min = new float[0];

    /** The 16 accumulators of a 4 x 4 tile, spilled: (16, L). */
    final float[] lanes = new float[16 * L];

    /** The accumulators reduced to four lanes each: (16, 4). */
    final float[] four = new float[16 * 4];

    void ensure(int cols) {
      if (quad.length < 4 * cols) {
        quad = new float[4 * cols];
        scale = new float[cols / 16 + 1];
        min = new float[cols / 32 + 1];
      }
    }
  }

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  /**
   * Activation rows per tile: about 1 MiB of float activations, so that a tile stays in L2/L3 while
   * every row quad of the range passes over it (a 512-token prefill chunk is tens of megabytes).
   * Weight rows are decoded again for each tile, a few percent at these sizes; batched decode (T <=
   * 16) fits one tile for widths up to 16384.
   */
  static int tile(int cols) {
    return Math.max(4, (262144 / cols) & ~3);
  }

  /** {@code out[t * rows + r] = sum_c W[r][c] * xf[t * cols + c]}, {@code r0 <= r < r1}. */
  static void multiply(GgufTensor w, float[] xf, int T, float[] out, int r0, int r1) {
    Scratch sc = SCRATCH.get();
    sc.ensure(w.cols());
    int tile = tile(w.cols());
    for (int t0 = 0; t0 < T; t0 += tile) {
      multiplyTile(w, xf, t0, Math.min(T, t0 + tile), out, r0, r1, sc);
    }
  }

  private static void multiplyTile(
      GgufTensor w, float[] xf, int tBegin, int tEnd, float[] out, int r0, int r1, Scratch sc) {
    int rows = w.rows();
    int cols = w.cols();
    float[] quad = sc.quad;
    for (int r = r0; r < r1; r += 4) {
      // Past the end of the range the last row is repeated; its results are the same value.
      int ra = Math.min(r + 1, r1 - 1);
      int rb = Math.min(r + 2, r1 - 1);
      int rc = Math.min(r + 3, r1 - 1);
      decodeRow(w, r, quad, 0, sc);
      decodeRow(w, ra, quad, cols, sc);
      decodeRow(w, rb, quad, 2 * cols, sc);
      decodeRow(w, rc, quad, 3 * cols, sc);
      int t = tBegin;
      for (; t + 4 <= tEnd; t += 4) {
        dense4x4(quad, xf, cols, t, sc.lanes);
        finish(quad, xf, cols, t, 4, sc, out, rows, r, ra, rb, rc);
      }
      switch (tEnd - t) {
        case 3 -> {
          dense4x3(quad, xf, cols, t, sc.lanes);
          finish(quad, xf, cols, t, 3, sc, out, rows, r, ra, rb, rc);
        }
        case 2 -> {
          dense4x2(quad, xf, cols, t, sc.lanes);
          finish(quad, xf, cols, t, 2, sc, out, rows, r, ra, rb, rc);
        }
        case 1 -> {
          dense4x1(quad, xf, cols, t, sc.lanes);
          finish(quad, xf, cols, t, 1, sc, out, rows, r, ra, rb, rc);
        }
        default -> {}
      }
    }
  }

  // ------------------------------------------------------------------------ register tiles
  //
  // Accumulator (row i, activation row k) spills to lanes[(4 * i + k) * L ..]. Flat loops with
  // every vector spelled out: vectors carried through nested loops or passed to helpers that C2
  // declines to inline get boxed (an allocation per chunk).

  /** Four decoded rows (at 0, n, 2n, 3n in w) times activation rows t..t+3 of xf. */
  private static void dense4x4(float[] w, float[] xf, int n, int t, float[] lanes) {
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = a0;
    FloatVector a2 = a0;
    FloatVector a3 = a0;
    FloatVector b0 = a0;
    FloatVector b1 = a0;
    FloatVector b2 = a0;
    FloatVector b3 = a0;
    FloatVector c0 = a0;
    FloatVector c1 = a0;
    FloatVector c2 = a0;
    FloatVector c3 = a0;
    FloatVector d0 = a0;
    FloatVector d1 = a0;
    FloatVector d2 = a0;
    FloatVector d3 = a0;
    int o0 = t * n;
    int o1 = o0 + n;
    int o2 = o1 + n;
    int o3 = o2 + n;
    int end = n - n % L;
    for (int c = 0; c < end; c += L) {
      FloatVector x0 = FloatVector.fromArray(FS, xf, o0 + c);
      FloatVector x1 = FloatVector.fromArray(FS, xf, o1 + c);
      FloatVector x2 = FloatVector.fromArray(FS, xf, o2 + c);
      FloatVector x3 = FloatVector.fromArray(FS, xf, o3 + c);
      FloatVector w0 = FloatVector.fromArray(FS, w, c);
      a0 = w0.fma(x0, a0);
      a1 = w0.fma(x1, a1);
      a2 = w0.fma(x2, a2);
      a3 = w0.fma(x3, a3);
      FloatVector w1 = FloatVector.fromArray(FS, w, n + c);
      b0 = w1.fma(x0, b0);
      b1 = w1.fma(x1, b1);
      b2 = w1.fma(x2, b2);
      b3 = w1.fma(x3, b3);
      FloatVector w2 = FloatVector.fromArray(FS, w, 2 * n + c);
      c0 = w2.fma(x0, c0);
      c1 = w2.fma(x1, c1);
      c2 = w2.fma(x2, c2);
      c3 = w2.fma(x3, c3);
      FloatVector w3 = FloatVector.fromArray(FS, w, 3 * n + c);
      d0 = w3.fma(x0, d0);
      d1 = w3.fma(x1, d1);
      d2 = w3.fma(x2, d2);
      d3 = w3.fma(x3, d3);
    }
    a0.intoArray(lanes, 0);
    a1.intoArray(lanes, L);
    a2.intoArray(lanes, 2 * L);
    a3.intoArray(lanes, 3 * L);
    b0.intoArray(lanes, 4 * L);
    b1.intoArray(lanes, 5 * L);
    b2.intoArray(lanes, 6 * L);
    b3.intoArray(lanes, 7 * L);
    c0.intoArray(lanes, 8 * L);
    c1.intoArray(lanes, 9 * L);
    c2.intoArray(lanes, 10 * L);
    c3.intoArray(lanes, 11 * L);
    d0.intoArray(lanes, 12 * L);
    d1.intoArray(lanes, 13 * L);
    d2.intoArray(lanes, 14 * L);
    d3.intoArray(lanes, 15 * L);
  }

  /** Four decoded rows times activation rows t..t+2. */
  private static void dense4x3(float[] w, float[] xf, int n, int t, float[] lanes) {
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = a0;
    FloatVector a2 = a0;
    FloatVector b0 = a0;
    FloatVector b1 = a0;
    FloatVector b2 = a0;
    FloatVector c0 = a0;
    FloatVector c1 = a0;
    FloatVector c2 = a0;
    FloatVector d0 = a0;
    FloatVector d1 = a0;
    FloatVector d2 = a0;
    int o0 = t * n;
    int o1 = o0 + n;
    int o2 = o1 + n;
    int end = n - n % L;
    for (int c = 0; c < end; c += L) {
      FloatVector x0 = FloatVector.fromArray(FS, xf, o0 + c);
      FloatVector x1 = FloatVector.fromArray(FS, xf, o1 + c);
      FloatVector x2 = FloatVector.fromArray(FS, xf, o2 + c);
      FloatVector w0 = FloatVector.fromArray(FS, w, c);
      a0 = w0.fma(x0, a0);
      a1 = w0.fma(x1, a1);
      a2 = w0.fma(x2, a2);
      FloatVector w1 = FloatVector.fromArray(FS, w, n + c);
      b0 = w1.fma(x0, b0);
      b1 = w1.fma(x1, b1);
      b2 = w1.fma(x2, b2);
      FloatVector w2 = FloatVector.fromArray(FS, w, 2 * n + c);
      c0 = w2.fma(x0, c0);
      c1 = w2.fma(x1, c1);
      c2 = w2.fma(x2, c2);
      FloatVector w3 = FloatVector.fromArray(FS, w, 3 * n + c);
      d0 = w3.fma(x0, d0);
      d1 = w3.fma(x1, d1);
      d2 = w3.fma(x2, d2);
    }
    a0.intoArray(lanes, 0);
    a1.intoArray(lanes, L);
    a2.intoArray(lanes, 2 * L);
    b0.intoArray(lanes, 4 * L);
    b1.intoArray(lanes, 5 * L);
    b2.intoArray(lanes, 6 * L);
    c0.intoArray(lanes, 8 * L);
    c1.intoArray(lanes, 9 * L);
    c2.intoArray(lanes, 10 * L);
    d0.intoArray(lanes, 12 * L);
    d1.intoArray(lanes, 13 * L);
    d2.intoArray(lanes, 14 * L);
  }

  /** Four decoded rows times activation rows t, t + 1. */
  private static void dense4x2(float[] w, float[] xf, int n, int t, float[] lanes) {
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = a0;
    FloatVector b0 = a0;
    FloatVector b1 = a0;
    FloatVector c0 = a0;
    FloatVector c1 = a0;
    FloatVector d0 = a0;
    FloatVector d1 = a0;
    int o0 = t * n;
    int o1 = o0 + n;
    int end = n - n % L;
    for (int c = 0; c < end; c += L) {
      FloatVector x0 = FloatVector.fromArray(FS, xf, o0 + c);
      FloatVector x1 = FloatVector.fromArray(FS, xf, o1 + c);
      FloatVector w0 = FloatVector.fromArray(FS, w, c);
      a0 = w0.fma(x0, a0);
      a1 = w0.fma(x1, a1);
      FloatVector w1 = FloatVector.fromArray(FS, w, n + c);
      b0 = w1.fma(x0, b0);
      b1 = w1.fma(x1, b1);
      FloatVector w2 = FloatVector.fromArray(FS, w, 2 * n + c);
      c0 = w2.fma(x0, c0);
      c1 = w2.fma(x1, c1);
      FloatVector w3 = FloatVector.fromArray(FS, w, 3 * n + c);
      d0 = w3.fma(x0, d0);
      d1 = w3.fma(x1, d1);
    }
    a0.intoArray(lanes, 0);
    a1.intoArray(lanes, L);
    b0.intoArray(lanes, 4 * L);
    b1.intoArray(lanes, 5 * L);
    c0.intoArray(lanes, 8 * L);
    c1.intoArray(lanes, 9 * L);
    d0.intoArray(lanes, 12 * L);
    d1.intoArray(lanes, 13 * L);
  }

  /** Four decoded rows times activation row t. */
  private static void dense4x1(float[] w, float[] xf, int n, int t, float[] lanes) {
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector b0 = a0;
    FloatVector c0 = a0;
    FloatVector d0 = a0;
    int o = t * n;
    int end = n - n % L;
    for (int c = 0; c < end; c += L) {
      FloatVector x0 = FloatVector.fromArray(FS, xf, o + c);
      a0 = FloatVector.fromArray(FS, w, c).fma(x0, a0);
      b0 = FloatVector.fromArray(FS, w, n + c).fma(x0, b0);
      c0 = FloatVector.fromArray(FS, w, 2 * n + c).fma(x0, c0);
      d0 = FloatVector.fromArray(FS, w, 3 * n + c).fma(x0, d0);
    }
    a0.intoArray(lanes, 0);
    b0.intoArray(lanes, 4 * L);
    c0.intoArray(lanes, 8 * L);
    d0.intoArray(lanes, 12 * L);
  }

  /**
   * Reduces the spilled accumulators of activation rows t..t+k-1, adds the column tail (n % L
   * columns, unquantized types only) and writes the 4 x k results.
   */
  private static void finish(
      float[] w,
      float[] xf,
      int n,
      int t,
      int k,
      Scratch sc,
      float[] out,
      int rows,
      int r,
      int ra,
      int rb,
      int rc) {
    float[] lanes = sc.lanes;
    float[] four = sc.four;
    // Each accumulator is folded in halves to four lanes (512 -> 256 -> 128 bits): two vector
    // adds instead of twelve scalar ones; the order is fixed, so results do not depend on the JIT.
    for (int i = 0; i < 4; i++) {
      for (int j = 0; j < k; j++) {
        int a = 4 * i + j;
        FloatVector v = FloatVector.fromArray(FS, lanes, a * L);
        FloatVector h =
            ((FloatVector) v.reinterpretShape(HALF, 0))
                .add((FloatVector) v.reinterpretShape(HALF, 1));
        if (L == 16) {
          h =
              ((FloatVector) h.reinterpretShape(QUARTER, 0))
                  .add((FloatVector) h.reinterpretShape(QUARTER, 1));
        }
        h.intoArray(four, 4 * a);
      }
    }
    int end = n - n % L;
    for (int j = 0; j < k; j++) {
      int o = (t + j) * n;
      float s0 = sum4(four, 4 * j);
      float s1 = sum4(four, 4 * (4 + j));
      float s2 = sum4(four, 4 * (8 + j));
      float s3 = sum4(four, 4 * (12 + j));
      for (int c = end; c < n; c++) {
        float xc = xf[o + c];
        s0 += w[c] * xc;
        s1 += w[n + c] * xc;
        s2 += w[2 * n + c] * xc;
        s3 += w[3 * n + c] * xc;
      }
      // Rows repeated past the end of the range write the same value twice.
      int base = (t + j) * rows;
      out[base + r] = s0;
      out[base + ra] = s1;
      out[base + rb] = s2;
      out[base + rc] = s3;
    }
  }

  private static float sum4(float[] a, int i) {
    return (a[i] + a[i + 1]) + (a[i + 2] + a[i + 3]);
  }

  // ------------------------------------------------------------------------ row decoders

  /**
   * Row {@code row} of {@code w} as floats into {@code dst[off .. off + cols)}, exactly as {@link
   * MatMul#dequantizeRow}. One small method per type: a single method with every case grew past
   * C2's inlining budget and boxed vectors.
   */
  private static void decodeRow(GgufTensor w, int row, float[] dst, int off, Scratch sc) {
    MemorySegment s = w.data();
    int n = w.cols();
    long base = row * MatMul.rowBytes(w);
    switch (w.type()) {
      case F32 -> MemorySegment.copy(s, F32, base, dst, off, n);
      case F16 -> decodeF16(s, base, n, dst, off);
      case BF16 -> decodeBF16(s, base, n, dst, off);
      case Q8_0 -> decodeQ80(s, base, n, dst, off);
      case Q4_0 -> decodeQ40(s, base, n, dst, off);
      case Q4_K -> decodeQ4K(s, base, n, dst, off, sc.scale, sc.min);
      case Q6_K -> decodeQ6K(s, base, n, dst, off, sc.scale);
      default -> throw MatMul.unsupported(w);
    }
  }

  private static void decodeF16(MemorySegment s, long base, int n, float[] dst, int off) {
    int c = 0;
    for (; c + L <= n; c += L) {
      VectorMatMul.halfToFloat(ShortVector.fromMemorySegment(SS, s, base + 2L * c, LE))
          .intoArray(dst, off + c);
    }
    for (; c < n; c++) {
      dst[off + c] = Float.float16ToFloat(s.get(F16, base + 2L * c));
    }
  }

  private static void decodeBF16(MemorySegment s, long base, int n, float[] dst, int off) {
    int c = 0;
    for (; c + L <= n; c += L) {
      ((IntVector)
              ShortVector.fromMemorySegment(SS, s, base + 2L * c, LE)
                  .convertShape(VectorOperators.S2I, IS, 0))
          .lanewise(VectorOperators.LSHL, 16)
          .reinterpretAsFloats()
          .intoArray(dst, off + c);
    }
    for (; c < n; c++) {
      dst[off + c] = Float.intBitsToFloat(s.get(F16, base + 2L * c) << 16);
    }
  }

  /** One 32-value block per step, one scale read per block (25% faster than per vector). */
  private static void decodeQ80(MemorySegment s, long base, int n, float[] dst, int off) {
    for (int p = 0; p < n; p += 32) {
      long bo = base + 34L * (p >> 5);
      float d = Float.float16ToFloat(s.get(F16, bo));
      for (int j = 0; j < 32; j += L) {
        ((FloatVector)
                ((IntVector)
                        ByteVector.fromMemorySegment(BS, s, bo + 2 + j, LE)
                            .convertShape(VectorOperators.B2I, IS, 0))
                    .convert(VectorOperators.I2F, 0))
            .mul(d)
            .intoArray(dst, off + p + j);
      }
    }
  }

  private static void decodeQ40(MemorySegment s, long base, int n, float[] dst, int off) {
    for (int p = 0; p < n / 2; p += L) {
      int b = p >> 4;
      int j = p & 15;
      long bo = base + 18L * b;
      float d = Float.float16ToFloat(s.get(F16, bo));
      IntVector v =
          (IntVector)
              ByteVector.fromMemorySegment(BS, s, bo + 2 + j, LE)
                  .convertShape(VectorOperators.B2I, IS, 0);
      ((FloatVector) v.and(0xF).sub(8).convert(VectorOperators.I2F, 0))
          .mul(d)
          .intoArray(dst, off + 32 * b + j);
      ((FloatVector)
              v.lanewise(VectorOperators.LSHR, 4).and(0xF).sub(8).convert(VectorOperators.I2F, 0))
          .mul(d)
          .intoArray(dst, off + 32 * b + 16 + j);
    }
  }

  private static void decodeQ4K(
      MemorySegment s, long base, int n, float[] dst, int off, float[] scale, float[] min) {
    for (int b = 0; b < n / 256; b++) {
      long bo = base + 144L * b;
      int dd = s.get(I32, bo);
      float d = Float.float16ToFloat((short) dd);
      float dmin = Float.float16ToFloat((short) (dd >>> 16));
      // get_scale_min_k4 for all 8 sub-blocks at once, four bytes per int (llama.cpp's utmp).
      int u0 = s.get(I32, bo + 4);
      int u1 = s.get(I32, bo + 8);
      int u2 = s.get(I32, bo + 12);
      int sc03 = u0 & 0x3f3f3f3f;
      int m03 = u1 & 0x3f3f3f3f;
      int sc47 = (u2 & 0x0f0f0f0f) | (((u0 >>> 6) & 0x03030303) << 4);
      int m47 = ((u2 >>> 4) & 0x0f0f0f0f) | (((u1 >>> 6) & 0x03030303) << 4);
      int k = 8 * b;
      for (int j = 0; j < 4; j++) {
        int sh = 8 * j;
        scale[k + j] = d * ((sc03 >>> sh) & 0xFF);
        scale[k + 4 + j] = d * ((sc47 >>> sh) & 0xFF);
        min[k + j] = dmin * ((m03 >>> sh) & 0xFF);
        min[k + 4 + j] = dmin * ((m47 >>> sh) & 0xFF);
      }
    }
    for (int p = 0; p < n / 2; p += L) {
      int b = p >> 7;
      int q = p & 127;
      int k = 8 * b + 2 * (q >> 5);
      IntVector v =
          (IntVector)
              ByteVector.fromMemorySegment(BS, s, base + 144L * b + 16 + q, LE)
                  .convertShape(VectorOperators.B2I, IS, 0);
      int y = off + 256 * b + 2 * (q & ~31) + (q & 31);
      ((FloatVector) v.and(0xF).convert(VectorOperators.I2F, 0))
          .mul(scale[k])
          .sub(min[k])
          .intoArray(dst, y);
      ((FloatVector) v.lanewise(VectorOperators.LSHR, 4).and(0xF).convert(VectorOperators.I2F, 0))
          .mul(scale[k + 1])
          .sub(min[k + 1])
          .intoArray(dst, y + 32);
    }
  }

  private static void decodeQ6K(
      MemorySegment s, long base, int n, float[] dst, int off, float[] scale) {
    for (int b = 0; b < n / 256; b++) {
      long bo = base + 210L * b;
      float d = Float.float16ToFloat(s.get(F16, bo + 208));
      long lo = s.get(I64, bo + 192);
      long hi = s.get(I64, bo + 200);
      for (int k = 0; k < 8; k++) {
        scale[16 * b + k] = d * (byte) (lo >>> (8 * k));
        scale[16 * b + 8 + k] = d * (byte) (hi >>> (8 * k));
      }
    }
    // Chunk p (L values of each of the four quarter-groups): super-block b = p / 64, half
    // h = (p / 32) & 1, position l = p & 31 of the half's 32-byte ql/qh columns; elements
    // 128h + l (+32, +64, +96), in sub-blocks of 16 starting at (128h + l) / 16.
    for (int p = 0; p < n / 4; p += L) {
      int b = p >> 6;
      int h = (p >> 5) & 1;
      int l = p & 31;
      long bo = base + 210L * b;
      IntVector va =
          (IntVector)
              ByteVector.fromMemorySegment(BS, s, bo + 64 * h + l, LE)
                  .convertShape(VectorOperators.B2I, IS, 0);
      IntVector vc =
          (IntVector)
              ByteVector.fromMemorySegment(BS, s, bo + 64 * h + 32 + l, LE)
                  .convertShape(VectorOperators.B2I, IS, 0);
      IntVector vh =
          (IntVector)
              ByteVector.fromMemorySegment(BS, s, bo + 128 + 32 * h + l, LE)
                  .convertShape(VectorOperators.B2I, IS, 0);
      int k = 16 * b + 8 * h + (l >> 4);
      int y = off + 256 * b + 128 * h + l;
      ((FloatVector)
              va.and(0xF)
                  .or(vh.lanewise(VectorOperators.LSHL, 4).and(0x30))
                  .sub(32)
                  .convert(VectorOperators.I2F, 0))
          .mul(scale[k])
          .intoArray(dst, y);
      ((FloatVector)
              vc.and(0xF)
                  .or(vh.lanewise(VectorOperators.LSHL, 2).and(0x30))
                  .sub(32)
                  .convert(VectorOperators.I2F, 0))
          .mul(scale[k + 2])
          .intoArray(dst, y + 32);
      ((FloatVector)
              va.lanewise(VectorOperators.LSHR, 4)
                  .and(0xF)
                  .or(vh.and(0x30))
                  .sub(32)
                  .convert(VectorOperators.I2F, 0))
          .mul(scale[k + 4])
          .intoArray(dst, y + 64);
      ((FloatVector)
              vc.lanewise(VectorOperators.LSHR, 4)
                  .and(0xF)
                  .or(vh.lanewise(VectorOperators.LSHR, 2).and(0x30))
                  .sub(32)
                  .convert(VectorOperators.I2F, 0))
          .mul(scale[k + 6])
          .intoArray(dst, y + 96);
    }
  }
}
