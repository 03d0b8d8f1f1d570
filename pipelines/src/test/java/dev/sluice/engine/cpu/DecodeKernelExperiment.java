package dev.sluice.engine.cpu;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The before/after measurement of the T = 1 quantized kernels in docs/kernels.md (not a test): the
 * float-lane kernels Sluice had before (copied here unchanged: Q8_0 with widening conversions, Q4_0
 * and Q4_K with nibbles in float lanes) against the current {@code VectorMatMul} kernels, on the
 * same off-heap weights and the same pre-quantized activations, interleaved in rounds in one JVM,
 * timed by this thread's CPU time (so that other load on a shared machine distorts it less). Needs
 * 512-bit vectors. Prints GB/s of weights per kernel and round, and the relative difference of the
 * results (float summation order only).
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp pipelines/target/classes:pipelines/target/test-classes \
 *   dev.sluice.engine.cpu.DecodeKernelExperiment [rows=8960 cols=1536 seconds=1.5 types=Q8_0,Q4_0,Q4_K]
 * </pre>
 */
public final class DecodeKernelExperiment {
  static final VectorSpecies<Float> FS = FloatVector.SPECIES_512;
  static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
  static final VectorSpecies<Byte> B256 = ByteVector.SPECIES_256;
  static final VectorSpecies<Short> S512 = ShortVector.SPECIES_512;
  static final VectorSpecies<Integer> IS = IntVector.SPECIES_512;
  static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
  static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(LE);
  static final int L = 16;
  static final com.sun.management.ThreadMXBean TM =
      (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();

  static float lanesSum(float[] lanes, int from) {
    float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
    for (int i = from; i < from + L; i += 4) {
      s0 += lanes[i];
      s1 += lanes[i + 1];
      s2 += lanes[i + 2];
      s3 += lanes[i + 3];
    }
    return (s0 + s1) + (s2 + s3);
  }

  // ------------------------------------------------------------ before: the float-lane kernels

  static float q80Base(MemorySegment s, long off, Q8Activations a, int n, float[] lanes) {
    short[] xs = a.qs;
    float[] xd = a.d;
    FloatVector a0 = FloatVector.zero(FS);
    for (int p = 0; p < n; p += 2 * L) {
      int b = p >> 5;
      long bo = off + 34L * b;
      ShortVector prod =
          ((ShortVector)
                  ByteVector.fromMemorySegment(B256, s, bo + 2 + (p & 31), LE)
                      .convertShape(VectorOperators.B2S, S512, 0))
              .mul(ShortVector.fromArray(S512, xs, p));
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

  static float q40Base(MemorySegment s, long off, Q8Activations a, int n, float[] lanes) {
    float[] xq = a.q;
    float[] xd = a.d;
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = a0;
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

  static FloatVector q40Chunk(
      MemorySegment s, long off, float[] xq, float[] xd, int p, FloatVector acc) {
    int b = p >> 4;
    int j = p & 15;
    long bo = off + 18L * b;
    IntVector v =
        (IntVector)
            ByteVector.fromMemorySegment(B128, s, bo + 2 + j, LE)
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

  static float q4kBase(MemorySegment s, long off, Q8Activations a, int n, float[] lanes) {
    float[] xq = a.q;
    float[] sd = a.sumd32;
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = a0;
    float m0 = 0f;
    float m1 = 0f;
    for (int p = 0; p < n / 2; p += 2 * L) {
      int b = p >> 7;
      int q = p & 127;
      int j = q >> 5;
      long bo = off + 144L * b;
      int dd = s.get(I32, bo);
      float dx = a.d[b];
      float d = Float.float16ToFloat((short) dd) * dx;
      float dmin = Float.float16ToFloat((short) (dd >>> 16));
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
      if ((q & 31) == 0) {
        m0 += dmin * ((mn >>> sh) & 0xFF) * sd[k];
        m1 += dmin * ((mn >>> (sh + 8)) & 0xFF) * sd[k + 1];
      }
      long addr = bo + 16 + q;
      IntVector v0 =
          (IntVector)
              ByteVector.fromMemorySegment(B128, s, addr, LE)
                  .convertShape(VectorOperators.B2I, IS, 0);
      IntVector v1 =
          (IntVector)
              ByteVector.fromMemorySegment(B128, s, addr + L, LE)
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

  interface Kernel {
    float dot(MemorySegment s, long off, Q8Activations a, int n, float[] lanes);
  }

  public static void main(String[] args) {
    if (!VectorMatMul.WIDE) {
      throw new IllegalStateException("needs 512-bit vectors");
    }
    int rows = args.length > 0 ? Integer.parseInt(args[0]) : 8960;
    int n = args.length > 1 ? Integer.parseInt(args[1]) : 1536;
    double secs = args.length > 2 ? Double.parseDouble(args[2]) : 1.5;
    String types = args.length > 3 ? args[3] : "Q8_0,Q4_0,Q4_K";
    for (String t : types.split(",")) {
      GgmlType type = GgmlType.valueOf(t);
      Kernel before;
      Kernel after;
      switch (type) {
        case Q8_0 -> {
          before = DecodeKernelExperiment::q80Base;
          after =
              (s, off, a, cols, lanes) -> VectorMatMul.dotQ80Wide(s, off, a.qs, a.d, cols, lanes);
        }
        case Q4_0 -> {
          before = DecodeKernelExperiment::q40Base;
          after =
              (s, off, a, cols, lanes) -> VectorMatMul.dotQ40Short(s, off, a.qs, a.d, cols, lanes);
        }
        case Q4_K -> {
          before = DecodeKernelExperiment::q4kBase;
          after = VectorMatMul::dotQ4KWide;
        }
        default -> throw new IllegalArgumentException(t);
      }
      run(type, rows, n, secs, before, after);
    }
  }

  private static void run(
      GgmlType type, int rows, int n, double secs, Kernel before, Kernel after) {
    GgufTensor heap = QuantTestData.random(type, rows, n, 1);
    MemorySegment s = Arena.global().allocate(heap.data().byteSize(), 64);
    s.copyFrom(heap.data());
    Q8Activations a = new Q8Activations();
    float[] x = QuantTestData.gaussian(n, 2);
    if (type == GgmlType.Q4_K) {
      a.quantizeQ8K(x, 1, n, false);
      a.permuteQ4K(n);
    } else {
      a.quantizeQ80(x, 1, n, false);
    }
    float[] lanes = new float[16 * L];
    long rb = type.bytesFor(n);
    Kernel[] ks = {before, after};
    String[] names = {"before", "after"};
    float[][] outs = new float[2][rows];
    System.out.printf("%s %d x %d (%.1f MB), one thread%n", type, rows, n, s.byteSize() / 1e6);
    for (int round = 0; round < 6; round++) {
      for (int v = 0; v < 2; v++) {
        Kernel k = ks[v];
        float[] out = outs[v];
        long t0 = TM.getCurrentThreadCpuTime();
        long wall = System.nanoTime();
        int calls = 0;
        while (System.nanoTime() - wall < (long) (secs * 1e9)) {
          for (int row = 0; row < rows; row++) {
            out[row] = k.dot(s, row * rb, a, n, lanes);
          }
          calls++;
        }
        double ms = (TM.getCurrentThreadCpuTime() - t0) / 1e6 / calls;
        double err = 0;
        double ref = 0;
        for (int r = 0; r < rows; r++) {
          err += Math.abs(out[r] - outs[0][r]);
          ref += Math.abs(outs[0][r]);
        }
        System.out.printf(
            "  round %d %-6s %7.3f ms/call %6.2f GB/s  rel. diff %.1e%n",
            round, names[v], ms, s.byteSize() / ms / 1e6, err / ref);
      }
    }
  }
}
