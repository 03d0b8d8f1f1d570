package dev.sluice.engine.cpu;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The measurement behind docs/kernels.md "Nibbles in 16-bit lanes" (not a test): {@code
 * VectorMatMul.dotQ4KWide} against copies with one change each, on the same off-heap weights and
 * pre-quantized activations, interleaved in rounds in one JVM, thread CPU time. Variants: {@code
 * nibble16} (the nibbles taken apart inside 16-bit lanes, the formulation now in VectorMatMul;
 * written when VectorMatMul still widened bytes to shorts, so against today's kernel it is the same
 * code), {@code noHead} (no header, scales or min term: the cost of the nibble arithmetic alone),
 * {@code noMin} (no min term), {@code nibHead} (header read as two longs instead of four ints). Its
 * activations come from its own permutation ({@link #permute}, the layout of {@code
 * Q8Activations.permuteQ4K}). Needs 512-bit vectors.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp pipelines/target/classes:pipelines/target/test-classes \
 *   dev.sluice.engine.cpu.Q4KNibbleExperiment [rows=8960 cols=1536 seconds=1 rounds=6]
 * </pre>
 */
public final class Q4KNibbleExperiment {
  static final VectorSpecies<Float> FS = FloatVector.SPECIES_512;
  static final VectorSpecies<Float> F256 = FloatVector.SPECIES_256;
  static final VectorSpecies<Short> S512 = ShortVector.SPECIES_512;
  static final VectorSpecies<Integer> I128 = IntVector.SPECIES_128;
  static final VectorSpecies<Integer> IS = IntVector.SPECIES_512;
  static final VectorSpecies<Long> L128 = LongVector.SPECIES_128;
  static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
  static final int L = 16;
  static final com.sun.management.ThreadMXBean TM =
      (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();

  static final ShortVector MIX_X = mix(0);
  static final ShortVector MIX_Y = mix(8);

  static ShortVector mix(int from) {
    short[] idx = new short[32];
    for (int j = 0; j < 32; j++) {
      idx[j] = (short) (16 * ((j >> 1) & 3) + from + 2 * (j >> 3) + (j & 1));
    }
    return ShortVector.fromArray(S512, idx, 0);
  }

  /** Activations in the lane order of {@link #dotN}. */
  static short[] permute(float[] q, int cols) {
    short[] out = new short[cols];
    for (int x = 0; x < cols; x += 256) {
      for (int half = 0; half < 2; half++) {
        for (int k = 0; k < 4; k++) {
          // k: 0 = low nibble of byte 0, 1 = low of byte 1, 2 = high of byte 0, 3 = high of byte 1
          for (int j = 0; j < 32; j++) {
            int g = (j >> 1) & 3;
            int w = 8 * half + 2 * (j >> 3) + (j & 1);
            int e = x + 64 * g + 2 * w + (k & 1) + (k >= 2 ? 32 : 0);
            out[x + 128 * half + 32 * k + j] = (short) q[e];
          }
        }
      }
    }
    return out;
  }

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

  static float dotN(MemorySegment s, long off, short[] xs, Q8Activations a, int n, float[] lanes) {
    float[] sd = a.sumd32;
    float[] xd = a.d;
    FloatVector acc0 = FloatVector.zero(FS);
    FloatVector acc1 = acc0;
    FloatVector accMin = FloatVector.zero(F256);
    int nb = n >> 8;
    for (int b = 0; b < nb; b++) {
      long bo = off + 144L * b;
      IntVector head = IntVector.fromMemorySegment(I128, s, bo, LE);
      int dd = head.lane(0);
      float d = Float.float16ToFloat((short) dd) * xd[b];
      float dmin = Float.float16ToFloat((short) (dd >>> 16));
      int u0 = head.lane(1);
      int u1 = head.lane(2);
      int u2 = head.lane(3);
      int sc03 = u0 & 0x3f3f3f3f;
      int sc47 = (u2 & 0x0f0f0f0f) | (((u0 >>> 6) & 0x03030303) << 4);
      long mins =
          (u1 & 0x3f3f3f3fL)
              | (long) (((u2 >>> 4) & 0x0f0f0f0f) | (((u1 >>> 6) & 0x03030303) << 4)) << 32;
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
      ShortVector u = MIX_X.selectFrom(v0, v1);
      ShortVector v = MIX_Y.selectFrom(v0, v1);
      ShortVector lo =
          u.and((short) 0xF)
              .mul(ShortVector.fromArray(S512, xs, x))
              .add(
                  u.lanewise(VectorOperators.LSHR, 8)
                      .and((short) 0xF)
                      .mul(ShortVector.fromArray(S512, xs, x + 32)));
      ShortVector hi =
          u.lanewise(VectorOperators.LSHR, 4)
              .and((short) 0xF)
              .mul(ShortVector.fromArray(S512, xs, x + 64))
              .add(
                  u.lanewise(VectorOperators.LSHR, 12)
                      .mul(ShortVector.fromArray(S512, xs, x + 96)));
      lo =
          lo.add(v.and((short) 0xF).mul(ShortVector.fromArray(S512, xs, x + 128)))
              .add(
                  v.lanewise(VectorOperators.LSHR, 8)
                      .and((short) 0xF)
                      .mul(ShortVector.fromArray(S512, xs, x + 160)));
      hi =
          hi.add(
                  v.lanewise(VectorOperators.LSHR, 4)
                      .and((short) 0xF)
                      .mul(ShortVector.fromArray(S512, xs, x + 192)))
              .add(
                  v.lanewise(VectorOperators.LSHR, 12)
                      .mul(ShortVector.fromArray(S512, xs, x + 224)));
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

  static float dotNH(MemorySegment s, long off, short[] xs, Q8Activations a, int n, float[] lanes) {
    float[] sd = a.sumd32;
    float[] xd = a.d;
    FloatVector acc0 = FloatVector.zero(FS);
    FloatVector acc1 = acc0;
    FloatVector accMin = FloatVector.zero(F256);
    int nb = n >> 8;
    for (int b = 0; b < nb; b++) {
      long bo = off + 144L * b;
      LongVector head = LongVector.fromMemorySegment(L128, s, bo, LE);
      long h0 = head.lane(0);
      long h1 = head.lane(1);
      int dd = (int) h0;
      float d = Float.float16ToFloat((short) dd) * xd[b];
      float dmin = Float.float16ToFloat((short) (dd >>> 16));
      int u0 = (int) (h0 >>> 32);
      int u1 = (int) h1;
      int u2 = (int) (h1 >>> 32);
      int sc03 = u0 & 0x3f3f3f3f;
      int sc47 = (u2 & 0x0f0f0f0f) | (((u0 >>> 6) & 0x03030303) << 4);
      long mins =
          (u1 & 0x3f3f3f3fL)
              | (long) (((u2 >>> 4) & 0x0f0f0f0f) | (((u1 >>> 6) & 0x03030303) << 4)) << 32;
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
      ShortVector u = MIX_X.selectFrom(v0, v1);
      ShortVector v = MIX_Y.selectFrom(v0, v1);
      ShortVector lo =
          u.and((short) 0xF)
              .mul(ShortVector.fromArray(S512, xs, x))
              .add(
                  u.lanewise(VectorOperators.LSHR, 8)
                      .and((short) 0xF)
                      .mul(ShortVector.fromArray(S512, xs, x + 32)));
      ShortVector hi =
          u.lanewise(VectorOperators.LSHR, 4)
              .and((short) 0xF)
              .mul(ShortVector.fromArray(S512, xs, x + 64))
              .add(
                  u.lanewise(VectorOperators.LSHR, 12)
                      .mul(ShortVector.fromArray(S512, xs, x + 96)));
      lo =
          lo.add(v.and((short) 0xF).mul(ShortVector.fromArray(S512, xs, x + 128)))
              .add(
                  v.lanewise(VectorOperators.LSHR, 8)
                      .and((short) 0xF)
                      .mul(ShortVector.fromArray(S512, xs, x + 160)));
      hi =
          hi.add(
                  v.lanewise(VectorOperators.LSHR, 4)
                      .and((short) 0xF)
                      .mul(ShortVector.fromArray(S512, xs, x + 192)))
              .add(
                  v.lanewise(VectorOperators.LSHR, 12)
                      .mul(ShortVector.fromArray(S512, xs, x + 224)));
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

  static float dotA(MemorySegment s, long off, short[] xs, Q8Activations a, int n, float[] lanes) {
    float[] sd = a.sumd32;
    float[] xd = a.d;
    FloatVector acc0 = FloatVector.zero(FS);
    FloatVector acc1 = acc0;
    FloatVector accMin = FloatVector.zero(F256);
    int nb = n >> 8;
    for (int b = 0; b < nb; b++) {
      long bo = off + 144L * b;
      float d = xd[b];
      FloatVector scaleLo = FloatVector.broadcast(FS, d);
      FloatVector scaleHi = scaleLo;
      int x = 256 * b;
      ShortVector v0 = ShortVector.fromMemorySegment(S512, s, bo + 16, LE);
      ShortVector v1 = ShortVector.fromMemorySegment(S512, s, bo + 80, LE);
      ShortVector u = MIX_X.selectFrom(v0, v1);
      ShortVector v = MIX_Y.selectFrom(v0, v1);
      ShortVector lo =
          u.and((short) 0xF)
              .mul(ShortVector.fromArray(S512, xs, x))
              .add(
                  u.lanewise(VectorOperators.LSHR, 8)
                      .and((short) 0xF)
                      .mul(ShortVector.fromArray(S512, xs, x + 32)));
      ShortVector hi =
          u.lanewise(VectorOperators.LSHR, 4)
              .and((short) 0xF)
              .mul(ShortVector.fromArray(S512, xs, x + 64))
              .add(
                  u.lanewise(VectorOperators.LSHR, 12)
                      .mul(ShortVector.fromArray(S512, xs, x + 96)));
      lo =
          lo.add(v.and((short) 0xF).mul(ShortVector.fromArray(S512, xs, x + 128)))
              .add(
                  v.lanewise(VectorOperators.LSHR, 8)
                      .and((short) 0xF)
                      .mul(ShortVector.fromArray(S512, xs, x + 160)));
      hi =
          hi.add(
                  v.lanewise(VectorOperators.LSHR, 4)
                      .and((short) 0xF)
                      .mul(ShortVector.fromArray(S512, xs, x + 192)))
              .add(
                  v.lanewise(VectorOperators.LSHR, 12)
                      .mul(ShortVector.fromArray(S512, xs, x + 224)));
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

  static float dotB(MemorySegment s, long off, short[] xs, Q8Activations a, int n, float[] lanes) {
    float[] sd = a.sumd32;
    float[] xd = a.d;
    FloatVector acc0 = FloatVector.zero(FS);
    FloatVector acc1 = acc0;
    FloatVector accMin = FloatVector.zero(F256);
    int nb = n >> 8;
    for (int b = 0; b < nb; b++) {
      long bo = off + 144L * b;
      IntVector head = IntVector.fromMemorySegment(I128, s, bo, LE);
      int dd = head.lane(0);
      float d = Float.float16ToFloat((short) dd) * xd[b];
      float dmin = Float.float16ToFloat((short) (dd >>> 16));
      int u0 = head.lane(1);
      int u1 = head.lane(2);
      int u2 = head.lane(3);
      int sc03 = u0 & 0x3f3f3f3f;
      int sc47 = (u2 & 0x0f0f0f0f) | (((u0 >>> 6) & 0x03030303) << 4);
      long mins =
          (u1 & 0x3f3f3f3fL)
              | (long) (((u2 >>> 4) & 0x0f0f0f0f) | (((u1 >>> 6) & 0x03030303) << 4)) << 32;
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
      int x = 256 * b;
      ShortVector v0 = ShortVector.fromMemorySegment(S512, s, bo + 16, LE);
      ShortVector v1 = ShortVector.fromMemorySegment(S512, s, bo + 80, LE);
      ShortVector u = MIX_X.selectFrom(v0, v1);
      ShortVector v = MIX_Y.selectFrom(v0, v1);
      ShortVector lo =
          u.and((short) 0xF)
              .mul(ShortVector.fromArray(S512, xs, x))
              .add(
                  u.lanewise(VectorOperators.LSHR, 8)
                      .and((short) 0xF)
                      .mul(ShortVector.fromArray(S512, xs, x + 32)));
      ShortVector hi =
          u.lanewise(VectorOperators.LSHR, 4)
              .and((short) 0xF)
              .mul(ShortVector.fromArray(S512, xs, x + 64))
              .add(
                  u.lanewise(VectorOperators.LSHR, 12)
                      .mul(ShortVector.fromArray(S512, xs, x + 96)));
      lo =
          lo.add(v.and((short) 0xF).mul(ShortVector.fromArray(S512, xs, x + 128)))
              .add(
                  v.lanewise(VectorOperators.LSHR, 8)
                      .and((short) 0xF)
                      .mul(ShortVector.fromArray(S512, xs, x + 160)));
      hi =
          hi.add(
                  v.lanewise(VectorOperators.LSHR, 4)
                      .and((short) 0xF)
                      .mul(ShortVector.fromArray(S512, xs, x + 192)))
              .add(
                  v.lanewise(VectorOperators.LSHR, 12)
                      .mul(ShortVector.fromArray(S512, xs, x + 224)));
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

  public static void main(String[] args) {
    int rows = args.length > 0 ? Integer.parseInt(args[0]) : 8960;
    int n = args.length > 1 ? Integer.parseInt(args[1]) : 1536;
    double secs = args.length > 2 ? Double.parseDouble(args[2]) : 1.0;
    int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 6;
    GgufTensor heap = QuantTestData.random(GgmlType.Q4_K, rows, n, 1);
    MemorySegment s = Arena.global().allocate(heap.data().byteSize(), 64);
    s.copyFrom(heap.data());
    Q8Activations a = new Q8Activations();
    float[] x = QuantTestData.gaussian(n, 2);
    a.quantizeQ8K(x, 1, n, false);
    a.permuteQ4K(n);
    short[] xs = permute(a.q, n);
    float[] lanes = new float[16 * L];
    long rb = GgmlType.Q4_K.bytesFor(n);
    float[][] outs = new float[5][rows];
    String[] names = {"current", "nibble16", "noHead", "noMin", "nibHead"};
    System.out.printf("Q4_K %d x %d (%.1f MB), one thread%n", rows, n, s.byteSize() / 1e6);
    for (int round = 0; round < rounds; round++) {
      for (int v = 0; v < 5; v++) {
        float[] out = outs[v];
        long t0 = TM.getCurrentThreadCpuTime();
        long wall = System.nanoTime();
        int calls = 0;
        while (System.nanoTime() - wall < (long) (secs * 1e9)) {
          if (v == 0) {
            for (int row = 0; row < rows; row++) {
              out[row] = VectorMatMul.dotQ4KWide(s, row * rb, a, n, lanes);
            }
          } else if (v == 1) {
            for (int row = 0; row < rows; row++) {
              out[row] = dotN(s, row * rb, xs, a, n, lanes);
            }
          } else if (v == 2) {
            for (int row = 0; row < rows; row++) {
              out[row] = dotA(s, row * rb, xs, a, n, lanes);
            }
          } else if (v == 4) {
            for (int row = 0; row < rows; row++) {
              out[row] = dotNH(s, row * rb, xs, a, n, lanes);
            }
          } else {
            for (int row = 0; row < rows; row++) {
              out[row] = dotB(s, row * rb, xs, a, n, lanes);
            }
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
            "  round %d %-8s %7.3f ms/call %6.2f GB/s  rel. diff %.1e%n",
            round, names[v], ms, s.byteSize() / ms / 1e6, err / ref);
      }
    }
  }
}
