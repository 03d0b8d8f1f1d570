package dev.sluice.engine.cpu;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.*;

/**
 * The measurement behind the kernel choices in docs/kernels.md (not a test): variants of the T = 1
 * Q4_K and Q8_0 row dots on 2048 x 1536 weights, timed by thread CPU time. v0: one vector per step,
 * scale applied per vector; v1: two vectors per step, exact integer sums in float lanes, one scale
 * FMA per sub-block (chosen for Q4_K); v2: v1 with int lanes and int multiplies; v3: 16-bit lanes;
 * v4: Q8_0 with weights converted to float and FMA; v5: Q8_0 with 16-bit integer products (chosen).
 * Assumes 512-bit vectors.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp pipelines/target/classes:pipelines/target/test-classes \
 *   dev.sluice.engine.cpu.MatMulPathExperiment
 * </pre>
 */
public final class MatMulPathExperiment {
  static final VectorSpecies<Float> FS = FloatVector.SPECIES_512;
  static final VectorSpecies<Byte> BS = ByteVector.SPECIES_128;
  static final VectorSpecies<Integer> IS = IntVector.SPECIES_512;
  static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
  static final int L = 16;
  static final com.sun.management.ThreadMXBean TM =
      (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();

  // current kernel shape
  static float v0(MemorySegment s, long off, float[] xq, float[] xd, float[] scale, int n) {
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = a0;
    for (int p = 0; p < n / 2; p += L) {
      int b = p >> 7;
      int q = p & 127;
      int k = 8 * b + 2 * (q >> 5);
      float dx = xd[b];
      IntVector v =
          (IntVector)
              ByteVector.fromMemorySegment(BS, s, off + 144L * b + 16 + q, LE)
                  .convertShape(VectorOperators.B2I, IS, 0);
      int x0 = 256 * b + 2 * (q & ~31) + (q & 31);
      a0 =
          ((FloatVector) v.and(0xF).convert(VectorOperators.I2F, 0))
              .mul(FloatVector.fromArray(FS, xq, x0))
              .fma(FloatVector.broadcast(FS, scale[k] * dx), a0);
      a1 =
          ((FloatVector)
                  v.lanewise(VectorOperators.LSHR, 4).and(0xF).convert(VectorOperators.I2F, 0))
              .mul(FloatVector.fromArray(FS, xq, x0 + 32))
              .fma(FloatVector.broadcast(FS, scale[k + 1] * dx), a1);
    }
    return a0.add(a1).reduceLanes(VectorOperators.ADD);
  }

  // 2L per iteration, exact int sums then one scale fma per sub-block
  static float v1(MemorySegment s, long off, float[] xq, float[] xd, float[] scale, int n) {
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = a0;
    for (int p = 0; p < n / 2; p += 2 * L) {
      int b = p >> 7;
      int q = p & 127;
      int k = 8 * b + 2 * (q >> 5);
      float dx = xd[b];
      long addr = off + 144L * b + 16 + q;
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
      a0 = lo.fma(FloatVector.broadcast(FS, scale[k] * dx), a0);
      a1 = hi.fma(FloatVector.broadcast(FS, scale[k + 1] * dx), a1);
    }
    return a0.add(a1).reduceLanes(VectorOperators.ADD);
  }

  // v1 but with int-domain products: activations as int[]; int mul, int adds, one I2F per sub-block
  static float v2(MemorySegment s, long off, int[] xi, float[] xd, float[] scale, int n) {
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = a0;
    for (int p = 0; p < n / 2; p += 2 * L) {
      int b = p >> 7;
      int q = p & 127;
      int k = 8 * b + 2 * (q >> 5);
      float dx = xd[b];
      long addr = off + 144L * b + 16 + q;
      IntVector v0 =
          (IntVector)
              ByteVector.fromMemorySegment(BS, s, addr, LE)
                  .convertShape(VectorOperators.B2I, IS, 0);
      IntVector v1 =
          (IntVector)
              ByteVector.fromMemorySegment(BS, s, addr + L, LE)
                  .convertShape(VectorOperators.B2I, IS, 0);
      int x0 = 256 * b + 2 * (q & ~31) + (q & 31);
      IntVector lo =
          v0.and(0xF)
              .mul(IntVector.fromArray(IS, xi, x0))
              .add(v1.and(0xF).mul(IntVector.fromArray(IS, xi, x0 + L)));
      IntVector hi =
          v0.lanewise(VectorOperators.LSHR, 4)
              .and(0xF)
              .mul(IntVector.fromArray(IS, xi, x0 + 32))
              .add(
                  v1.lanewise(VectorOperators.LSHR, 4)
                      .and(0xF)
                      .mul(IntVector.fromArray(IS, xi, x0 + 32 + L)));
      a0 =
          ((FloatVector) lo.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, scale[k] * dx), a0);
      a1 =
          ((FloatVector) hi.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, scale[k + 1] * dx), a1);
    }
    return a0.add(a1).reduceLanes(VectorOperators.ADD);
  }

  // short path: 32 bytes -> 32 short lanes, short mul with int16 activations, widen to int
  static final VectorSpecies<Byte> BS256 = ByteVector.SPECIES_256;
  static final VectorSpecies<Short> SS512 = ShortVector.SPECIES_512;

  static float v3(MemorySegment s, long off, short[] xs, float[] xd, float[] scale, int n) {
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = a0;
    for (int p = 0; p < n / 2; p += 32) {
      int b = p >> 7;
      int q = p & 127;
      int k = 8 * b + 2 * (q >> 5);
      float dx = xd[b];
      ShortVector v =
          (ShortVector)
              ByteVector.fromMemorySegment(BS256, s, off + 144L * b + 16 + q, LE)
                  .convertShape(VectorOperators.B2S, SS512, 0);
      int x0 = 256 * b + 2 * q;
      ShortVector lo = v.and((short) 0xF).mul(ShortVector.fromArray(SS512, xs, x0));
      ShortVector hi =
          v.lanewise(VectorOperators.LSHR, 4)
              .and((short) 0xF)
              .mul(ShortVector.fromArray(SS512, xs, x0 + 32));
      IntVector li =
          ((IntVector) lo.convertShape(VectorOperators.S2I, IS, 0))
              .add((IntVector) lo.convertShape(VectorOperators.S2I, IS, 1));
      IntVector hs =
          ((IntVector) hi.convertShape(VectorOperators.S2I, IS, 0))
              .add((IntVector) hi.convertShape(VectorOperators.S2I, IS, 1));
      a0 =
          ((FloatVector) li.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, scale[k] * dx), a0);
      a1 =
          ((FloatVector) hs.convert(VectorOperators.I2F, 0))
              .fma(FloatVector.broadcast(FS, scale[k + 1] * dx), a1);
    }
    return a0.add(a1).reduceLanes(VectorOperators.ADD);
  }

  // v1 with nibbles masked in byte lanes (high nibble kept as 16 * h, the 1/16 folded into the
  // scale) and zero-extended: fewer and narrower operations than shifting int lanes
  static float v6(MemorySegment s, long off, float[] xq, float[] xd, float[] scale, int n) {
    FloatVector a0 = FloatVector.zero(FS);
    FloatVector a1 = a0;
    for (int p = 0; p < n / 2; p += 2 * L) {
      int b = p >> 7;
      int q = p & 127;
      int k = 8 * b + 2 * (q >> 5);
      float dx = xd[b];
      long addr = off + 144L * b + 16 + q;
      ByteVector b0 = ByteVector.fromMemorySegment(BS, s, addr, LE);
      ByteVector b1 = ByteVector.fromMemorySegment(BS, s, addr + L, LE);
      int x0 = 256 * b + 2 * (q & ~31) + (q & 31);
      FloatVector lo =
          ((FloatVector)
                  ((IntVector) b0.and((byte) 0x0F).convertShape(VectorOperators.B2I, IS, 0))
                      .convert(VectorOperators.I2F, 0))
              .mul(FloatVector.fromArray(FS, xq, x0));
      lo =
          ((FloatVector)
                  ((IntVector) b1.and((byte) 0x0F).convertShape(VectorOperators.B2I, IS, 0))
                      .convert(VectorOperators.I2F, 0))
              .fma(FloatVector.fromArray(FS, xq, x0 + L), lo);
      FloatVector hi =
          ((FloatVector)
                  ((IntVector)
                          b0.and((byte) 0xF0).convertShape(VectorOperators.ZERO_EXTEND_B2I, IS, 0))
                      .convert(VectorOperators.I2F, 0))
              .mul(FloatVector.fromArray(FS, xq, x0 + 32));
      hi =
          ((FloatVector)
                  ((IntVector)
                          b1.and((byte) 0xF0).convertShape(VectorOperators.ZERO_EXTEND_B2I, IS, 0))
                      .convert(VectorOperators.I2F, 0))
              .fma(FloatVector.fromArray(FS, xq, x0 + 32 + L), hi);
      a0 = lo.fma(FloatVector.broadcast(FS, scale[k] * dx), a0);
      a1 = hi.fma(FloatVector.broadcast(FS, scale[k + 1] * dx * 0.0625f), a1);
    }
    return a0.add(a1).reduceLanes(VectorOperators.ADD);
  }

  // Q8_0: float path (current) vs int/short path
  static float q8f(MemorySegment s, long off, float[] xq, float[] xd, int n) {
    FloatVector a0 = FloatVector.zero(FS);
    for (int p = 0; p < n; p += L) {
      float d =
          Float.float16ToFloat(
                  s.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, off + 34L * (p >> 5)))
              * xd[p >> 5];
      a0 =
          ((FloatVector)
                  ByteVector.fromMemorySegment(BS, s, off + 34L * (p >> 5) + 2 + (p & 31), LE)
                      .convertShape(VectorOperators.B2F, FS, 0))
              .mul(FloatVector.fromArray(FS, xq, p))
              .fma(FloatVector.broadcast(FS, d), a0);
    }
    return a0.reduceLanes(VectorOperators.ADD);
  }

  static float q8s(MemorySegment s, long off, short[] xs, float[] xd, int n) {
    FloatVector a0 = FloatVector.zero(FS);
    for (int p = 0; p < n; p += 32) {
      float d =
          Float.float16ToFloat(
                  s.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, off + 34L * (p >> 5)))
              * xd[p >> 5];
      ShortVector pr =
          ((ShortVector)
                  ByteVector.fromMemorySegment(BS256, s, off + 34L * (p >> 5) + 2, LE)
                      .convertShape(VectorOperators.B2S, SS512, 0))
              .mul(ShortVector.fromArray(SS512, xs, p));
      IntVector si =
          ((IntVector) pr.convertShape(VectorOperators.S2I, IS, 0))
              .add((IntVector) pr.convertShape(VectorOperators.S2I, IS, 1));
      a0 = ((FloatVector) si.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(FS, d), a0);
    }
    return a0.reduceLanes(VectorOperators.ADD);
  }

  public static void main(String[] args) {
    int rows = 2048, n = 1536;
    GgufTensor w = QuantTestData.random(GgmlType.Q4_K, rows, n, 1);
    GgufTensor w8 = QuantTestData.random(GgmlType.Q8_0, rows, n, 1);
    Arena arena = Arena.ofShared();
    MemorySegment s = arena.allocate(w.data().byteSize(), 64);
    s.copyFrom(w.data());
    MemorySegment s8 = arena.allocate(w8.data().byteSize(), 64);
    s8.copyFrom(w8.data());
    java.util.Random r = new java.util.Random(1);
    float[] xq = new float[n];
    int[] xi = new int[n];
    short[] xs = new short[n];
    for (int i = 0; i < n; i++) {
      xi[i] = r.nextInt(255) - 127;
      xq[i] = xi[i];
      xs[i] = (short) xi[i];
    }
    float[] xd = new float[n / 32];
    java.util.Arrays.fill(xd, 0.01f);
    float[] scale = new float[n / 16];
    for (int i = 0; i < scale.length; i++) scale[i] = r.nextFloat();
    long rb = n / 256 * 144L;
    long rb8 = n / 32 * 34L;
    for (int round = 0; round < 3; round++) {
      for (int v = 0; v < 7; v++) {
        double sink = 0;
        long t0 = TM.getCurrentThreadCpuTime();
        long wall = System.nanoTime();
        int calls = 0;
        while (System.nanoTime() - wall < 1_500_000_000L) {
          for (int row = 0; row < rows; row++) {
            sink +=
                switch (v) {
                  case 0 -> v0(s, row * rb, xq, xd, scale, n);
                  case 1 -> v1(s, row * rb, xq, xd, scale, n);
                  case 2 -> v2(s, row * rb, xi, xd, scale, n);
                  case 3 -> v3(s, row * rb, xs, xd, scale, n);
                  case 4 -> q8f(s8, row * rb8, xq, xd, n);
                  case 6 -> v6(s, row * rb, xq, xd, scale, n);
                  default -> q8s(s8, row * rb8, xs, xd, n);
                };
          }
          calls++;
        }
        double ms = (TM.getCurrentThreadCpuTime() - t0) / 1e6 / calls;
        long bytes = v == 4 || v == 5 ? s8.byteSize() : s.byteSize();
        System.out.printf(
            "round %d v%d %.3f ms/call %.2f GB/s (%s)%n", round, v, ms, bytes / ms / 1e6, sink);
      }
    }
  }
}
