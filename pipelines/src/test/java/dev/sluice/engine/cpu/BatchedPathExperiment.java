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
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The measurements behind the batched-path choices in docs/kernels.md ("The batched path"), not a
 * test: (1) register tiles on cache-resident floats (4x4 kept; 4x6, 3x8, and a broadcast kernel
 * over a 32-row interleaved panel), in G multiply-adds/s; (2) decoding 8960 x 1536 Q8_0 rows to
 * floats per vector, per 32-value block (kept) and without the stores; (3) a T = 16 product: {@link
 * MatMul#fast} against weights unpacked in registers (1 row x 16 tokens; 2 rows x 8 tokens, two
 * passes). Thread CPU time; assumes 512-bit vectors.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp pipelines/target/classes:pipelines/target/test-classes \
 *   dev.sluice.engine.cpu.BatchedPathExperiment
 * </pre>
 */
public final class BatchedPathExperiment {
  static final VectorSpecies<Float> FS = FloatVector.SPECIES_512;
  static final VectorSpecies<Byte> BS = ByteVector.SPECIES_128;
  static final VectorSpecies<Integer> IS = jdk.incubator.vector.IntVector.SPECIES_512;
  static final int L = 16;
  static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
  static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
  static final com.sun.management.ThreadMXBean TM =
      (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
  static float sink;

  // ------------------------------------------------------------------ (1) register tiles

  static void k4x4(float[] w, float[] xf, int n, int t0, float[] lanes) {
    FloatVector a0 = FloatVector.zero(FS),
        a1 = a0,
        a2 = a0,
        a3 = a0,
        b0 = a0,
        b1 = a0,
        b2 = a0,
        b3 = a0,
        c0 = a0,
        c1 = a0,
        c2 = a0,
        c3 = a0,
        d0 = a0,
        d1 = a0,
        d2 = a0,
        d3 = a0;
    int o0 = t0 * n, o1 = o0 + n, o2 = o1 + n, o3 = o2 + n;
    for (int c = 0; c < n; c += L) {
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
    a0.add(a1)
        .add(a2)
        .add(a3)
        .add(b0)
        .add(b1)
        .add(b2)
        .add(b3)
        .add(c0)
        .add(c1)
        .add(c2)
        .add(c3)
        .add(d0)
        .add(d1)
        .add(d2)
        .add(d3)
        .intoArray(lanes, 0);
  }

  // 4 rows x 6 tokens
  static void k4x6(float[] w, float[] xf, int n, int t0, float[] lanes) {
    FloatVector a0 = FloatVector.zero(FS),
        a1 = a0,
        a2 = a0,
        a3 = a0,
        a4 = a0,
        a5 = a0,
        b0 = a0,
        b1 = a0,
        b2 = a0,
        b3 = a0,
        b4 = a0,
        b5 = a0,
        c0 = a0,
        c1 = a0,
        c2 = a0,
        c3 = a0,
        c4 = a0,
        c5 = a0,
        d0 = a0,
        d1 = a0,
        d2 = a0,
        d3 = a0,
        d4 = a0,
        d5 = a0;
    int o0 = t0 * n;
    for (int c = 0; c < n; c += L) {
      FloatVector w0 = FloatVector.fromArray(FS, w, c);
      FloatVector w1 = FloatVector.fromArray(FS, w, n + c);
      FloatVector w2 = FloatVector.fromArray(FS, w, 2 * n + c);
      FloatVector w3 = FloatVector.fromArray(FS, w, 3 * n + c);
      FloatVector x = FloatVector.fromArray(FS, xf, o0 + c);
      a0 = w0.fma(x, a0);
      b0 = w1.fma(x, b0);
      c0 = w2.fma(x, c0);
      d0 = w3.fma(x, d0);
      x = FloatVector.fromArray(FS, xf, o0 + n + c);
      a1 = w0.fma(x, a1);
      b1 = w1.fma(x, b1);
      c1 = w2.fma(x, c1);
      d1 = w3.fma(x, d1);
      x = FloatVector.fromArray(FS, xf, o0 + 2 * n + c);
      a2 = w0.fma(x, a2);
      b2 = w1.fma(x, b2);
      c2 = w2.fma(x, c2);
      d2 = w3.fma(x, d2);
      x = FloatVector.fromArray(FS, xf, o0 + 3 * n + c);
      a3 = w0.fma(x, a3);
      b3 = w1.fma(x, b3);
      c3 = w2.fma(x, c3);
      d3 = w3.fma(x, d3);
      x = FloatVector.fromArray(FS, xf, o0 + 4 * n + c);
      a4 = w0.fma(x, a4);
      b4 = w1.fma(x, b4);
      c4 = w2.fma(x, c4);
      d4 = w3.fma(x, d4);
      x = FloatVector.fromArray(FS, xf, o0 + 5 * n + c);
      a5 = w0.fma(x, a5);
      b5 = w1.fma(x, b5);
      c5 = w2.fma(x, c5);
      d5 = w3.fma(x, d5);
    }
    a0.add(a1)
        .add(a2)
        .add(a3)
        .add(a4)
        .add(a5)
        .add(b0)
        .add(b1)
        .add(b2)
        .add(b3)
        .add(b4)
        .add(b5)
        .add(c0)
        .add(c1)
        .add(c2)
        .add(c3)
        .add(c4)
        .add(c5)
        .add(d0)
        .add(d1)
        .add(d2)
        .add(d3)
        .add(d4)
        .add(d5)
        .intoArray(lanes, 0);
  }

  // 3 rows x 8 tokens
  static void k3x8(float[] w, float[] xf, int n, int t0, float[] lanes) {
    FloatVector a0 = FloatVector.zero(FS),
        a1 = a0,
        a2 = a0,
        a3 = a0,
        a4 = a0,
        a5 = a0,
        a6 = a0,
        a7 = a0,
        b0 = a0,
        b1 = a0,
        b2 = a0,
        b3 = a0,
        b4 = a0,
        b5 = a0,
        b6 = a0,
        b7 = a0,
        c0 = a0,
        c1 = a0,
        c2 = a0,
        c3 = a0,
        c4 = a0,
        c5 = a0,
        c6 = a0,
        c7 = a0;
    int o0 = t0 * n;
    for (int c = 0; c < n; c += L) {
      FloatVector w0 = FloatVector.fromArray(FS, w, c);
      FloatVector w1 = FloatVector.fromArray(FS, w, n + c);
      FloatVector w2 = FloatVector.fromArray(FS, w, 2 * n + c);
      FloatVector x = FloatVector.fromArray(FS, xf, o0 + c);
      a0 = w0.fma(x, a0);
      b0 = w1.fma(x, b0);
      c0 = w2.fma(x, c0);
      x = FloatVector.fromArray(FS, xf, o0 + n + c);
      a1 = w0.fma(x, a1);
      b1 = w1.fma(x, b1);
      c1 = w2.fma(x, c1);
      x = FloatVector.fromArray(FS, xf, o0 + 2 * n + c);
      a2 = w0.fma(x, a2);
      b2 = w1.fma(x, b2);
      c2 = w2.fma(x, c2);
      x = FloatVector.fromArray(FS, xf, o0 + 3 * n + c);
      a3 = w0.fma(x, a3);
      b3 = w1.fma(x, b3);
      c3 = w2.fma(x, c3);
      x = FloatVector.fromArray(FS, xf, o0 + 4 * n + c);
      a4 = w0.fma(x, a4);
      b4 = w1.fma(x, b4);
      c4 = w2.fma(x, c4);
      x = FloatVector.fromArray(FS, xf, o0 + 5 * n + c);
      a5 = w0.fma(x, a5);
      b5 = w1.fma(x, b5);
      c5 = w2.fma(x, c5);
      x = FloatVector.fromArray(FS, xf, o0 + 6 * n + c);
      a6 = w0.fma(x, a6);
      b6 = w1.fma(x, b6);
      c6 = w2.fma(x, c6);
      x = FloatVector.fromArray(FS, xf, o0 + 7 * n + c);
      a7 = w0.fma(x, a7);
      b7 = w1.fma(x, b7);
      c7 = w2.fma(x, c7);
    }
    a0.add(a1)
        .add(a2)
        .add(a3)
        .add(a4)
        .add(a5)
        .add(a6)
        .add(a7)
        .add(b0)
        .add(b1)
        .add(b2)
        .add(b3)
        .add(b4)
        .add(b5)
        .add(b6)
        .add(b7)
        .add(c0)
        .add(c1)
        .add(c2)
        .add(c3)
        .add(c4)
        .add(c5)
        .add(c6)
        .add(c7)
        .intoArray(lanes, 0);
  }

  // broadcast style: wp is a panel (n, 32): 32 rows interleaved per column; 2 row-vectors x 12
  // tokens
  static void kbc(float[] wp, float[] xf, int n, int t0, float[] lanes) {
    FloatVector a0 = FloatVector.zero(FS),
        a1 = a0,
        a2 = a0,
        a3 = a0,
        a4 = a0,
        a5 = a0,
        a6 = a0,
        a7 = a0,
        a8 = a0,
        a9 = a0,
        a10 = a0,
        a11 = a0,
        b0 = a0,
        b1 = a0,
        b2 = a0,
        b3 = a0,
        b4 = a0,
        b5 = a0,
        b6 = a0,
        b7 = a0,
        b8 = a0,
        b9 = a0,
        b10 = a0,
        b11 = a0;
    int o = t0 * n;
    for (int c = 0; c < n; c++) {
      FloatVector w0 = FloatVector.fromArray(FS, wp, 32 * c);
      FloatVector w1 = FloatVector.fromArray(FS, wp, 32 * c + 16);
      FloatVector x = FloatVector.broadcast(FS, xf[o + c]);
      a0 = w0.fma(x, a0);
      b0 = w1.fma(x, b0);
      x = FloatVector.broadcast(FS, xf[o + n + c]);
      a1 = w0.fma(x, a1);
      b1 = w1.fma(x, b1);
      x = FloatVector.broadcast(FS, xf[o + 2 * n + c]);
      a2 = w0.fma(x, a2);
      b2 = w1.fma(x, b2);
      x = FloatVector.broadcast(FS, xf[o + 3 * n + c]);
      a3 = w0.fma(x, a3);
      b3 = w1.fma(x, b3);
      x = FloatVector.broadcast(FS, xf[o + 4 * n + c]);
      a4 = w0.fma(x, a4);
      b4 = w1.fma(x, b4);
      x = FloatVector.broadcast(FS, xf[o + 5 * n + c]);
      a5 = w0.fma(x, a5);
      b5 = w1.fma(x, b5);
      x = FloatVector.broadcast(FS, xf[o + 6 * n + c]);
      a6 = w0.fma(x, a6);
      b6 = w1.fma(x, b6);
      x = FloatVector.broadcast(FS, xf[o + 7 * n + c]);
      a7 = w0.fma(x, a7);
      b7 = w1.fma(x, b7);
      x = FloatVector.broadcast(FS, xf[o + 8 * n + c]);
      a8 = w0.fma(x, a8);
      b8 = w1.fma(x, b8);
      x = FloatVector.broadcast(FS, xf[o + 9 * n + c]);
      a9 = w0.fma(x, a9);
      b9 = w1.fma(x, b9);
      x = FloatVector.broadcast(FS, xf[o + 10 * n + c]);
      a10 = w0.fma(x, a10);
      b10 = w1.fma(x, b10);
      x = FloatVector.broadcast(FS, xf[o + 11 * n + c]);
      a11 = w0.fma(x, a11);
      b11 = w1.fma(x, b11);
    }
    a0.add(a1)
        .add(a2)
        .add(a3)
        .add(a4)
        .add(a5)
        .add(a6)
        .add(a7)
        .add(a8)
        .add(a9)
        .add(a10)
        .add(a11)
        .add(b0)
        .add(b1)
        .add(b2)
        .add(b3)
        .add(b4)
        .add(b5)
        .add(b6)
        .add(b7)
        .add(b8)
        .add(b9)
        .add(b10)
        .add(b11)
        .intoArray(lanes, 0);
  }

  // ------------------------------------------------------------------ (2) Q8_0 row decode

  static void decPerVector(MemorySegment s, long base, int n, float[] dst, int off) {
    for (int p = 0; p < n; p += L) {
      float d = MatMul.f16(s, base + 34L * (p >> 5));
      ((FloatVector)
              ByteVector.fromMemorySegment(BS, s, base + 34L * ((p) >> 5) + 2 + ((p) & 31), LE)
                  .convertShape(VectorOperators.B2F, FS, 0))
          .mul(d)
          .intoArray(dst, off + p);
    }
  }

  static void decPerBlock(MemorySegment s, long base, int n, float[] dst, int off) {
    for (int b = 0; b < n / 32; b++) {
      long bo = base + 34L * b;
      float d = Float.float16ToFloat(s.get(F16, bo));
      ((FloatVector)
              ((IntVector)
                      ByteVector.fromMemorySegment(BS, s, bo + 2, LE)
                          .convertShape(VectorOperators.B2I, IS, 0))
                  .convert(VectorOperators.I2F, 0))
          .mul(d)
          .intoArray(dst, off + 32 * b);
      ((FloatVector)
              ((IntVector)
                      ByteVector.fromMemorySegment(BS, s, bo + 18, LE)
                          .convertShape(VectorOperators.B2I, IS, 0))
                  .convert(VectorOperators.I2F, 0))
          .mul(d)
          .intoArray(dst, off + 32 * b + 16);
    }
  }

  static void decNoStore(MemorySegment s, long base, int n, float[] dst, int off) {
    FloatVector acc = FloatVector.zero(FS);
    for (int b = 0; b < n / 32; b++) {
      long bo = base + 34L * b;
      float d = Float.float16ToFloat(s.get(F16, bo));
      acc =
          acc.add(
              ((FloatVector)
                      ((IntVector)
                              ByteVector.fromMemorySegment(BS, s, bo + 2, LE)
                                  .convertShape(VectorOperators.B2I, IS, 0))
                          .convert(VectorOperators.I2F, 0))
                  .mul(d));
      acc =
          acc.add(
              ((FloatVector)
                      ((IntVector)
                              ByteVector.fromMemorySegment(BS, s, bo + 18, LE)
                                  .convertShape(VectorOperators.B2I, IS, 0))
                          .convert(VectorOperators.I2F, 0))
                  .mul(d));
    }
    acc.intoArray(dst, off);
  }

  // ------------------------------------------------------------------ (3) fused decode + tile

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

  static void r1g16(
      MemorySegment s, long base, int n, float[] x, float[] out, int rows, int r, float[] lanes) {
    FloatVector a0 = FloatVector.zero(FS),
        a1 = a0,
        a2 = a0,
        a3 = a0,
        a4 = a0,
        a5 = a0,
        a6 = a0,
        a7 = a0;
    FloatVector a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0;
    for (int c = 0; c < n; c += L) {
      long bo = base + 34L * (c >> 5);
      float d = Float.float16ToFloat(s.get(F16, bo));
      FloatVector w =
          ((FloatVector)
                  ((IntVector)
                          ByteVector.fromMemorySegment(BS, s, bo + 2 + (c & 31), LE)
                              .convertShape(VectorOperators.B2I, IS, 0))
                      .convert(VectorOperators.I2F, 0))
              .mul(d);
      a0 = w.fma(FloatVector.fromArray(FS, x, c), a0);
      a1 = w.fma(FloatVector.fromArray(FS, x, n + c), a1);
      a2 = w.fma(FloatVector.fromArray(FS, x, 2 * n + c), a2);
      a3 = w.fma(FloatVector.fromArray(FS, x, 3 * n + c), a3);
      a4 = w.fma(FloatVector.fromArray(FS, x, 4 * n + c), a4);
      a5 = w.fma(FloatVector.fromArray(FS, x, 5 * n + c), a5);
      a6 = w.fma(FloatVector.fromArray(FS, x, 6 * n + c), a6);
      a7 = w.fma(FloatVector.fromArray(FS, x, 7 * n + c), a7);
      a8 = w.fma(FloatVector.fromArray(FS, x, 8 * n + c), a8);
      a9 = w.fma(FloatVector.fromArray(FS, x, 9 * n + c), a9);
      a10 = w.fma(FloatVector.fromArray(FS, x, 10 * n + c), a10);
      a11 = w.fma(FloatVector.fromArray(FS, x, 11 * n + c), a11);
      a12 = w.fma(FloatVector.fromArray(FS, x, 12 * n + c), a12);
      a13 = w.fma(FloatVector.fromArray(FS, x, 13 * n + c), a13);
      a14 = w.fma(FloatVector.fromArray(FS, x, 14 * n + c), a14);
      a15 = w.fma(FloatVector.fromArray(FS, x, 15 * n + c), a15);
    }
    a0.intoArray(lanes, 0);
    a1.intoArray(lanes, L);
    a2.intoArray(lanes, 2 * L);
    a3.intoArray(lanes, 3 * L);
    a4.intoArray(lanes, 4 * L);
    a5.intoArray(lanes, 5 * L);
    a6.intoArray(lanes, 6 * L);
    a7.intoArray(lanes, 7 * L);
    a8.intoArray(lanes, 8 * L);
    a9.intoArray(lanes, 9 * L);
    a10.intoArray(lanes, 10 * L);
    a11.intoArray(lanes, 11 * L);
    a12.intoArray(lanes, 12 * L);
    a13.intoArray(lanes, 13 * L);
    a14.intoArray(lanes, 14 * L);
    a15.intoArray(lanes, 15 * L);
    for (int k = 0; k < 16; k++) out[k * rows + r] = lanesSum(lanes, k * L);
  }

  static void r2g8(
      MemorySegment s,
      long base,
      long base2,
      int n,
      float[] x,
      int t0,
      float[] out,
      int rows,
      int r,
      float[] lanes) {
    FloatVector a0 = FloatVector.zero(FS),
        a1 = a0,
        a2 = a0,
        a3 = a0,
        a4 = a0,
        a5 = a0,
        a6 = a0,
        a7 = a0;
    FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0;
    int o = t0 * n;
    for (int c = 0; c < n; c += L) {
      long bo = base + 34L * (c >> 5);
      long bo2 = base2 + 34L * (c >> 5);
      FloatVector w =
          ((FloatVector)
                  ((IntVector)
                          ByteVector.fromMemorySegment(BS, s, bo + 2 + (c & 31), LE)
                              .convertShape(VectorOperators.B2I, IS, 0))
                      .convert(VectorOperators.I2F, 0))
              .mul(Float.float16ToFloat(s.get(F16, bo)));
      FloatVector v =
          ((FloatVector)
                  ((IntVector)
                          ByteVector.fromMemorySegment(BS, s, bo2 + 2 + (c & 31), LE)
                              .convertShape(VectorOperators.B2I, IS, 0))
                      .convert(VectorOperators.I2F, 0))
              .mul(Float.float16ToFloat(s.get(F16, bo2)));
      FloatVector xx = FloatVector.fromArray(FS, x, o + c);
      a0 = w.fma(xx, a0);
      b0 = v.fma(xx, b0);
      xx = FloatVector.fromArray(FS, x, o + n + c);
      a1 = w.fma(xx, a1);
      b1 = v.fma(xx, b1);
      xx = FloatVector.fromArray(FS, x, o + 2 * n + c);
      a2 = w.fma(xx, a2);
      b2 = v.fma(xx, b2);
      xx = FloatVector.fromArray(FS, x, o + 3 * n + c);
      a3 = w.fma(xx, a3);
      b3 = v.fma(xx, b3);
      xx = FloatVector.fromArray(FS, x, o + 4 * n + c);
      a4 = w.fma(xx, a4);
      b4 = v.fma(xx, b4);
      xx = FloatVector.fromArray(FS, x, o + 5 * n + c);
      a5 = w.fma(xx, a5);
      b5 = v.fma(xx, b5);
      xx = FloatVector.fromArray(FS, x, o + 6 * n + c);
      a6 = w.fma(xx, a6);
      b6 = v.fma(xx, b6);
      xx = FloatVector.fromArray(FS, x, o + 7 * n + c);
      a7 = w.fma(xx, a7);
      b7 = v.fma(xx, b7);
    }
    a0.intoArray(lanes, 0);
    a1.intoArray(lanes, L);
    a2.intoArray(lanes, 2 * L);
    a3.intoArray(lanes, 3 * L);
    a4.intoArray(lanes, 4 * L);
    a5.intoArray(lanes, 5 * L);
    a6.intoArray(lanes, 6 * L);
    a7.intoArray(lanes, 7 * L);
    b0.intoArray(lanes, 8 * L);
    b1.intoArray(lanes, 9 * L);
    b2.intoArray(lanes, 10 * L);
    b3.intoArray(lanes, 11 * L);
    b4.intoArray(lanes, 12 * L);
    b5.intoArray(lanes, 13 * L);
    b6.intoArray(lanes, 14 * L);
    b7.intoArray(lanes, 15 * L);
    for (int k = 0; k < 8; k++) {
      out[(t0 + k) * rows + r] = lanesSum(lanes, k * L);
      out[(t0 + k) * rows + r + 1] = lanesSum(lanes, (8 + k) * L);
    }
  }

  public static void main(String[] args) {
    tiles(1536);
    tiles(8960);
    int rows = 8960;
    int cols = 1536;
    try (Arena arena = Arena.ofShared()) {
      GgufTensor heap = QuantTestData.random(GgmlType.Q8_0, rows, cols, 1);
      MemorySegment s = arena.allocate(heap.data().byteSize(), 64);
      s.copyFrom(heap.data());
      GgufTensor w = new GgufTensor(heap.name(), GgmlType.Q8_0, heap.shape(), s);
      long rb = 34L * cols / 32;
      float[] dst = new float[4 * cols];
      for (int rep = 0; rep < 6; rep++) {
        for (String v : new String[] {"per vector", "per block", "no stores"}) {
          long c0 = TM.getCurrentThreadCpuTime();
          for (int r = 0; r < rows; r++) {
            int o = (r & 3) * cols;
            switch (v) {
              case "per vector" -> decPerVector(s, r * rb, cols, dst, o);
              case "per block" -> decPerBlock(s, r * rb, cols, dst, o);
              default -> decNoStore(s, r * rb, cols, dst, o);
            }
          }
          if (rep >= 4) {
            System.out.printf(
                "decode Q8_0 %d x %d, %s: %.3f ms%n",
                rows, cols, v, (TM.getCurrentThreadCpuTime() - c0) / 1e6);
          }
        }
      }
      int t = 16;
      float[] lanes = new float[16 * L];
      float[] x = QuantTestData.gaussian(t * cols, 2);
      float[] out = new float[t * rows];
      for (int rep = 0; rep < 6; rep++) {
        for (String v : new String[] {"MatMul.fast", "1 row x 16", "2 rows x 8"}) {
          long c0 = TM.getCurrentThreadCpuTime();
          for (int call = 0; call < 10; call++) {
            switch (v) {
              case "MatMul.fast" -> MatMul.fast(w, x, t, out, 0, rows);
              case "1 row x 16" -> {
                for (int r = 0; r < rows; r++) {
                  r1g16(s, r * rb, cols, x, out, rows, r, lanes);
                }
              }
              default -> {
                for (int r = 0; r < rows; r += 2) {
                  r2g8(s, r * rb, (r + 1) * rb, cols, x, 0, out, rows, r, lanes);
                  r2g8(s, r * rb, (r + 1) * rb, cols, x, 8, out, rows, r, lanes);
                }
              }
            }
          }
          if (rep >= 4) {
            System.out.printf(
                "Q8_0 %d x %d, T = 16, %s: %.3f ms per call%n",
                rows, cols, v, (TM.getCurrentThreadCpuTime() - c0) / 1e6 / 10);
          }
        }
      }
    }
  }

  private static void tiles(int n) {
    int tokens = 24;
    float[] w = QuantTestData.gaussian(32 * n, 1);
    float[] x = QuantTestData.gaussian(tokens * n, 2);
    float[] lanes = new float[16];
    for (int round = 0; round < 3; round++) {
      for (String k : new String[] {"4x4", "4x6", "3x8", "broadcast 32x12"}) {
        long macs = 0;
        long t0 = TM.getCurrentThreadCpuTime();
        for (int it = 0; it < 20000; it++) {
          switch (k) {
            case "4x4" -> {
              k4x4(w, x, n, 0, lanes);
              k4x4(w, x, n, 4, lanes);
              k4x4(w, x, n, 8, lanes);
              macs += 48L * n;
            }
            case "4x6" -> {
              k4x6(w, x, n, 0, lanes);
              k4x6(w, x, n, 6, lanes);
              macs += 48L * n;
            }
            case "3x8" -> {
              k3x8(w, x, n, 0, lanes);
              k3x8(w, x, n, 8, lanes);
              macs += 48L * n;
            }
            default -> {
              kbc(w, x, n, 0, lanes);
              macs += 12L * 32 * n;
            }
          }
          sink += lanes[3];
        }
        if (round == 2) {
          System.out.printf(
              "tile %s, %d columns: %.1f G multiply-adds/s%n",
              k, n, macs / (double) (TM.getCurrentThreadCpuTime() - t0));
        }
      }
    }
  }
}
