package dev.sluice.engine.cpu;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
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

  /**
   * 512-bit vectors (AVX-512): the T = 1 integer kernels for the 4-bit types (16-bit products
   * summed in short lanes, see {@link #dotQ4KWide}) are written for these widths; with 256-bit
   * vectors the float-lane kernels run instead.
   */
  static final boolean WIDE = L == 16;

  private static final VectorSpecies<Short> S512 = WIDE ? ShortVector.SPECIES_512 : null;
  private static final VectorSpecies<Long> L128 = WIDE ? LongVector.SPECIES_128 : null;
  private static final VectorSpecies<Float> F256 = WIDE ? FloatVector.SPECIES_256 : null;

  /**
   * Small species for scalar header reads in the T = 1 kernels: a block's f16 scale (lane 0 of 4
   * shorts) and a Q4_K header (4 ints). Reading through a vector load instead of {@code
   * MemorySegment.get} keeps method handles out of the hot loop: the VarHandle path is inlined
   * late, and in a kernel this large C2 sometimes gave up on it (a call per block, 2x slower
   * depending on which kernels had been compiled first).
   */
  private static final VectorSpecies<Short> SH64 = supported() ? ShortVector.SPECIES_64 : null;

  private static final VectorSpecies<Integer> I128 = supported() ? IntVector.SPECIES_128 : null;

  /** The f16 at {@code off} as a float, through a vector load (see {@link #SH64}). */
  private static float f16v(MemorySegment s, long off) {
    return Float.float16ToFloat(ShortVector.fromMemorySegment(SH64, s, off, LE).lane(0));
  }

  /** 256-bit species of the Q4_0 T = 1 kernel, for AVX2 and AVX-512 alike. */
  private static final VectorSpecies<Byte> H128 = supported() ? ByteVector.SPECIES_128 : null;

  private static final VectorSpecies<Short> H256 = supported() ? ShortVector.SPECIES_256 : null;
  private static final VectorSpecies<Float> HF256 = supported() ? FloatVector.SPECIES_256 : null;

  /**
   * Q4_K, 512-bit: the word (2-byte) permutations that mix a super-block's 128 quant bytes (two
   * 64-byte vectors, words 0..63; 32-byte group g is words 16g .. 16g + 15) into two vectors whose
   * words 2i and 2i + 1 (int lane i) always come from group i % 4: word j of the first is word 2 (j
   * / 8) + j % 2 of group (j / 2) % 4, of the second word 8 + 2 (j / 8) + j % 2.
   */
  private static final ShortVector Q4K_MIX_X = WIDE ? q4kMix(0) : null;

  private static final ShortVector Q4K_MIX_Y = WIDE ? q4kMix(8) : null;

  /**
   * The nibble mask as a vector, for {@link #dotQ4KWide2}: with a scalar mask each {@code and}
   * inlines its own broadcast, and C1 ran out of virtual registers on that method (its tier-3
   * compile failed, the method stayed in tier-2 code, 100x slower).
   */
  private static final ShortVector Q4K_NIB = WIDE ? ShortVector.broadcast(S512, (short) 0xF) : null;

  private static ShortVector q4kMix(int from) {
    short[] idx = new short[32];
    for (int j = 0; j < 32; j++) {
      idx[j] = (short) (16 * ((j >> 1) & 3) + from + 2 * (j >> 3) + (j & 1));
    }
    return ShortVector.fromArray(S512, idx, 0);
  }

  // ---------------------------------------------------------------------------------------------
  // T = 1 (decode): one fused kernel per type streams the weight row once, unpacks each vector
  // chunk in registers (scales included: a separate decode pass over the row was slower) and
  // multiplies it with the quantized activations. Loops are flat: with vector accumulators carried
  // through nested loops C2 failed to eliminate the vector boxes (an allocation per chunk, 20x
  // slower). Packed nibbles are widened to int lanes before shifting: shifts of byte lanes were
  // not intrinsified and fell back to Java code. Vector helpers are spelled out inline: past its
  // node-count cutoff C2 stops inlining small methods that take or return vectors, and boxes.
  //
  // Small T (up to perTokenMax) runs these kernels token by token; larger T (batched decode,
  // prefill) is BatchedMatMul: decoded weight rows times the 8-bit-quantized activations
  // dequantized to float, so the numerics still follow llama.cpp's activation quantization.
  //
  // Lane sums go through an array in a fixed order: reduceLanes(ADD) leaves the order unspecified
  // and it does differ between the interpreter and C2, which made results depend on JIT warm-up.

  /** Per-thread scratch; arrays only grow, so steady-state calls allocate nothing. */
  private static final class Scratch {
    final Q8Activations act = new Q8Activations();

    /** Vector lanes spilled for a fixed-order sum: 16 accumulators. */
    final float[] lanes = new float[16 * Math.max(L, 1)];

    /** Small batches: token t's quantized activations, indexed from 0 like {@link #act}. */
    Q8Activations[] tokens = new Q8Activations[0];

    /** Small batches, unquantized types: token t's activation row, indexed from 0. */
    float[][] xrows = new float[0][];

    /** The first T per-token activations ({@link #tokens}, grown), token 0 being {@link #act}. */
    Q8Activations[] tokens(int T) {
      if (tokens.length < T) {
        Q8Activations[] grown = java.util.Arrays.copyOf(tokens, T);
        for (int t = 0; t < T; t++) {
          if (grown[t] == null) {
            grown[t] = t == 0 ? act : new Q8Activations();
          }
        }
        tokens = grown;
      }
      return tokens;
    }

    /** Copies T activation rows into {@link #xrows} (grown). */
    void copyRows(float[] x, int T, int cols) {
      if (xrows.length < T) {
        xrows = java.util.Arrays.copyOf(xrows, T);
      }
      for (int t = 0; t < T; t++) {
        if (xrows[t] == null || xrows[t].length < cols) {
          xrows[t] = new float[cols];
        }
        System.arraycopy(x, t * cols, xrows[t], 0, cols);
      }
    }
  }

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  /**
   * Up to this many activation rows a product runs the fused {@code T = 1} kernels once per token
   * (row by row, each weight row reused from L1 by every token; Q4_K and Q8_0 on 512-bit vectors
   * two tokens per weight unpack, {@link #dotQ4KWide2}, {@link #dotQ80Wide2}); beyond it the
   * decode-then-tile path of {@link BatchedMatMul}. Per type and row width, from the crossover
   * measured by {@code SmallBatchExperiment} (docs/kernels.md, "Small batches"). Determinism: up to
   * the threshold a token's result is bit-identical to a {@code T = 1} call on that token alone;
   * above it, to the same token in any other batch above the threshold (the tiles sum in one
   * order). The two may differ in the last bits, so a sequence's logits can change in the last bits
   * when the batch crosses the threshold.
   */
  static int perTokenMax(GgmlType type, int cols) {
    if (!WIDE) {
      return 2;
    }
    return switch (type) {
      // Pairs on narrow rows; wide rows (byte activations) token by token.
      case Q4_K -> cols > Q4K_BYTES_ABOVE ? 5 : 6;
      case Q8_0 -> cols > Q80_BYTES_ABOVE ? 2 : 3;
      default -> 2;
    };
  }

  /** The body of {@link MatMul#fast} once validated, with vectors available. */
  static void run(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
    run(w, x, T, out, r0, r1, T <= perTokenMax(w.type(), w.cols()));
  }

  /**
   * {@link #run} with the path chosen by the caller ({@code perToken}: the fused kernels per token;
   * otherwise {@link BatchedMatMul}, which needs {@code T >= 2}); the experiments compare the two.
   */
  static void run(GgufTensor w, float[] x, int T, float[] out, int r0, int r1, boolean perToken) {
    Scratch sc = SCRATCH.get();
    int cols = w.cols();
    GgmlType type = w.type();
    if (!perToken) {
      Q8Activations a = sc.act;
      switch (type) {
        case Q8_0, Q4_0 -> a.quantizeQ80(x, T, cols, true);
        case Q4_K, Q6_K -> a.quantizeQ8K(x, T, cols, true);
        default -> {}
      }
      BatchedMatMul.multiply(w, type.blockSize > 1 ? a.deq : x, T, out, r0, r1);
      return;
    }
    // Each token quantized into its own arrays, so the kernels index them from 0 exactly as at
    // T = 1 (an offset argument in the kernels cost ~10% at T = 1: docs/kernels.md).
    Q8Activations[] acts = sc.tokens(T);
    if (T > 1 && type.blockSize == 1) {
      sc.copyRows(x, T, cols);
    }
    for (int t = 0; t < T; t++) {
      Q8Activations a = acts[t];
      switch (type) {
        case Q8_0, Q4_0 -> a.quantizeQ80(x, t * cols, 1, cols, false);
        case Q4_K, Q6_K -> a.quantizeQ8K(x, t * cols, 1, cols, false);
        default -> {}
      }
      if (WIDE && type == GgmlType.Q4_K) {
        a.permuteQ4K(cols);
      }
    }
    if (T == 1) {
      decodeLoop(w, x, out, r0, r1, sc);
    } else {
      decodeLoopTokens(w, x, T, out, r0, r1, sc);
    }
  }

  private static void decodeLoop(GgufTensor w, float[] x, float[] out, int r0, int r1, Scratch sc) {
    MemorySegment s = w.data();
    int cols = w.cols();
    long rb = MatMul.rowBytes(w);
    Q8Activations a = sc.act;
    float[] lanes = sc.lanes;
    boolean bytes = cols > Q80_BYTES_ABOVE;
    boolean wideQ4K = cols > Q4K_BYTES_ABOVE;
    for (int r = r0; r < r1; r++) {
      long off = r * rb;
      out[r] =
          switch (w.type()) {
            case F32 -> dotF32(s, off, x, cols, lanes);
            case F16 -> dotF16(s, off, x, cols, lanes);
            case BF16 -> dotBF16(s, off, x, cols, lanes);
            case Q8_0 ->
                !WIDE
                    ? dotQ80(s, off, a.qs, a.d, cols, lanes)
                    : bytes
                        ? dotQ80WideBytes(s, off, a.qb, a.d, cols, lanes)
                        : dotQ80Wide(s, off, a.qs, a.d, cols, lanes);
            case Q4_0 -> dotQ40Short(s, off, a.qs, a.d, cols, lanes);
            case Q4_K ->
                !WIDE
                    ? dotQ4K(s, off, a, cols, lanes)
                    : wideQ4K
                        ? dotQ4KWideBytes(s, off, a, cols, lanes)
                        : dotQ4KWide(s, off, a, cols, lanes);
            case Q6_K -> dotQ6K(s, off, a, cols, lanes);
            default -> throw MatMul.unsupported(w);
          };
    }
  }

  /**
   * The fused kernels for {@code 2 <= T <= perTokenMax}: row by row and, within a row, token by
   * token, so a row's bytes leave memory once and stay in L1 for the other tokens. Token {@code
   * t}'s arithmetic is exactly that of a {@code T = 1} call on its activations.
   */
  private static void decodeLoopTokens(
      GgufTensor w, float[] x, int T, float[] out, int r0, int r1, Scratch sc) {
    MemorySegment s = w.data();
    int rows = w.rows();
    int cols = w.cols();
    long rb = MatMul.rowBytes(w);
    Q8Activations[] acts = sc.tokens;
    float[][] xrows = sc.xrows;
    float[] lanes = sc.lanes;
    GgmlType type = w.type();
    boolean bytes = cols > Q80_BYTES_ABOVE;
    boolean wideQ4K = cols > Q4K_BYTES_ABOVE;
    // Pairs on rows up to Q4K_BYTES_ABOVE columns; wider rows take the byte kernel token by token.
    boolean q4kPairs = WIDE && type == GgmlType.Q4_K && !wideQ4K;
    boolean q80Pairs = WIDE && type == GgmlType.Q8_0 && !bytes;
    for (int r = r0; r < r1; r++) {
      long off = r * rb;
      int t = 0;
      if (q80Pairs) { // two tokens per weight load, same arithmetic per token
        for (; t + 2 <= T; t += 2) {
          dotQ80Wide2(
              s,
              off,
              acts[t].qs,
              acts[t].d,
              acts[t + 1].qs,
              acts[t + 1].d,
              cols,
              lanes,
              out,
              t * rows + r,
              (t + 1) * rows + r);
        }
      }
      if (q4kPairs) { // two tokens per weight unpack, same arithmetic per token
        for (; t + 2 <= T; t += 2) {
          dotQ4KWide2(
              s, off, acts[t], acts[t + 1], cols, lanes, out, t * rows + r, (t + 1) * rows + r);
        }
      }
      for (; t < T; t++) {
        Q8Activations a = acts[t];
        float v;
        switch (type) {
          case F32 -> v = dotF32(s, off, xrows[t], cols, lanes);
          case F16 -> v = dotF16(s, off, xrows[t], cols, lanes);
          case BF16 -> v = dotBF16(s, off, xrows[t], cols, lanes);
          case Q8_0 ->
              v =
                  !WIDE
                      ? dotQ80(s, off, a.qs, a.d, cols, lanes)
                      : bytes
                          ? dotQ80WideBytes(s, off, a.qb, a.d, cols, lanes)
                          : dotQ80Wide(s, off, a.qs, a.d, cols, lanes);
          case Q4_0 -> v = dotQ40Short(s, off, a.qs, a.d, cols, lanes);
          case Q4_K ->
              v =
                  !WIDE
                      ? dotQ4K(s, off, a, cols, lanes)
                      : wideQ4K
                          ? dotQ4KWideBytes(s, off, a, cols, lanes)
                          : dotQ4KWide(s, off, a, cols, lanes);
          case Q6_K -> v = dotQ6K(s, off, a, cols, lanes);
          default -> throw MatMul.unsupported(w);
        }
        out[t * rows + r] = v;
      }
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

  /*
   * Q8_0 at T = 1 on 512-bit vectors: two blocks per iteration (one loop step's bookkeeping and
   * bounds checks for 64 values), and the pairs of 16-bit products added inside int lanes ((x + (x
   * << 16)) >> 16: |sum| <= 2 * 128 * 127 fits a short) instead of two widening conversions.
   * Measured 10-40% faster than dotQ80 (docs/kernels.md).
   */
  static float dotQ80Wide(MemorySegment s, long off, short[] xs, float[] xd, int n, float[] lanes) {
    FloatVector acc0 = FloatVector.zero(FS);
    FloatVector acc1 = acc0;
    int nb = n >> 5;
    int b = 0;
    for (; b + 2 <= nb; b += 2) {
      long bo = off + 34L * b;
      IntVector p0 =
          ((ShortVector)
                  ByteVector.fromMemorySegment(BS2, s, bo + 2, LE)
                      .convertShape(VectorOperators.B2S, S512, 0))
              .mul(ShortVector.fromArray(S512, xs, 32 * b))
              .reinterpretAsInts();
      IntVector p1 =
          ((ShortVector)
                  ByteVector.fromMemorySegment(BS2, s, bo + 36, LE)
                      .convertShape(VectorOperators.B2S, S512, 0))
              .mul(ShortVector.fromArray(S512, xs, 32 * b + 32))
              .reinterpretAsInts();
      p0 = p0.add(p0.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      p1 = p1.add(p1.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      acc0 =
          ((FloatVector) p0.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, f16v(s, bo) * xd[b]), acc0);
      acc1 =
          ((FloatVector) p1.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, f16v(s, bo + 34) * xd[b + 1]), acc1);
    }
    if (b < nb) {
      long bo = off + 34L * b;
      IntVector p0 =
          ((ShortVector)
                  ByteVector.fromMemorySegment(BS2, s, bo + 2, LE)
                      .convertShape(VectorOperators.B2S, S512, 0))
              .mul(ShortVector.fromArray(S512, xs, 32 * b))
              .reinterpretAsInts();
      p0 = p0.add(p0.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      acc0 =
          ((FloatVector) p0.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, f16v(s, bo) * xd[b]), acc0);
    }
    acc0.add(acc1).intoArray(lanes, 0);
    return lanesSum(lanes, 0);
  }

  /*
   * dotQ80Wide for two tokens at once (activations a and c), results written to out[o0] and
   * out[o1]: the weight bytes are loaded and widened, and the block scales read, once for both;
   * each token's operations are dotQ80Wide's in the same order, so each result is bit-identical to
   * a single-token call (tested). docs/kernels.md ("Small batches").
   */
  static void dotQ80Wide2(
      MemorySegment s,
      long off,
      short[] xs,
      float[] xd,
      short[] ys,
      float[] yd,
      int n,
      float[] lanes,
      float[] out,
      int o0,
      int o1) {
    FloatVector acc0 = FloatVector.zero(FS);
    FloatVector acc1 = acc0;
    FloatVector bcc0 = acc0;
    FloatVector bcc1 = acc0;
    int nb = n >> 5;
    int b = 0;
    for (; b + 2 <= nb; b += 2) {
      long bo = off + 34L * b;
      ShortVector w0 =
          (ShortVector)
              ByteVector.fromMemorySegment(BS2, s, bo + 2, LE)
                  .convertShape(VectorOperators.B2S, S512, 0);
      ShortVector w1 =
          (ShortVector)
              ByteVector.fromMemorySegment(BS2, s, bo + 36, LE)
                  .convertShape(VectorOperators.B2S, S512, 0);
      float d0 = f16v(s, bo);
      float d1 = f16v(s, bo + 34);
      IntVector p0 = w0.mul(ShortVector.fromArray(S512, xs, 32 * b)).reinterpretAsInts();
      IntVector p1 = w1.mul(ShortVector.fromArray(S512, xs, 32 * b + 32)).reinterpretAsInts();
      IntVector q0 = w0.mul(ShortVector.fromArray(S512, ys, 32 * b)).reinterpretAsInts();
      IntVector q1 = w1.mul(ShortVector.fromArray(S512, ys, 32 * b + 32)).reinterpretAsInts();
      p0 = p0.add(p0.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      p1 = p1.add(p1.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      q0 = q0.add(q0.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      q1 = q1.add(q1.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      acc0 =
          ((FloatVector) p0.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, d0 * xd[b]), acc0);
      acc1 =
          ((FloatVector) p1.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, d1 * xd[b + 1]), acc1);
      bcc0 =
          ((FloatVector) q0.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, d0 * yd[b]), bcc0);
      bcc1 =
          ((FloatVector) q1.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, d1 * yd[b + 1]), bcc1);
    }
    if (b < nb) {
      long bo = off + 34L * b;
      ShortVector w0 =
          (ShortVector)
              ByteVector.fromMemorySegment(BS2, s, bo + 2, LE)
                  .convertShape(VectorOperators.B2S, S512, 0);
      float d0 = f16v(s, bo);
      IntVector p0 = w0.mul(ShortVector.fromArray(S512, xs, 32 * b)).reinterpretAsInts();
      IntVector q0 = w0.mul(ShortVector.fromArray(S512, ys, 32 * b)).reinterpretAsInts();
      p0 = p0.add(p0.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      q0 = q0.add(q0.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      acc0 =
          ((FloatVector) p0.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, d0 * xd[b]), acc0);
      bcc0 =
          ((FloatVector) q0.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, d0 * yd[b]), bcc0);
    }
    acc0.add(acc1).intoArray(lanes, 0);
    bcc0.add(bcc1).intoArray(lanes, L);
    out[o0] = lanesSum(lanes, 0);
    out[o1] = lanesSum(lanes, L);
  }

  /**
   * Rows wider than this many columns use {@link #dotQ80WideBytes}: the activations as shorts (2
   * bytes per column) and the streaming weight row no longer fit L1 together, and with the weights
   * coming from DRAM the kernel stalled on activation reloads (1536 x 8960 ffn_down: 11 GB/s with
   * shorts, 18 GB/s with bytes). Narrower rows keep shorts: the extra conversion costs 3-12% there
   * (shorts won at 4864 columns, bytes at 6144; docs/kernels.md "Wide rows").
   */
  static final int Q80_BYTES_ABOVE = 5120;

  /**
   * Q4_K rows wider than this many columns use {@link #dotQ4KWideBytes} (same reason; shorts won at
   * 6144 columns, bytes at 7424).
   */
  static final int Q4K_BYTES_ABOVE = 6656;

  /*
   * dotQ80Wide with the activation integers read as bytes and sign-extended in registers: half the
   * L1 footprint of the short array for one more conversion per block. Same products and sums in
   * the same order, so the results are bit-identical to dotQ80Wide's (tested).
   */
  static float dotQ80WideBytes(
      MemorySegment s, long off, byte[] xb, float[] xd, int n, float[] lanes) {
    FloatVector acc0 = FloatVector.zero(FS);
    FloatVector acc1 = acc0;
    int nb = n >> 5;
    int b = 0;
    for (; b + 2 <= nb; b += 2) {
      long bo = off + 34L * b;
      IntVector p0 =
          ((ShortVector)
                  ByteVector.fromMemorySegment(BS2, s, bo + 2, LE)
                      .convertShape(VectorOperators.B2S, S512, 0))
              .mul(
                  (ShortVector)
                      ByteVector.fromArray(BS2, xb, 32 * b)
                          .convertShape(VectorOperators.B2S, S512, 0))
              .reinterpretAsInts();
      IntVector p1 =
          ((ShortVector)
                  ByteVector.fromMemorySegment(BS2, s, bo + 36, LE)
                      .convertShape(VectorOperators.B2S, S512, 0))
              .mul(
                  (ShortVector)
                      ByteVector.fromArray(BS2, xb, 32 * b + 32)
                          .convertShape(VectorOperators.B2S, S512, 0))
              .reinterpretAsInts();
      p0 = p0.add(p0.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      p1 = p1.add(p1.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      acc0 =
          ((FloatVector) p0.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, f16v(s, bo) * xd[b]), acc0);
      acc1 =
          ((FloatVector) p1.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, f16v(s, bo + 34) * xd[b + 1]), acc1);
    }
    if (b < nb) {
      long bo = off + 34L * b;
      IntVector p0 =
          ((ShortVector)
                  ByteVector.fromMemorySegment(BS2, s, bo + 2, LE)
                      .convertShape(VectorOperators.B2S, S512, 0))
              .mul(
                  (ShortVector)
                      ByteVector.fromArray(BS2, xb, 32 * b)
                          .convertShape(VectorOperators.B2S, S512, 0))
              .reinterpretAsInts();
      p0 = p0.add(p0.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      acc0 =
          ((FloatVector) p0.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, f16v(s, bo) * xd[b]), acc0);
    }
    acc0.add(acc1).intoArray(lanes, 0);
    return lanesSum(lanes, 0);
  }

  /*
   * Q4_0 at T = 1: 16-bit integer products on 256-bit vectors (16 shorts = one block's low or high
   * nibbles), two blocks per iteration. The nibbles are zero-extended, offset by -8 in short lanes
   * and multiplied with the activation integers; low and high products add in shorts (|sum| <= 2 *
   * 8 * 127), pairs of them inside int lanes ((x + (x << 16)) >> 16), and one conversion and FMA per
   * block apply d_w * d_x. 256-bit rather than 512-bit lanes: a block is 16 bytes, and on Zen 4 a
   * 512-bit operation costs two 256-bit ones. Measured 1.3-1.6x the float-lane kernel it replaced.
   */
  static float dotQ40Short(
      MemorySegment s, long off, short[] xs, float[] xd, int n, float[] lanes) {
    FloatVector acc0 = FloatVector.zero(HF256);
    FloatVector acc1 = acc0;
    int nb = n >> 5;
    int b = 0;
    for (; b + 2 <= nb; b += 2) {
      long bo = off + 18L * b;
      ShortVector w0 =
          (ShortVector)
              ByteVector.fromMemorySegment(H128, s, bo + 2, LE)
                  .convertShape(VectorOperators.ZERO_EXTEND_B2S, H256, 0);
      ShortVector w1 =
          (ShortVector)
              ByteVector.fromMemorySegment(H128, s, bo + 20, LE)
                  .convertShape(VectorOperators.ZERO_EXTEND_B2S, H256, 0);
      IntVector p0 =
          w0.and((short) 0xF)
              .sub((short) 8)
              .mul(ShortVector.fromArray(H256, xs, 32 * b))
              .add(
                  w0.lanewise(VectorOperators.LSHR, 4)
                      .sub((short) 8)
                      .mul(ShortVector.fromArray(H256, xs, 32 * b + 16)))
              .reinterpretAsInts();
      IntVector p1 =
          w1.and((short) 0xF)
              .sub((short) 8)
              .mul(ShortVector.fromArray(H256, xs, 32 * b + 32))
              .add(
                  w1.lanewise(VectorOperators.LSHR, 4)
                      .sub((short) 8)
                      .mul(ShortVector.fromArray(H256, xs, 32 * b + 48)))
              .reinterpretAsInts();
      p0 = p0.add(p0.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      p1 = p1.add(p1.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      acc0 =
          ((FloatVector) p0.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(HF256, f16v(s, bo) * xd[b]), acc0);
      acc1 =
          ((FloatVector) p1.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(HF256, f16v(s, bo + 18) * xd[b + 1]), acc1);
    }
    if (b < nb) {
      long bo = off + 18L * b;
      ShortVector w0 =
          (ShortVector)
              ByteVector.fromMemorySegment(H128, s, bo + 2, LE)
                  .convertShape(VectorOperators.ZERO_EXTEND_B2S, H256, 0);
      IntVector p0 =
          w0.and((short) 0xF)
              .sub((short) 8)
              .mul(ShortVector.fromArray(H256, xs, 32 * b))
              .add(
                  w0.lanewise(VectorOperators.LSHR, 4)
                      .sub((short) 8)
                      .mul(ShortVector.fromArray(H256, xs, 32 * b + 16)))
              .reinterpretAsInts();
      p0 = p0.add(p0.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      acc0 =
          ((FloatVector) p0.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(HF256, f16v(s, bo) * xd[b]), acc0);
    }
    acc0.add(acc1).intoArray(lanes, 0);
    // Eight lanes, fixed order (lanesSum reads L lanes).
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
        + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
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
   * Q4_K at T = 1 on 512-bit vectors: 16-bit integer products summed in short lanes, one
   * super-block (256 values) per iteration. The quant bytes of a super-block are four 32-byte
   * groups; byte l of group g holds element 64g + l (low nibble, sub-block 2g) and 64g + 32 + l
   * (high nibble, sub-block 2g + 1). Two cross-vector word permutes (vpermi2w) mix the groups so
   * that int lane i (words 2i, 2i + 1) of both mixed vectors comes from group i % 4. The nibbles
   * are then taken apart inside the 16-bit lanes, without widening bytes to shorts: w & 0xF and
   * (w >>> 8) & 0xF are the low nibbles of a word's two bytes, (w >>> 4) & 0xF and w >>> 12 the
   * high ones (seven ALU operations per mixed vector instead of two byte-to-short conversions, an
   * extract and four mask/shift operations: 3-10% faster, docs/kernels.md "Nibbles in 16-bit
   * lanes"). The products of all four nibble vectors of the same kind add up in short lanes (|sum|
   * <= 4 * 15 * 128, no overflow), only two 32-lane sums per super-block are widened (pairs of
   * shorts added inside int lanes: (x + (x << 16)) >> 16), converted and scaled, and the scales are
   * one vector per super-block (sub-blocks 0, 2, 4, 6 repeated in the lanes, or 1, 3, 5, 7) instead
   * of eight scalar broadcasts. The activations are permuted the same way once per call
   * (Q8Activations.permuteQ4K). The method sits close to C2's node-count inlining cutoff: keep it
   * lean (no shuffles, no helper calls).
   */
  static float dotQ4KWide(MemorySegment s, long off, Q8Activations a, int n, float[] lanes) {
    short[] xs = a.qk4;
    float[] sd = a.sumd32;
    float[] xd = a.d;
    FloatVector acc0 = FloatVector.zero(FS);
    FloatVector acc1 = acc0;
    FloatVector accMin = FloatVector.zero(F256);
    int nb = n >> 8;
    for (int b = 0; b < nb; b++) {
      long bo = off + 144L * b;
      // d, dmin and the 12 bytes of packed scales in one vector load (see SH64).
      IntVector head = IntVector.fromMemorySegment(I128, s, bo, LE);
      int dd = head.lane(0);
      float d = Float.float16ToFloat((short) dd) * xd[b];
      float dmin = Float.float16ToFloat((short) (dd >>> 16));
      // get_scale_min_k4 for all eight sub-blocks, four bytes per int (llama.cpp's utmp).
      int u0 = head.lane(1);
      int u1 = head.lane(2);
      int u2 = head.lane(3);
      int sc03 = u0 & 0x3f3f3f3f;
      int sc47 = (u2 & 0x0f0f0f0f) | (((u0 >>> 6) & 0x03030303) << 4);
      long mins =
          (u1 & 0x3f3f3f3fL)
              | (long) (((u2 >>> 4) & 0x0f0f0f0f) | (((u1 >>> 6) & 0x03030303) << 4)) << 32;
      // Scales of sub-blocks 0, 2, 4, 6 (low nibbles) and 1, 3, 5, 7 (high), one per byte, each
      // int repeated over the lanes: float lane i gets sub-block 2 (i % 4) (+ 1).
      int scEven =
          (sc03 & 0xFF)
              | ((sc03 >>> 8) & 0xFF00)
              | ((sc47 & 0xFF) << 16)
              | ((sc47 << 8) & 0xFF000000);
      int scOdd =
          ((sc03 >>> 8) & 0xFF)
              | ((sc03 >>> 16) & 0xFF00)
              | ((sc47 << 8) & 0xFF0000)
              | (sc47 & 0xFF000000);
      FloatVector scaleLo =
          ((FloatVector)
                  IntVector.broadcast(I128, scEven)
                      .reinterpretAsBytes()
                      .convertShape(VectorOperators.B2F, FS, 0))
              .mul(d);
      FloatVector scaleHi =
          ((FloatVector)
                  IntVector.broadcast(I128, scOdd)
                      .reinterpretAsBytes()
                      .convertShape(VectorOperators.B2F, FS, 0))
              .mul(d);
      // The dmin * m_k * sum_k(x) part, as ggml: eight lanes per super-block.
      accMin =
          ((FloatVector)
                  LongVector.broadcast(L128, mins)
                      .reinterpretAsBytes()
                      .convertShape(VectorOperators.B2F, F256, 0))
              .mul(dmin)
              .fma(FloatVector.fromArray(F256, sd, 8 * b), accMin);
      int x = 256 * b;
      ShortVector v0 = ShortVector.fromMemorySegment(S512, s, bo + 16, LE);
      ShortVector v1 = ShortVector.fromMemorySegment(S512, s, bo + 80, LE);
      ShortVector u = Q4K_MIX_X.selectFrom(v0, v1);
      ShortVector lo = u.and((short) 0xF).mul(ShortVector.fromArray(S512, xs, x));
      lo =
          lo.add(
              u.lanewise(VectorOperators.LSHR, 8)
                  .and((short) 0xF)
                  .mul(ShortVector.fromArray(S512, xs, x + 32)));
      ShortVector hi =
          u.lanewise(VectorOperators.LSHR, 4)
              .and((short) 0xF)
              .mul(ShortVector.fromArray(S512, xs, x + 64));
      hi =
          hi.add(u.lanewise(VectorOperators.LSHR, 12).mul(ShortVector.fromArray(S512, xs, x + 96)));
      u = Q4K_MIX_Y.selectFrom(v0, v1);
      lo = lo.add(u.and((short) 0xF).mul(ShortVector.fromArray(S512, xs, x + 128)));
      lo =
          lo.add(
              u.lanewise(VectorOperators.LSHR, 8)
                  .and((short) 0xF)
                  .mul(ShortVector.fromArray(S512, xs, x + 160)));
      hi =
          hi.add(
              u.lanewise(VectorOperators.LSHR, 4)
                  .and((short) 0xF)
                  .mul(ShortVector.fromArray(S512, xs, x + 192)));
      hi =
          hi.add(
              u.lanewise(VectorOperators.LSHR, 12).mul(ShortVector.fromArray(S512, xs, x + 224)));
      IntVector il = lo.reinterpretAsInts();
      IntVector ih = hi.reinterpretAsInts();
      il = il.add(il.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      ih = ih.add(ih.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      acc0 = ((FloatVector) il.convert(VectorOperators.I2F, 0)).fma(scaleLo, acc0);
      acc1 = ((FloatVector) ih.convert(VectorOperators.I2F, 0)).fma(scaleHi, acc1);
    }
    acc0.add(acc1).intoArray(lanes, 0);
    accMin.intoArray(lanes, L);
    float min =
        ((lanes[L] + lanes[L + 1]) + (lanes[L + 2] + lanes[L + 3]))
            + ((lanes[L + 4] + lanes[L + 5]) + (lanes[L + 6] + lanes[L + 7]));
    return lanesSum(lanes, 0) - min;
  }

  /*
   * dotQ4KWide with the permuted activation integers read as bytes (Q8Activations.qk4b) and
   * sign-extended in registers, for rows wider than Q4K_BYTES_ABOVE: the short array of an
   * 8960-wide row (17.5 KB) and the streaming weights no longer fit L1 together, and the kernel
   * stalled on activation reloads (1536 x 8960: 7.4 -> 10.9 GB/s on one thread, weights from DRAM;
   * at 1536-6144 columns the extra conversions cost 8-9%). Same products, same order: bit-identical
   * to dotQ4KWide (tested).
   */
  static float dotQ4KWideBytes(MemorySegment s, long off, Q8Activations a, int n, float[] lanes) {
    byte[] xb = a.qk4b;
    float[] sd = a.sumd32;
    float[] xd = a.d;
    FloatVector acc0 = FloatVector.zero(FS);
    FloatVector acc1 = acc0;
    FloatVector accMin = FloatVector.zero(F256);
    int nb = n >> 8;
    for (int b = 0; b < nb; b++) {
      long bo = off + 144L * b;
      // d, dmin and the 12 bytes of packed scales in one vector load (see SH64).
      IntVector head = IntVector.fromMemorySegment(I128, s, bo, LE);
      int dd = head.lane(0);
      float d = Float.float16ToFloat((short) dd) * xd[b];
      float dmin = Float.float16ToFloat((short) (dd >>> 16));
      // get_scale_min_k4 for all eight sub-blocks, four bytes per int (llama.cpp's utmp).
      int u0 = head.lane(1);
      int u1 = head.lane(2);
      int u2 = head.lane(3);
      int sc03 = u0 & 0x3f3f3f3f;
      int sc47 = (u2 & 0x0f0f0f0f) | (((u0 >>> 6) & 0x03030303) << 4);
      long mins =
          (u1 & 0x3f3f3f3fL)
              | (long) (((u2 >>> 4) & 0x0f0f0f0f) | (((u1 >>> 6) & 0x03030303) << 4)) << 32;
      // Scales of sub-blocks 0, 2, 4, 6 (low nibbles) and 1, 3, 5, 7 (high), one per byte, each
      // int repeated over the lanes: float lane i gets sub-block 2 (i % 4) (+ 1).
      int scEven =
          (sc03 & 0xFF)
              | ((sc03 >>> 8) & 0xFF00)
              | ((sc47 & 0xFF) << 16)
              | ((sc47 << 8) & 0xFF000000);
      int scOdd =
          ((sc03 >>> 8) & 0xFF)
              | ((sc03 >>> 16) & 0xFF00)
              | ((sc47 << 8) & 0xFF0000)
              | (sc47 & 0xFF000000);
      FloatVector scaleLo =
          ((FloatVector)
                  IntVector.broadcast(I128, scEven)
                      .reinterpretAsBytes()
                      .convertShape(VectorOperators.B2F, FS, 0))
              .mul(d);
      FloatVector scaleHi =
          ((FloatVector)
                  IntVector.broadcast(I128, scOdd)
                      .reinterpretAsBytes()
                      .convertShape(VectorOperators.B2F, FS, 0))
              .mul(d);
      // The dmin * m_k * sum_k(x) part, as ggml: eight lanes per super-block.
      accMin =
          ((FloatVector)
                  LongVector.broadcast(L128, mins)
                      .reinterpretAsBytes()
                      .convertShape(VectorOperators.B2F, F256, 0))
              .mul(dmin)
              .fma(FloatVector.fromArray(F256, sd, 8 * b), accMin);
      int x = 256 * b;
      ShortVector v0 = ShortVector.fromMemorySegment(S512, s, bo + 16, LE);
      ShortVector v1 = ShortVector.fromMemorySegment(S512, s, bo + 80, LE);
      ShortVector u = Q4K_MIX_X.selectFrom(v0, v1);
      ShortVector lo =
          u.and((short) 0xF)
              .mul(
                  ((ShortVector)
                      ByteVector.fromArray(BS2, xb, x).convertShape(VectorOperators.B2S, S512, 0)));
      lo =
          lo.add(
              u.lanewise(VectorOperators.LSHR, 8)
                  .and((short) 0xF)
                  .mul(
                      ((ShortVector)
                          ByteVector.fromArray(BS2, xb, x + 32)
                              .convertShape(VectorOperators.B2S, S512, 0))));
      ShortVector hi =
          u.lanewise(VectorOperators.LSHR, 4)
              .and((short) 0xF)
              .mul(
                  ((ShortVector)
                      ByteVector.fromArray(BS2, xb, x + 64)
                          .convertShape(VectorOperators.B2S, S512, 0)));
      hi =
          hi.add(
              u.lanewise(VectorOperators.LSHR, 12)
                  .mul(
                      ((ShortVector)
                          ByteVector.fromArray(BS2, xb, x + 96)
                              .convertShape(VectorOperators.B2S, S512, 0))));
      u = Q4K_MIX_Y.selectFrom(v0, v1);
      lo =
          lo.add(
              u.and((short) 0xF)
                  .mul(
                      ((ShortVector)
                          ByteVector.fromArray(BS2, xb, x + 128)
                              .convertShape(VectorOperators.B2S, S512, 0))));
      lo =
          lo.add(
              u.lanewise(VectorOperators.LSHR, 8)
                  .and((short) 0xF)
                  .mul(
                      ((ShortVector)
                          ByteVector.fromArray(BS2, xb, x + 160)
                              .convertShape(VectorOperators.B2S, S512, 0))));
      hi =
          hi.add(
              u.lanewise(VectorOperators.LSHR, 4)
                  .and((short) 0xF)
                  .mul(
                      ((ShortVector)
                          ByteVector.fromArray(BS2, xb, x + 192)
                              .convertShape(VectorOperators.B2S, S512, 0))));
      hi =
          hi.add(
              u.lanewise(VectorOperators.LSHR, 12)
                  .mul(
                      ((ShortVector)
                          ByteVector.fromArray(BS2, xb, x + 224)
                              .convertShape(VectorOperators.B2S, S512, 0))));
      IntVector il = lo.reinterpretAsInts();
      IntVector ih = hi.reinterpretAsInts();
      il = il.add(il.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      ih = ih.add(ih.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      acc0 = ((FloatVector) il.convert(VectorOperators.I2F, 0)).fma(scaleLo, acc0);
      acc1 = ((FloatVector) ih.convert(VectorOperators.I2F, 0)).fma(scaleHi, acc1);
    }
    acc0.add(acc1).intoArray(lanes, 0);
    accMin.intoArray(lanes, L);
    float min =
        ((lanes[L] + lanes[L + 1]) + (lanes[L + 2] + lanes[L + 3]))
            + ((lanes[L + 4] + lanes[L + 5]) + (lanes[L + 6] + lanes[L + 7]));
    return lanesSum(lanes, 0) - min;
  }

  /*
   * dotQ4KWide for two tokens at once (activations a and c), results written
   * to out[o0] and out[o1]. The weight side (header, scales, the word mix and the nibble unpacking)
   * is done once for both; each token's own arithmetic is exactly dotQ4KWide's, operation for
   * operation and in the same order, so each result is bit-identical to a single-token call (tested).
   * Measured against two dotQ4KWide calls: docs/kernels.md ("Small batches").
   */
  static void dotQ4KWide2(
      MemorySegment s,
      long off,
      Q8Activations a,
      Q8Activations c,
      int n,
      float[] lanes,
      float[] out,
      int o0,
      int o1) {
    short[] xs = a.qk4;
    float[] sd = a.sumd32;
    float[] xd = a.d;
    short[] ys = c.qk4;
    float[] td = c.sumd32;
    float[] yd = c.d;
    FloatVector acc0 = FloatVector.zero(FS);
    FloatVector acc1 = acc0;
    FloatVector bcc0 = acc0;
    FloatVector bcc1 = acc0;
    int nb = n >> 8;
    for (int b = 0; b < nb; b++) {
      long bo = off + 144L * b;
      IntVector head = IntVector.fromMemorySegment(I128, s, bo, LE);
      int dd = head.lane(0);
      float dw = Float.float16ToFloat((short) dd);
      float d = dw * xd[b];
      float e = dw * yd[b];
      int u0 = head.lane(1);
      int u2 = head.lane(3);
      int sc03 = u0 & 0x3f3f3f3f;
      int sc47 = (u2 & 0x0f0f0f0f) | (((u0 >>> 6) & 0x03030303) << 4);
      int scEven =
          (sc03 & 0xFF)
              | ((sc03 >>> 8) & 0xFF00)
              | ((sc47 & 0xFF) << 16)
              | ((sc47 << 8) & 0xFF000000);
      int scOdd =
          ((sc03 >>> 8) & 0xFF)
              | ((sc03 >>> 16) & 0xFF00)
              | ((sc47 << 8) & 0xFF0000)
              | (sc47 & 0xFF000000);
      FloatVector sLo =
          (FloatVector)
              IntVector.broadcast(I128, scEven)
                  .reinterpretAsBytes()
                  .convertShape(VectorOperators.B2F, FS, 0);
      FloatVector sHi =
          (FloatVector)
              IntVector.broadcast(I128, scOdd)
                  .reinterpretAsBytes()
                  .convertShape(VectorOperators.B2F, FS, 0);
      int x = 256 * b;
      ShortVector v0 = ShortVector.fromMemorySegment(S512, s, bo + 16, LE);
      ShortVector v1 = ShortVector.fromMemorySegment(S512, s, bo + 80, LE);
      ShortVector u = Q4K_MIX_X.selectFrom(v0, v1);
      ShortVector w = u.and(Q4K_NIB);
      ShortVector lo = w.mul(ShortVector.fromArray(S512, xs, x));
      ShortVector lp = w.mul(ShortVector.fromArray(S512, ys, x));
      w = u.lanewise(VectorOperators.LSHR, 8).and(Q4K_NIB);
      lo = lo.add(w.mul(ShortVector.fromArray(S512, xs, x + 32)));
      lp = lp.add(w.mul(ShortVector.fromArray(S512, ys, x + 32)));
      w = u.lanewise(VectorOperators.LSHR, 4).and(Q4K_NIB);
      ShortVector hi = w.mul(ShortVector.fromArray(S512, xs, x + 64));
      ShortVector hp = w.mul(ShortVector.fromArray(S512, ys, x + 64));
      w = u.lanewise(VectorOperators.LSHR, 12);
      hi = hi.add(w.mul(ShortVector.fromArray(S512, xs, x + 96)));
      hp = hp.add(w.mul(ShortVector.fromArray(S512, ys, x + 96)));
      u = Q4K_MIX_Y.selectFrom(v0, v1);
      w = u.and(Q4K_NIB);
      lo = lo.add(w.mul(ShortVector.fromArray(S512, xs, x + 128)));
      lp = lp.add(w.mul(ShortVector.fromArray(S512, ys, x + 128)));
      w = u.lanewise(VectorOperators.LSHR, 8).and(Q4K_NIB);
      lo = lo.add(w.mul(ShortVector.fromArray(S512, xs, x + 160)));
      lp = lp.add(w.mul(ShortVector.fromArray(S512, ys, x + 160)));
      w = u.lanewise(VectorOperators.LSHR, 4).and(Q4K_NIB);
      hi = hi.add(w.mul(ShortVector.fromArray(S512, xs, x + 192)));
      hp = hp.add(w.mul(ShortVector.fromArray(S512, ys, x + 192)));
      w = u.lanewise(VectorOperators.LSHR, 12);
      hi = hi.add(w.mul(ShortVector.fromArray(S512, xs, x + 224)));
      hp = hp.add(w.mul(ShortVector.fromArray(S512, ys, x + 224)));
      IntVector il = lo.reinterpretAsInts();
      IntVector ih = hi.reinterpretAsInts();
      IntVector jl = lp.reinterpretAsInts();
      IntVector jh = hp.reinterpretAsInts();
      il = il.add(il.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      ih = ih.add(ih.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      jl = jl.add(jl.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      jh = jh.add(jh.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      acc0 = ((FloatVector) il.convert(VectorOperators.I2F, 0)).fma(sLo.mul(d), acc0);
      acc1 = ((FloatVector) ih.convert(VectorOperators.I2F, 0)).fma(sHi.mul(d), acc1);
      bcc0 = ((FloatVector) jl.convert(VectorOperators.I2F, 0)).fma(sLo.mul(e), bcc0);
      bcc1 = ((FloatVector) jh.convert(VectorOperators.I2F, 0)).fma(sHi.mul(e), bcc1);
    }
    acc0.add(acc1).intoArray(lanes, 0);
    bcc0.add(bcc1).intoArray(lanes, 2 * L);
    q4kMins2(s, off, sd, td, nb, lanes);
    float min =
        ((lanes[L] + lanes[L + 1]) + (lanes[L + 2] + lanes[L + 3]))
            + ((lanes[L + 4] + lanes[L + 5]) + (lanes[L + 6] + lanes[L + 7]));
    out[o0] = lanesSum(lanes, 0) - min;
    int m = 3 * L;
    min =
        ((lanes[m] + lanes[m + 1]) + (lanes[m + 2] + lanes[m + 3]))
            + ((lanes[m + 4] + lanes[m + 5]) + (lanes[m + 6] + lanes[m + 7]));
    out[o1] = lanesSum(lanes, 2 * L) - min;
  }

  /*
   * The min term of dotQ4KWide2 for both tokens, into lanes[L..] and lanes[3L..]: the same
   * operations in the same order as dotQ4KWide's accMin, so the results stay bit-identical. A
   * separate loop (the row is still in L1) because with it inside, dotQ4KWide2 ran C1 out of
   * virtual registers: its tier-3 compile failed and the method stayed in tier-2 code, 100x slower.
   */
  private static void q4kMins2(
      MemorySegment s, long off, float[] sd, float[] td, int nb, float[] lanes) {
    FloatVector accMin = FloatVector.zero(F256);
    FloatVector bccMin = accMin;
    for (int b = 0; b < nb; b++) {
      long bo = off + 144L * b;
      IntVector head = IntVector.fromMemorySegment(I128, s, bo, LE);
      float dmin = Float.float16ToFloat((short) (head.lane(0) >>> 16));
      int u1 = head.lane(2);
      int u2 = head.lane(3);
      long mins =
          (u1 & 0x3f3f3f3fL)
              | (long) (((u2 >>> 4) & 0x0f0f0f0f) | (((u1 >>> 6) & 0x03030303) << 4)) << 32;
      FloatVector mw =
          ((FloatVector)
                  LongVector.broadcast(L128, mins)
                      .reinterpretAsBytes()
                      .convertShape(VectorOperators.B2F, F256, 0))
              .mul(dmin);
      accMin = mw.fma(FloatVector.fromArray(F256, sd, 8 * b), accMin);
      bccMin = mw.fma(FloatVector.fromArray(F256, td, 8 * b), bccMin);
    }
    accMin.intoArray(lanes, L);
    bccMin.intoArray(lanes, 3 * L);
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
