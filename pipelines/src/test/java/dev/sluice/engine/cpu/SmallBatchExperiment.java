package dev.sluice.engine.cpu;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Where the per-token fused kernels stop beating the decode-then-tile path (not a test; the
 * measurement behind {@code VectorMatMul.perTokenMax}, docs/kernels.md "Small batches"). For each
 * type and each {@code T}, one call of {@code VectorMatMul.run} on the whole matrix with the
 * per-token path and one with the tiled path, interleaved in rounds in one JVM, timed by this
 * thread's CPU time. The weights are {@code copies} off-heap copies used in turn, so that with
 * enough copies (more than the L3) every call streams its weights from DRAM as in a decode step.
 * Prints the median and the range over the rounds of ms per call, and per token.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -Xmx2g -cp pipelines/target/classes:pipelines/target/test-classes \
 *   dev.sluice.engine.cpu.SmallBatchExperiment [rows=8960 cols=1536 types=Q4_K,Q8_0 ts=1,2,3,4,6,8,12,16 rounds=5 seconds=0.4 copies=6]
 * </pre>
 */
public final class SmallBatchExperiment {
  private static final com.sun.management.ThreadMXBean TM =
      (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();

  public static void main(String[] args) {
    int rows = args.length > 0 ? Integer.parseInt(args[0]) : 8960;
    int cols = args.length > 1 ? Integer.parseInt(args[1]) : 1536;
    String types = args.length > 2 ? args[2] : "Q4_K,Q8_0";
    int[] ts =
        Arrays.stream((args.length > 3 ? args[3] : "1,2,3,4,6,8,12,16").split(","))
            .mapToInt(Integer::parseInt)
            .toArray();
    int rounds = args.length > 4 ? Integer.parseInt(args[4]) : 5;
    double secs = args.length > 5 ? Double.parseDouble(args[5]) : 0.4;
    int copies = args.length > 6 ? Integer.parseInt(args[6]) : 6;
    int maxT = Arrays.stream(ts).max().orElse(1);
    float[] x = QuantTestData.gaussian(maxT * cols, 2);
    for (String tn : types.split(",")) {
      GgmlType type = GgmlType.valueOf(tn);
      GgufTensor heap = QuantTestData.random(type, rows, cols, 1);
      List<GgufTensor> ws = new ArrayList<>();
      for (int i = 0; i < copies; i++) {
        MemorySegment s = Arena.global().allocate(heap.data().byteSize(), 64);
        s.copyFrom(heap.data());
        ws.add(new GgufTensor(heap.name(), type, heap.shape(), s));
      }
      float[] out = new float[maxT * rows];
      System.out.printf(
          "%s %d x %d (%.1f MB x %d copies), one thread, %d rounds%n",
          type, rows, cols, heap.data().byteSize() / 1e6, copies, rounds);
      // variants: 0 = per token, 1 = tiled (T >= 2 only)
      double[][][] ms = new double[ts.length][2][rounds];
      // Warm-up: every variant and T once for a while, so C2 has compiled all of them.
      for (int ti = 0; ti < ts.length; ti++) {
        for (int v = 0; v < 2; v++) {
          if (v == 1 && ts[ti] < 2) {
            continue;
          }
          time(ws, x, ts[ti], out, v == 0, secs);
        }
      }
      for (int round = 0; round < rounds; round++) {
        for (int ti = 0; ti < ts.length; ti++) {
          for (int v = 0; v < 2; v++) {
            ms[ti][v][round] =
                v == 1 && ts[ti] < 2 ? Double.NaN : time(ws, x, ts[ti], out, v == 0, secs);
          }
        }
      }
      System.out.printf(
          "  %3s  %-26s %-26s %s%n",
          "T", "per-token ms (min-max)", "tiled ms (min-max)", "per-token/tiled");
      for (int ti = 0; ti < ts.length; ti++) {
        double[] p = ms[ti][0].clone();
        double[] q = ms[ti][1].clone();
        Arrays.sort(p);
        Arrays.sort(q);
        System.out.printf(
            "  %3d  %7.3f (%6.3f-%6.3f)      %s   %s%n",
            ts[ti],
            p[rounds / 2],
            p[0],
            p[rounds - 1],
            ts[ti] < 2
                ? "          -              "
                : String.format("%7.3f (%6.3f-%6.3f)     ", q[rounds / 2], q[0], q[rounds - 1]),
            ts[ti] < 2 ? "" : String.format("%.2f", p[rounds / 2] / q[rounds / 2]));
      }
    }
  }

  private static int next;

  private static double time(
      List<GgufTensor> ws, float[] x, int t, float[] out, boolean perToken, double secs) {
    long cpu0 = TM.getCurrentThreadCpuTime();
    long wall0 = System.nanoTime();
    int calls = 0;
    while (System.nanoTime() - wall0 < (long) (secs * 1e9)) {
      GgufTensor w = ws.get(next++ % ws.size());
      VectorMatMul.run(w, x, t, out, 0, w.rows(), perToken);
      calls++;
    }
    return (TM.getCurrentThreadCpuTime() - cpu0) / 1e6 / calls;
  }
}
