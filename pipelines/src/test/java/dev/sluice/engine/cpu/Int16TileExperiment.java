package dev.sluice.engine.cpu;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Spike behind docs/kernels.md ("The batched path", the {@code MulAddS2I} paragraph), not a test:
 * can HotSpot's auto-vectorized {@code MulAddS2I} idiom ({@code vpmaddwd}, fused with the add into
 * {@code vpdpwssd} on AVX512_VNNI: 32 multiply-adds per 512-bit instruction) beat the batched float
 * tile of {@link BatchedMatMul} for Q8_0 at T = 16? Answer: no (2.2 against 0.42-0.51 ns per
 * weight); C2 vectorizes only a single idiom statement per loop, keeps no accumulator in registers
 * (every {@code vpdpwssd} comes with a load and a store of its int accumulators) and needs long
 * loops. Assumes 512-bit vectors; thread CPU time.
 *
 * <p>Parts ({@code parts=idioms,stage,whole}):
 *
 * <ul>
 *   <li>{@code idioms}: loop shapes over {@code short[]} in G multiply-adds/s, next to the float
 *       4x4 tile of {@code BatchedPathExperiment} on cache-resident data. Rerun with {@code
 *       -XX:-UseSuperWord} to see which ones C2 vectorizes (those that do not stay at ~2).
 *   <li>{@code stage}: the integer stage of a T-token product on one cache-resident row, in the
 *       block-transposed layout (pair p of block b at short {@code p * 2nb + 2b}, so that the int
 *       lane of a loop step holds one block): {@code m1x1} (one token per loop, the only shape that
 *       vectorizes), {@code m1x4} (four tokens sharing the weight loads, accumulators in one array)
 *       and {@code m4x1} (four pair rows summed per store).
 *   <li>{@code whole}: a T-token Q8_0 product, {@link VectorMatMul#run} (batched path) against the
 *       int path: activations quantized as now and transposed, each weight row unpacked once to
 *       shorts (bytes widened, then a 16-lane gather), {@code m1x1} per token, then per block the
 *       int sums times {@code d_w * d_x} in float.
 * </ul>
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp pipelines/target/classes:pipelines/target/test-classes \
 *   dev.sluice.engine.cpu.Int16TileExperiment [rows=1536 cols=1536 T=16 seconds=1 lanes=16 parts=idioms,stage,whole]
 * # loop length alone (one length per JVM: C2 unrolls, hence vectorizes, from the profiled trip count)
 * java ... dev.sluice.engine.cpu.Int16TileExperiment parts=trip n=48
 * </pre>
 */
public final class Int16TileExperiment {
  static final VectorSpecies<Float> FS = FloatVector.SPECIES_512;
  static final VectorSpecies<Integer> IS = IntVector.SPECIES_512;
  static final VectorSpecies<Short> SS = ShortVector.SPECIES_512;
  static final VectorSpecies<Byte> B256 = ByteVector.SPECIES_256;
  static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
  static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
  static final com.sun.management.ThreadMXBean TM =
      (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
  static int sink;

  // ------------------------------------------------------------------ loop shapes (idioms)

  /** The idiom as C2's own tests write it: vpdpwssd, 3 loads and 1 store per instruction. */
  static void canonical(short[] a, short[] b, int[] out, int n) {
    for (int i = 0; i < n; i++) {
      out[i] += a[2 * i] * b[2 * i] + a[2 * i + 1] * b[2 * i + 1];
    }
  }

  /** The same as a reduction into a scalar (accumulator in a register): not vectorized. */
  static int reduction(short[] a, short[] b, int n) {
    int s = 0;
    for (int i = 0; i < n; i++) {
      s += a[2 * i] * b[2 * i] + a[2 * i + 1] * b[2 * i + 1];
    }
    return s;
  }

  /** Two idiom terms summed into one store: not vectorized. */
  static void twoTerms(short[] a, short[] b, int off, int[] out, int n) {
    for (int i = 0; i < n; i++) {
      out[i] +=
          (a[2 * i] * b[2 * i] + a[2 * i + 1] * b[2 * i + 1])
              + (a[off + 2 * i] * b[off + 2 * i] + a[off + 2 * i + 1] * b[off + 2 * i + 1]);
    }
  }

  /** One weight, two tokens, two output arrays, no offsets: vectorized (the weight loaded once). */
  static void twoTokens(short[] w, short[] x, short[] y, int[] o1, int[] o2, int n) {
    for (int i = 0; i < n; i++) {
      o1[i] += w[2 * i] * x[2 * i] + w[2 * i + 1] * x[2 * i + 1];
      o2[i] += w[2 * i] * y[2 * i] + w[2 * i + 1] * y[2 * i + 1];
    }
  }

  /** {@link #twoTokens} with an invariant offset into the weight row: not vectorized. */
  static void twoTokensOffset(short[] w, int wo, short[] x, short[] y, int[] o1, int[] o2, int n) {
    for (int i = 0; i < n; i++) {
      int k = wo + 2 * i;
      o1[i] += w[k] * x[k] + w[k + 1] * x[k + 1];
      o2[i] += w[k] * y[k] + w[k + 1] * y[k + 1];
    }
  }

  // ------------------------------------------------------------------ integer stage kernels
  //
  // Layout (one row, or one token of activations): pair p < 16 of block b at short p * 2nb + 2b.
  // A kernel runs J = 16 / K pair rows of n = K * nb int lanes each; acc (per token, n ints) then
  // holds K partial sums per block (lane s * nb + b), added in int by the float stage.

  /** One token: the shape C2 vectorizes. */
  static void m1x1(short[] w, short[] a, int a0, int[] acc, int c0, int n, int rowsJ) {
    int s = 2 * n;
    for (int j = 0; j < rowsJ; j++) {
      int o = j * s;
      for (int m = 0; m < n; m++) {
        int i = o + 2 * m;
        acc[c0 + m] += w[i] * a[a0 + i] + w[i + 1] * a[a0 + i + 1];
      }
    }
  }

  /** Four tokens sharing the weight loads, accumulators at four offsets of one array. */
  static void m1x4(
      short[] w, short[] a, int a0, int a1, int a2, int a3, int[] acc, int c0, int n, int rowsJ) {
    int s = 2 * n;
    for (int j = 0; j < rowsJ; j++) {
      int o = j * s;
      for (int m = 0; m < n; m++) {
        int i = o + 2 * m;
        acc[c0 + m] += w[i] * a[a0 + i] + w[i + 1] * a[a0 + i + 1];
        acc[c0 + n + m] += w[i] * a[a1 + i] + w[i + 1] * a[a1 + i + 1];
        acc[c0 + 2 * n + m] += w[i] * a[a2 + i] + w[i + 1] * a[a2 + i + 1];
        acc[c0 + 3 * n + m] += w[i] * a[a3 + i] + w[i + 1] * a[a3 + i + 1];
      }
    }
  }

  /** Four pair rows per store (accumulator traffic / 4), one token. */
  static void m4x1(short[] w, short[] a, int a0, int[] acc, int c0, int n, int rowsJ) {
    int s = 2 * n;
    for (int j = 0; j < rowsJ; j += 4) {
      int o = j * s;
      for (int m = 0; m < n; m++) {
        int i = o + 2 * m;
        int k = a0 + i;
        acc[c0 + m] +=
            (w[i] * a[k] + w[i + 1] * a[k + 1])
                + (w[s + i] * a[s + k] + w[s + i + 1] * a[s + k + 1])
                + (w[2 * s + i] * a[2 * s + k] + w[2 * s + i + 1] * a[2 * s + k + 1])
                + (w[3 * s + i] * a[3 * s + k] + w[3 * s + i + 1] * a[3 * s + k + 1]);
      }
    }
  }

  static void stage(String kernel, short[] tw, short[] ta, int cols, int T, int[] acc, int k) {
    int nb = cols / 32;
    int n = k * nb;
    int rowsJ = 16 / k;
    Arrays.fill(acc, 0, T * n, 0);
    switch (kernel) {
      case "m1x1" -> {
        for (int t = 0; t < T; t++) {
          m1x1(tw, ta, t * cols, acc, t * n, n, rowsJ);
        }
      }
      case "m1x4" -> {
        for (int t = 0; t < T; t += 4) {
          m1x4(
              tw,
              ta,
              t * cols,
              (t + 1) * cols,
              (t + 2) * cols,
              (t + 3) * cols,
              acc,
              t * n,
              n,
              rowsJ);
        }
      }
      case "m4x1" -> {
        for (int t = 0; t < T; t++) {
          m4x1(tw, ta, t * cols, acc, t * n, n, rowsJ);
        }
      }
      default -> throw new IllegalArgumentException("unknown kernel " + kernel);
    }
  }

  // ------------------------------------------------------------------ unpack, float stage

  static final int[] GATHER = new int[16];

  static {
    for (int i = 0; i < 16; i++) {
      GATHER[i] = 16 * i;
    }
  }

  /**
   * Row of a Q8_0 tensor at {@code base} into tw (block-transposed shorts) and dw (scales): each
   * block's bytes widened to 16 int pairs ({@code nat}), then pair p of 16 blocks gathered.
   */
  static void unpack(MemorySegment s, long base, int nb, int[] nat, short[] tw, float[] dw) {
    for (int b = 0; b < nb; b++) {
      long bo = base + 34L * b;
      dw[b] = Float.float16ToFloat(s.get(F16, bo));
      ((ShortVector)
              ByteVector.fromMemorySegment(B256, s, bo + 2, LE)
                  .convertShape(VectorOperators.B2S, SS, 0))
          .reinterpretAsInts()
          .intoArray(nat, 16 * b);
    }
    int s2 = 2 * nb;
    int full = nb & ~15;
    for (int p = 0; p < 16; p++) {
      for (int g = 0; g < full; g += 16) {
        IntVector.fromArray(IS, nat, 16 * g + p, GATHER, 0)
            .reinterpretAsShorts()
            .intoArray(tw, p * s2 + 2 * g);
      }
      for (int b = full; b < nb; b++) {
        int v = nat[16 * b + p];
        tw[p * s2 + 2 * b] = (short) v;
        tw[p * s2 + 2 * b + 1] = (short) (v >> 16);
      }
    }
  }

  /** Activation integers (T, cols) in natural order into the block-transposed layout. */
  static void transposeActs(short[] q, int T, int cols, short[] ta) {
    int nb = cols / 32;
    int s2 = 2 * nb;
    for (int t = 0; t < T; t++) {
      int o = t * cols;
      for (int b = 0; b < nb; b++) {
        for (int k = 0; k < 32; k++) {
          ta[o + (k >> 1) * s2 + 2 * b + (k & 1)] = q[o + 32 * b + k];
        }
      }
    }
  }

  /** {@code sum_b (sum_s acc[c + s * nb + b]) * dw[b] * da[d + b]}, {@code s < k}. */
  static float scaleSum(int[] acc, int c, int k, float[] dw, float[] da, int d, int nb) {
    FloatVector sum = FloatVector.zero(FS);
    int b = 0;
    for (; b + 16 <= nb; b += 16) {
      IntVector v = IntVector.fromArray(IS, acc, c + b);
      for (int s = 1; s < k; s++) {
        v = v.add(IntVector.fromArray(IS, acc, c + s * nb + b));
      }
      FloatVector sc = FloatVector.fromArray(FS, dw, b).mul(FloatVector.fromArray(FS, da, d + b));
      sum = ((FloatVector) v.convert(VectorOperators.I2F, 0)).fma(sc, sum);
    }
    float r = sum.reduceLanes(VectorOperators.ADD);
    for (; b < nb; b++) {
      int v = 0;
      for (int s = 0; s < k; s++) {
        v += acc[c + s * nb + b];
      }
      r += v * (dw[b] * da[d + b]);
    }
    return r;
  }

  /** The whole int path for rows [0, rows), T tokens, K = 16 (one pair row of cols / 2 lanes). */
  static void intPath(
      GgufTensor w,
      float[] x,
      int T,
      float[] out,
      Q8Activations a,
      short[] ta,
      short[] tw,
      int[] nat,
      float[] dw,
      int[] acc) {
    int rows = w.rows();
    int cols = w.cols();
    int nb = cols / 32;
    int n = 16 * nb;
    MemorySegment s = w.data();
    a.quantizeQ80(x, T, cols, false);
    transposeActs(a.qs, T, cols, ta);
    for (int r = 0; r < rows; r++) {
      unpack(s, 34L * nb * r, nb, nat, tw, dw);
      stage("m1x1", tw, ta, cols, T, acc, 16);
      for (int t = 0; t < T; t++) {
        out[t * rows + r] = scaleSum(acc, t * n, 16, dw, a.d, t * nb, nb);
      }
    }
  }

  // ------------------------------------------------------------------ timing

  /** Thread CPU milliseconds per call of body, best of five rounds. */
  static double time(Runnable body, double seconds) {
    for (int i = 0; i < 3; i++) {
      body.run();
    }
    double best = Double.MAX_VALUE;
    for (int round = 0; round < 5; round++) {
      long t0 = TM.getCurrentThreadCpuTime();
      long end = t0 + (long) (seconds / 5 * 1e9);
      int calls = 0;
      long now;
      do {
        body.run();
        calls++;
        now = TM.getCurrentThreadCpuTime();
      } while (now < end);
      best = Math.min(best, (now - t0) / 1e6 / calls);
    }
    return best;
  }

  static String arg(String[] args, String key, String def) {
    for (String a : args) {
      if (a.startsWith(key + "=")) {
        return a.substring(key.length() + 1);
      }
    }
    return def;
  }

  static short[] randomShorts(int n, int bound, Random rnd) {
    short[] v = new short[n];
    for (int i = 0; i < n; i++) {
      v[i] = (short) (rnd.nextInt(2 * bound + 1) - bound);
    }
    return v;
  }

  public static void main(String[] args) {
    int rows = Integer.parseInt(arg(args, "rows", "1536"));
    int cols = Integer.parseInt(arg(args, "cols", "1536"));
    int T = Integer.parseInt(arg(args, "T", "16"));
    double seconds = Double.parseDouble(arg(args, "seconds", "1"));
    String parts = arg(args, "parts", "idioms,stage,whole");
    Random rnd = new Random(3);

    if (parts.contains("trip")) {
      int n = Integer.parseInt(arg(args, "n", "48"));
      short[] a = randomShorts(2 * n, 127, rnd);
      short[] b = randomShorts(2 * n, 127, rnd);
      int[] out = new int[n];
      int reps = Math.max(1, 100_000 / n);
      double ms =
          time(
              () -> {
                for (int r = 0; r < reps; r++) {
                  canonical(a, b, out, n);
                }
              },
              seconds);
      System.out.printf(
          "canonical loop, n = %d: %.2f G multiply-adds/s%n", n, 2e-6 * n * reps / ms);
    }

    if (parts.contains("idioms")) {
      int n = 768; // a 1536-wide row as pairs
      short[] a = randomShorts(4 * n, 127, rnd);
      short[] b = randomShorts(4 * n, 127, rnd);
      short[] c = randomShorts(4 * n, 127, rnd);
      int[] o1 = new int[n];
      int[] o2 = new int[n];
      int reps = 100;
      double[] macs = {2, 2, 4, 4, 4};
      String[] names = {
        "canonical", "reduction", "two terms, one store", "two tokens", "two tokens, offset"
      };
      for (int v = 0; v < names.length; v++) {
        int variant = v;
        double ms =
            time(
                () -> {
                  for (int r = 0; r < reps; r++) {
                    switch (variant) {
                      case 0 -> canonical(a, b, o1, n);
                      case 1 -> sink += reduction(a, b, n);
                      case 2 -> twoTerms(a, b, 2 * n, o1, n);
                      case 3 -> twoTokens(a, b, c, o1, o2, n);
                      default -> twoTokensOffset(a, 2 * n, b, c, o1, o2, n);
                    }
                  }
                },
                seconds);
        System.out.printf(
            "idiom %-22s %.2f G multiply-adds/s%n", names[v], macs[v] * n * reps / ms / 1e6);
      }
      float[] wq = QuantTestData.gaussian(4 * cols, 5);
      float[] xf = QuantTestData.gaussian(4 * cols, 6);
      float[] lanes = new float[16 * 16];
      double ms =
          time(
              () -> {
                for (int r = 0; r < reps; r++) {
                  BatchedPathExperiment.k4x4(wq, xf, cols, 0, lanes);
                }
              },
              seconds);
      System.out.printf(
          "float 4x4 tile (BatchedMatMul's), cols = %d: %.2f G multiply-adds/s%n",
          cols, 16.0 * cols * reps / ms / 1e6);
    }

    int nb = cols / 32;
    if (parts.contains("stage")) {
      short[] tw = randomShorts(cols, 128, rnd);
      short[] ta = randomShorts(T * cols, 127, rnd);
      int[] acc = new int[T * cols / 2];
      int reps = 64;
      for (String kernel : new String[] {"m1x1", "m1x4", "m4x1"}) {
        // One lane count per JVM: the kernels' code follows the first trip counts profiled.
        for (int k : new int[] {Integer.parseInt(arg(args, "lanes", "16"))}) {
          if (kernel.equals("m4x1") && k == 16) {
            continue;
          }
          double ms =
              time(
                  () -> {
                    for (int r = 0; r < reps; r++) {
                      stage(kernel, tw, ta, cols, T, acc, k);
                    }
                    sink += acc[3];
                  },
                  seconds);
          System.out.printf(
              "stage %s, %d lanes per block (loop of %d), T = %d: %.2f G multiply-adds/s, %.3f ns"
                  + " per weight%n",
              kernel, k, k * nb, T, (double) reps * T * cols / ms / 1e6, ms * 1e6 / reps / cols);
        }
      }
    }

    if (parts.contains("whole")) {
      GgufTensor w = QuantTestData.random(GgmlType.Q8_0, rows, cols, 7);
      float[] x = QuantTestData.gaussian(T * cols, 11);
      float[] ref = new float[T * rows];
      float[] out = new float[T * rows];
      double weights = (double) rows * cols;
      Q8Activations act = new Q8Activations();
      short[] ta = new short[T * cols];
      short[] tw = new short[cols];
      int[] nat = new int[cols / 2];
      float[] dw = new float[nb];
      int[] acc = new int[T * cols / 2];
      int[] natCheck = new int[cols / 2];
      double unpackMs =
          time(
              () -> {
                for (int r = 0; r < rows; r++) {
                  unpack(w.data(), 34L * nb * r, nb, natCheck, tw, dw);
                }
                sink += tw[7];
              },
              seconds);
      VectorMatMul.run(w, x, T, ref, 0, rows, false);
      double base =
          time(
              () -> {
                VectorMatMul.run(w, x, T, out, 0, rows, false);
                sink += (int) out[1];
              },
              seconds);
      intPath(w, x, T, out, act, ta, tw, nat, dw, acc);
      double maxDiff = 0;
      double maxRef = 0;
      for (int i = 0; i < T * rows; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(out[i] - ref[i]));
        maxRef = Math.max(maxRef, Math.abs(ref[i]));
      }
      double ms =
          time(
              () -> {
                intPath(w, x, T, out, act, ta, tw, nat, dw, acc);
                sink += (int) out[1];
              },
              seconds);
      System.out.printf(
          "whole Q8_0 %d x %d, T = %d: batched path %.3f ms = %.3f ns/weight; int path %.3f ms ="
              + " %.3f ns/weight (%.2fx; of which unpack %.3f ns/weight); max |int - batched|"
              + " %.1e of max %.1e%n",
          rows,
          cols,
          T,
          base,
          base * 1e6 / weights,
          ms,
          ms * 1e6 / weights,
          base / ms,
          unpackMs * 1e6 / weights,
          maxDiff,
          maxRef);
    }
    System.out.println(sink == 12345 ? "." : "done");
  }
}
