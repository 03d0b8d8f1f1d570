package dev.sluice.engine.cpu;

import dev.sluice.engine.gguf.GgmlType;
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
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API kernels behind {@link MatMul#fast}; inputs are validated there. Loaded only when
 * the {@code jdk.incubator.vector} module is present, so that {@link MatMul#reference} works
 * without it. Strategies and measurements: docs/kernels.md.
 */
final class VectorMatMul {

  private VectorMatMul() {}

  private static final ValueLayout.OfShort F16 =
      ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfFloat F32 =
      ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfInt I32 =
      ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfLong I64 =
      ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

  /** Float lanes: the preferred species; the kernels need 8 or 16 lanes (AVX2 / AVX-512). */
  static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;

  static final int L = FS.length();

  static boolean supported() {
    return L == 8 || L == 16;
  }

  /** Byte, short and int species with as many lanes as {@link #FS}. */
  private static final VectorSpecies<Byte> BS =
      supported() ? VectorShape.forBitSize(L * 8).withLanes(byte.class) : null;

  private static final VectorSpecies<Short> SS =
      supported() ? VectorShape.forBitSize(L * 16).withLanes(short.class) : null;
  private static final VectorSpecies<Integer> IS = supported() ? FS.withLanes(int.class) : null;

  /** Byte and short species with twice as many lanes as {@link #FS} (the Q8_0 integer path). */
  private static final VectorSpecies<Byte> BS2 =
      supported() ? VectorShape.forBitSize(L * 16).withLanes(byte.class) : null;

  private static final VectorSpecies<Short> SS2 =
      supported() ? VectorShape.forBitSize(L * 32).withLanes(short.class) : null;

  // ---------------------------------------------------------------------------------------------
  // T = 1 (decode): one fused kernel per type streams the weight row once, unpacks each vector
  // chunk in registers (scales included: a separate decode pass over the row was slower) and
  // multiplies it with the quantized activations. Loops are flat: with vector accumulators carried
  // through nested loops C2 failed to eliminate the vector boxes (an allocation per chunk, 20x
  // slower). Packed nibbles are widened to int lanes before shifting: shifts of byte lanes were
  // not intrinsified and fell back to Java code. Vector helpers are spelled out inline: past its
  // node-count cutoff C2 stops inlining small methods that take or return vectors, and boxes.
  //
  // T >= 2 (batched) is BatchedMatMul: decoded weight rows times the 8-bit-quantized activations
  // dequantized to float, so the numerics still follow llama.cpp's activation quantization.
  //
  // Lane sums go through an array in a fixed order: reduceLanes(ADD) leaves the order unspecified
  // and it does differ between the interpreter and C2, which made results depend on JIT warm-up.

  /** Per-thread scratch; arrays only grow, so steady-state calls allocate nothing. */
  private static final class Scratch {
    final Q8Activations act = new Q8Activations();

    /** Vector lanes spilled for a fixed-order sum: 16 accumulators. */
    final float[] lanes = new float[16 * Math.max(L, 1)];
  }

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  /** The body of {@link MatMul#fast} once validated, with vectors available. */
  static void run(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
    Scratch sc = SCRATCH.get();
    int cols = w.cols();
    Q8Activations a = sc.act;
    GgmlType type = w.type();
    switch (type) {
      case Q8_0, Q4_0 -> a.quantizeQ80(x, T, cols, T > 1);
      case Q4_K, Q6_K -> a.quantizeQ8K(x, T, cols, T > 1);
      default -> {}
    }
    if (T == 1) {
      decodeLoop(w, x, out, r0, r1, sc);
    } else {
      BatchedMatMul.multiply(w, type.blockSize > 1 ? a.deq : x, T, out, r0, r1);
    }
  }

  private static void decodeLoop(GgufTensor w, float[] x, float[] out, int r0, int r1, Scratch sc) {
    MemorySegment s = w.data();
    int cols = w.cols();
    long rb = MatMul.rowBytes(w);
    Q8Activations a = sc.act;
    float[] lanes = sc.lanes;
    for (int r = r0; r < r1; r++) {
      long off = r * rb;
      out[r] =
          switch (w.type()) {
            case F32 -> dotF32(s, off, x, cols, lanes);
            case F16 -> dotF16(s, off, x, cols, lanes);
            case BF16 -> dotBF16(s, off, x, cols, lanes);
            case Q8_0 -> dotQ80(s, off, a.qs, a.d, cols, lanes);
            case Q4_0 -> dotQ40(s, off, a.q, a.d, cols, lanes);
            case Q4_K -> dotQ4K(s, off, a, cols, lanes);
            case Q6_K -> dotQ6K(s, off, a, cols, lanes);
            default -> throw MatMul.unsupported(w);
          };
    }
  }

  private static float lanesSum(float[] lanes, int from) {
    // Four interleaved partial sums: a fixed order, without one long dependency chain.
    float s0 = 0f;
    float s1 = 0f;
    float s2 = 0f;
    float s3 = 0f;
    for (int i = from; i < from + L; i += 4) {
      s0 += lanes[i];
      s1 += lanes[i + 1];
      s2 += lanes[i + 2];
      s3 += lanes[i + 3];
    }
    return (s0 + s1) + (s2 + s3);
  }

  // ----------------------------------------------------------------------- unquantized

  /** IEEE half to float on {@link #L} lanes, including subnormals, infinities and NaN. */
  static FloatVector halfToFloat(ShortVector h) {
    IntVector i = (IntVector) h.convertShape(VectorOperators.S2I, IS, 0);
    IntVector em = i.and(0x7fff).lanewise(VectorOperators.LSHL, 13);
    // Exponent rebias by a multiply: exact for normals, and it turns subnormal halves (f32
    // denormals at this point) into the right normal floats.
    IntVector scaled = em.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
    VectorMask<Integer> special = i.and(0x7c00).eq(0x7c00);
    IntVector bits = scaled.blend(em.or(0x7f800000), special);
    return bits.or(i.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
  }

  private static FloatVector loadF16(MemorySegment s, long off, int c) {
    return halfToFloat(ShortVector.fromMemorySegment(SS, s, off + 2L * c, LE));
  }

  private static float f32At(MemorySegment s, long off, int c) {
    return s.get(F32, off + 4L * c);
  }

  private static float f16At(MemorySegment s, long off, int c) {
    return Float.float16ToFloat(s.get(F16, off + 2L * c));
  }

  private static float bf16At(MemorySegment s, long off, int c) {
    return Float.intBitsToFloat(s.get(F16, off + 2L * c) << 16);
  }

  private static float dotF32(MemorySegment s, long off, float[] x, int n, float[] lanes) {
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = a0;
    int c = 0;
    for (; c + 2 * L <= n; c += 2 * L) {
      a0 =
          FloatVector.fromMemorySegment(FS, s, off + 4L * (c), LE)
              .fma(FloatVector.fromArray(FS, x, c), a0);
      a1 =
          FloatVector.fromMemorySegment(FS, s, off + 4L * (c + L), LE)
              .fma(FloatVector.fromArray(FS, x, c + L), a1);
    }
    if (c + L <= n) {
      a0 =
          FloatVector.fromMemorySegment(FS, s, off + 4L * (c), LE)
              .fma(FloatVector.fromArray(FS, x, c), a0);
      c += L;
    }
    a0.add(a1).intoArray(lanes, 0);
    float sum = lanesSum(lanes, 0);
    for (; c < n; c++) {
      sum += f32At(s, off, c) * x[c];
    }
    return sum;
  }

  private static float dotF16(MemorySegment s, long off, float[] x, int n, float[] lanes) {
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = a0;
    int c = 0;
    for (; c + 2 * L <= n; c += 2 * L) {
      a0 = loadF16(s, off, c).fma(FloatVector.fromArray(FS, x, c), a0);
      a1 = loadF16(s, off, c + L).fma(FloatVector.fromArray(FS, x, c + L), a1);
    }
    if (c + L <= n) {
      a0 = loadF16(s, off, c).fma(FloatVector.fromArray(FS, x, c), a0);
      c += L;
    }
    a0.add(a1).intoArray(lanes, 0);
    float sum = lanesSum(lanes, 0);
    for (; c < n; c++) {
      sum += f16At(s, off, c) * x[c];
    }
    return sum;
  }

  private static float dotBF16(MemorySegment s, long off, float[] x, int n, float[] lanes) {
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = a0;
    int c = 0;
    for (; c + 2 * L <= n; c += 2 * L) {
      a0 =
          ((IntVector)
                  ShortVector.fromMemorySegment(SS, s, off + 2L * (c), LE)
                      .convertShape(VectorOperators.S2I, IS, 0))
              .lanewise(VectorOperators.LSHL, 16)
              .reinterpretAsFloats()
              .fma(FloatVector.fromArray(FS, x, c), a0);
      a1 =
          ((IntVector)
                  ShortVector.fromMemorySegment(SS, s, off + 2L * (c + L), LE)
                      .convertShape(VectorOperators.S2I, IS, 0))
              .lanewise(VectorOperators.LSHL, 16)
              .reinterpretAsFloats()
              .fma(FloatVector.fromArray(FS, x, c + L), a1);
    }
    if (c + L <= n) {
      a0 =
          ((IntVector)
                  ShortVector.fromMemorySegment(SS, s, off + 2L * (c), LE)
                      .convertShape(VectorOperators.S2I, IS, 0))
              .lanewise(VectorOperators.LSHL, 16)
              .reinterpretAsFloats()
              .fma(FloatVector.fromArray(FS, x, c), a0);
      c += L;
    }
    a0.add(a1).intoArray(lanes, 0);
    float sum = lanesSum(lanes, 0);
    for (; c < n; c++) {
      sum += bf16At(s, off, c) * x[c];
    }
    return sum;
  }

  // ----------------------------------------------------------------------- quantized, T = 1

  /*
   * Q8_0 at T = 1 multiplies in 16-bit integer lanes: int8 x int8 products fit in a short, two of
   * them are widened and added into int lanes, and only the block sum is converted to float. On
   * the AVX-512 EPYC this measured ~13 GB/s against ~9-10 GB/s for converting the weights to float
   * and using FMA (docs/kernels.md). Q4_0/Q4_K keep float lanes: their nibble unpacking already
   * needs int lanes, and the float variant measured faster there.
   */
  private static float dotQ80(
      MemorySegment s, long off, short[] xs, float[] xd, int n, float[] lanes) {
    FloatVector a0 = FloatVector.zero(FS);
    for (int p = 0; p < n; p += 2 * L) {
      int b = p >> 5;
      long bo = off + 34L * b;
      ShortVector prod =
          ((ShortVector)
                  ByteVector.fromMemorySegment(BS2, s, bo + 2 + (p & 31), LE)
                      .convertShape(VectorOperators.B2S, SS2, 0))
              .mul(ShortVector.fromArray(SS2, xs, p));
      IntVector sum =
          ((IntVector) prod.convertShape(VectorOperators.S2I, IS, 0))
              .add((IntVector) prod.convertShape(VectorOperators.S2I, IS, 1));
      a0 =
          ((FloatVector) sum.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, MatMul.f16(s, bo) * xd[b]), a0);
    }
    a0.intoArray(lanes, 0);
    return lanesSum(lanes, 0);
  }

  private static float dotQ40(
      MemorySegment s, long off, float[] xq, float[] xd, int n, float[] lanes) {
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = a0;
    // p walks the 16 quant bytes of each block: byte j of block b holds elements j and j + 16.
    // lo . x + hi . x is an exact integer in float; one FMA applies both scales. Two chunks per
    // step feed two accumulators, so the FMAs do not wait on each other.
    int half = n / 2;
    int p = 0;
    for (; p + 2 * L <= half; p += 2 * L) {
      a0 = q40Chunk(s, off, xq, xd, p, a0);
      a1 = q40Chunk(s, off, xq, xd, p + L, a1);
    }
    if (p < half) {
      a0 = q40Chunk(s, off, xq, xd, p, a0);
    }
    a0.add(a1).intoArray(lanes, 0);
    return lanesSum(lanes, 0);
  }

  /** acc + d * (the Q4_0 chunk at quant byte p . its activations). Small: inlined by C2. */
  private static FloatVector q40Chunk(
      MemorySegment s, long off, float[] xq, float[] xd, int p, FloatVector acc) {
    int b = p >> 4;
    int j = p & 15;
    long bo = off + 18L * b;
    IntVector v =
        (IntVector)
            ByteVector.fromMemorySegment(BS, s, bo + 2 + j, LE)
                .convertShape(VectorOperators.B2I, IS, 0);
    FloatVector lo = (FloatVector) v.and(0xF).sub(8).convert(VectorOperators.I2F, 0);
    FloatVector hi =
        (FloatVector)
            v.lanewise(VectorOperators.LSHR, 4).and(0xF).sub(8).convert(VectorOperators.I2F, 0);
    FloatVector dot =
        lo.fma(
            FloatVector.fromArray(FS, xq, 32 * b + j),
            hi.mul(FloatVector.fromArray(FS, xq, 32 * b + 16 + j)));
    return dot.fma(FloatVector.broadcast(FS, MatMul.f16(s, bo) * xd[b]), acc);
  }

  /**
   * A Q4_K row dot (T = 1) in one pass: the 6-bit scales and mins of each 64-value group are
   * unpacked in the loop (a separate decode pass over the row took the cache misses without the
   * streaming prefetch, a third of the time).
   */
  private static float dotQ4K(MemorySegment s, long off, Q8Activations a, int n, float[] lanes) {
    float[] xq = a.q;
    float[] sd = a.sumd32;
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = a0;
    float m0 = 0f;
    float m1 = 0f;
    // p walks the 128 quant bytes of each super-block: byte 32j + l holds elements 64j + l (low
    // nibble, sub-block 2j) and 64j + 32 + l (high nibble, sub-block 2j + 1). Two vectors per
    // step stay inside one 32-byte group, so their integer sums add exactly before one FMA per
    // sub-block applies the scale.
    for (int p = 0; p < n / 2; p += 2 * L) {
      int b = p >> 7;
      int q = p & 127;
      int j = q >> 5;
      long bo = off + 144L * b;
      int dd = s.get(I32, bo);
      float dx = a.d[b];
      float d = Float.float16ToFloat((short) dd) * dx;
      float dmin = Float.float16ToFloat((short) (dd >>> 16));
      // get_scale_min_k4 for four sub-blocks at a time, four bytes per int (llama.cpp's utmp).
      int u0 = s.get(I32, bo + 4);
      int u1 = s.get(I32, bo + 8);
      int u2 = s.get(I32, bo + 12);
      int sc;
      int mn;
      if (j < 2) {
        sc = u0 & 0x3f3f3f3f;
        mn = u1 & 0x3f3f3f3f;
      } else {
        sc = (u2 & 0x0f0f0f0f) | (((u0 >>> 6) & 0x03030303) << 4);
        mn = ((u2 >>> 4) & 0x0f0f0f0f) | (((u1 >>> 6) & 0x03030303) << 4);
      }
      int sh = 16 * (j & 1);
      int k = 8 * b + 2 * j;
      if ((q & 31) == 0) { // once per group (8-lane vectors take two steps per group)
        m0 += dmin * ((mn >>> sh) & 0xFF) * sd[k];
        m1 += dmin * ((mn >>> (sh + 8)) & 0xFF) * sd[k + 1];
      }
      long addr = bo + 16 + q;
      IntVector v0 =
          (IntVector)
              ByteVector.fromMemorySegment(BS, s, addr, LE)
                  .convertShape(VectorOperators.B2I, IS, 0);
      IntVector v1 =
          (IntVector)
              ByteVector.fromMemorySegment(BS, s, addr + L, LE)
                  .convertShape(VectorOperators.B2I, IS, 0);
      int x0 = 256 * b + 2 * (q & ~31) + (q & 31);
      FloatVector lo =
          ((FloatVector) v0.and(0xF).convert(VectorOperators.I2F, 0))
              .mul(FloatVector.fromArray(FS, xq, x0));
      lo =
          ((FloatVector) v1.and(0xF).convert(VectorOperators.I2F, 0))
              .fma(FloatVector.fromArray(FS, xq, x0 + L), lo);
      FloatVector hi =
          ((FloatVector)
                  v0.lanewise(VectorOperators.LSHR, 4).and(0xF).convert(VectorOperators.I2F, 0))
              .mul(FloatVector.fromArray(FS, xq, x0 + 32));
      hi =
          ((FloatVector)
                  v1.lanewise(VectorOperators.LSHR, 4).and(0xF).convert(VectorOperators.I2F, 0))
              .fma(FloatVector.fromArray(FS, xq, x0 + 32 + L), hi);
      a0 = lo.fma(FloatVector.broadcast(FS, d * ((sc >>> sh) & 0xFF)), a0);
      a1 = hi.fma(FloatVector.broadcast(FS, d * ((sc >>> (sh + 8)) & 0xFF)), a1);
    }
    a0.add(a1).intoArray(lanes, 0);
    return lanesSum(lanes, 0) - (m0 + m1);
  }

  /*
   * Q6_K chunk p (0 <= p < n / 4, L values of each of the four quarter-groups): within super-block
   * b = p / 64 and half h = (p / 32) & 1, position l = p & 31 of the half's 32-byte ql/qh columns
   * gives elements 128h + l (+32, +64, +96), all in sub-blocks of 16 starting at (128h + l) / 16.
   */

  private static float dotQ6K(MemorySegment s, long off, Q8Activations a, int n, float[] lanes) {
    float[] xq = a.q;
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = a0;
    for (int p = 0; p < n / 4; p += L) {
      int b = p >> 6;
      int h = (p >> 5) & 1;
      int l = p & 31;
      long bo = off + 210L * b;
      IntVector va =
          ((IntVector)
              ByteVector.fromMemorySegment(BS, s, bo + 64 * h + l, LE)
                  .convertShape(VectorOperators.B2I, IS, 0));
      IntVector vc =
          ((IntVector)
              ByteVector.fromMemorySegment(BS, s, bo + 64 * h + 32 + l, LE)
                  .convertShape(VectorOperators.B2I, IS, 0));
      IntVector vh =
          ((IntVector)
              ByteVector.fromMemorySegment(BS, s, bo + 128 + 32 * h + l, LE)
                  .convertShape(VectorOperators.B2I, IS, 0));
      // The eight signed scales of this half in one read (a separate decode pass over the row
      // cost more than it saved); sub-block (l >> 4) + 2i for the four quarters i.
      long scs = s.get(I64, bo + 192 + 8 * h) >>> (8 * (l >> 4));
      float dx = MatMul.f16(s, bo + 208) * a.d[b];
      int x0 = 256 * b + 128 * h + l;
      FloatVector q1 =
          ((FloatVector)
              (va.and(0xF).or(vh.lanewise(VectorOperators.LSHL, 4).and(0x30)).sub(32))
                  .convert(VectorOperators.I2F, 0));
      FloatVector q2 =
          ((FloatVector)
              (vc.and(0xF).or(vh.lanewise(VectorOperators.LSHL, 2).and(0x30)).sub(32))
                  .convert(VectorOperators.I2F, 0));
      FloatVector q3 =
          ((FloatVector)
              (va.lanewise(VectorOperators.LSHR, 4).and(0xF).or(vh.and(0x30)).sub(32))
                  .convert(VectorOperators.I2F, 0));
      FloatVector q4 =
          ((FloatVector)
              (vc.lanewise(VectorOperators.LSHR, 4)
                      .and(0xF)
                      .or(vh.lanewise(VectorOperators.LSHR, 2).and(0x30))
                      .sub(32))
                  .convert(VectorOperators.I2F, 0));
      a0 =
          q1.mul(FloatVector.fromArray(FS, xq, x0))
              .fma(FloatVector.broadcast(FS, (byte) scs * dx), a0);
      a1 =
          q2.mul(FloatVector.fromArray(FS, xq, x0 + 32))
              .fma(FloatVector.broadcast(FS, (byte) (scs >>> 16) * dx), a1);
      a0 =
          q3.mul(FloatVector.fromArray(FS, xq, x0 + 64))
              .fma(FloatVector.broadcast(FS, (byte) (scs >>> 32) * dx), a0);
      a1 =
          q4.mul(FloatVector.fromArray(FS, xq, x0 + 96))
              .fma(FloatVector.broadcast(FS, (byte) (scs >>> 48) * dx), a1);
    }
    a0.add(a1).intoArray(lanes, 0);
    return lanesSum(lanes, 0);
  }
}
