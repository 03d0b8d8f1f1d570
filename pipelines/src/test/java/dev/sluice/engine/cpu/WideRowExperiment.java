package dev.sluice.engine.cpu;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Why the 8960-wide {@code ffn_down} ran slower than the 1536-wide matrices at T = 1, and the fix
 * (not a test; docs/kernels.md "Wide rows"). One weight matrix of {@code megabytes} (more than the
 * L3, so every pass streams from DRAM as in a decode step; {@code 1} keeps it in L2) is multiplied
 * by one quantized activation row with, interleaved in rounds and timed by this thread's CPU time:
 *
 * <ul>
 *   <li>Q8_0 "shorts": {@code VectorMatMul.dotQ80Wide} (activations as a short array, 2 bytes per
 *       column);
 *   <li>Q8_0 "shorts, 4 KB window": a copy of it that reads only the first 2048 activations over
 *       and over (wrong result, same instructions): the cause test, the activations' cache
 *       footprint alone changes;
 *   <li>Q8_0 "bytes": {@code VectorMatMul.dotQ80WideBytes} (activations as bytes);
 *   <li>Q4_K "shorts" / "bytes": {@code dotQ4KWide} / {@code dotQ4KWideBytes}.
 * </ul>
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -Xmx2g -cp pipelines/target/classes:pipelines/target/test-classes \
 *   dev.sluice.engine.cpu.WideRowExperiment [cols=8960 megabytes=90 rounds=5 types=Q8_0,Q4_K]
 * </pre>
 */
public final class WideRowExperiment {
  private static final com.sun.management.ThreadMXBean TM =
      (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
  private static final VectorSpecies<Float> FS = FloatVector.SPECIES_512;
  private static final VectorSpecies<Byte> B256 = ByteVector.SPECIES_256;
  private static final VectorSpecies<Short> S512 = ShortVector.SPECIES_512;
  private static final VectorSpecies<Short> SH64 = ShortVector.SPECIES_64;
  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

  interface Kernel {
    float dot(MemorySegment s, long off, Q8Activations a, int n, float[] lanes);
  }

  /** dotQ80Wide reading activations {@code (32 b) & 2047} only: a 4 KB activation footprint. */
  static float q80Window(MemorySegment s, long off, Q8Activations a, int n, float[] lanes) {
    short[] xs = a.qs;
    float[] xd = a.d;
    FloatVector acc0 = FloatVector.zero(FS);
    FloatVector acc1 = acc0;
    int nb = n >> 5;
    for (int b = 0; b + 2 <= nb; b += 2) {
      long bo = off + 34L * b;
      int xi = (32 * b) & 2047;
      IntVector p0 =
          ((ShortVector)
                  ByteVector.fromMemorySegment(B256, s, bo + 2, LE)
                      .convertShape(VectorOperators.B2S, S512, 0))
              .mul(ShortVector.fromArray(S512, xs, xi))
              .reinterpretAsInts();
      IntVector p1 =
          ((ShortVector)
                  ByteVector.fromMemorySegment(B256, s, bo + 36, LE)
                      .convertShape(VectorOperators.B2S, S512, 0))
              .mul(ShortVector.fromArray(S512, xs, xi + 32))
              .reinterpretAsInts();
      p0 = p0.add(p0.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      p1 = p1.add(p1.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
      float d0 = Float.float16ToFloat(ShortVector.fromMemorySegment(SH64, s, bo, LE).lane(0));
      float d1 = Float.float16ToFloat(ShortVector.fromMemorySegment(SH64, s, bo + 34, LE).lane(0));
      acc0 =
          ((FloatVector) p0.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, d0 * xd[b]), acc0);
      acc1 =
          ((FloatVector) p1.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, d1 * xd[b + 1]), acc1);
    }
    acc0.add(acc1).intoArray(lanes, 0);
    float sum = 0f;
    for (int i = 0; i < 16; i++) {
      sum += lanes[i];
    }
    return sum;
  }

  public static void main(String[] args) {
    if (!VectorMatMul.WIDE) {
      throw new IllegalStateException("needs 512-bit vectors");
    }
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 8960;
    double mb = args.length > 1 ? Double.parseDouble(args[1]) : 90;
    int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 5;
    String types = args.length > 3 ? args[3] : "Q8_0,Q4_K";
    for (String tn : types.split(",")) {
      GgmlType type = GgmlType.valueOf(tn);
      String[] names;
      Kernel[] ks;
      if (type == GgmlType.Q8_0) {
        names = new String[] {"shorts", "shorts, 4 KB window", "bytes"};
        ks =
            new Kernel[] {
              (s, off, a, cols, lanes) -> VectorMatMul.dotQ80Wide(s, off, a.qs, a.d, cols, lanes),
              WideRowExperiment::q80Window,
              (s, off, a, cols, lanes) ->
                  VectorMatMul.dotQ80WideBytes(s, off, a.qb, a.d, cols, lanes)
            };
      } else if (type == GgmlType.Q4_K) {
        names = new String[] {"shorts", "bytes"};
        ks = new Kernel[] {VectorMatMul::dotQ4KWide, VectorMatMul::dotQ4KWideBytes};
      } else {
        throw new IllegalArgumentException(tn);
      }
      long rb = type.bytesFor(n);
      int rows = (int) Math.max(4, mb * 1e6 / rb);
      // One random block of rows repeated to fill the matrix (writing 90 MB of random blocks is
      // slow); the kernels do not care.
      GgufTensor heap = QuantTestData.random(type, Math.min(rows, 1024), n, 1);
      MemorySegment s = Arena.global().allocate(rb * rows, 4096);
      for (long o = 0; o < s.byteSize(); o += heap.data().byteSize()) {
        long len = Math.min(heap.data().byteSize(), s.byteSize() - o);
        s.asSlice(o, len).copyFrom(heap.data().asSlice(0, len));
      }
      Q8Activations a = new Q8Activations();
      float[] x = QuantTestData.gaussian(n, 2);
      if (type == GgmlType.Q8_0) {
        a.quantizeQ80(x, 1, n, false);
      } else {
        a.quantizeQ8K(x, 1, n, false);
        a.permuteQ4K(n);
      }
      float[] lanes = new float[16 * 16];
      float[] out = new float[rows];
      double[][] gbs = new double[ks.length][rounds];
      for (int round = -1; round < rounds; round++) { // round -1: warm-up
        for (int v = 0; v < ks.length; v++) {
          long t0 = TM.getCurrentThreadCpuTime();
          long w0 = System.nanoTime();
          long calls = 0;
          while (System.nanoTime() - w0 < 400_000_000L) {
            for (int r = 0; r < rows; r++) {
              out[r] = ks[v].dot(s, r * rb, a, n, lanes);
            }
            calls++;
          }
          double ms = (TM.getCurrentThreadCpuTime() - t0) / 1e6 / calls;
          if (round >= 0) {
            gbs[v][round] = s.byteSize() / ms / 1e6;
          }
        }
      }
      System.out.printf(
          "%s %d rows x %d cols (%.0f MB), one thread, %d rounds, GB/s of weights:%n",
          type, rows, n, s.byteSize() / 1e6, rounds);
      for (int v = 0; v < ks.length; v++) {
        Arrays.sort(gbs[v]);
        System.out.printf(
            "  %-22s median %6.2f  (%.2f - %.2f)%n",
            names[v], gbs[v][rounds / 2], gbs[v][0], gbs[v][rounds - 1]);
      }
    }
  }
}
