package dev.sluice.engine.cpu;

import dev.sluice.engine.KvCacheSpec;
import dev.sluice.engine.ModelRunner;
import dev.sluice.engine.StepBatch;
import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.gguf.GgufTensor;
import dev.sluice.engine.model.LayerWeights;
import dev.sluice.engine.model.ModelLoader;
import dev.sluice.engine.model.ModelWeights;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where a single-sequence decode step spends its time (not a test): the T = 1 matrix products of
 * every weight kind of a GGUF model, each kind over all layers in turn (so the weights stream from
 * memory as in a decode step), by thread CPU time on one thread; then whole decode steps through
 * {@link CpuBackend}.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp pipelines/target/classes:pipelines/target/test-classes \
 *   dev.sluice.engine.cpu.DecodeProfile MODEL.gguf [threads=2 steps=16]
 * </pre>
 */
public final class DecodeProfile {
  private static final com.sun.management.ThreadMXBean TM =
      (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();

  public static void main(String[] args) throws Exception {
    Path path = Path.of(args[0]);
    int threads = args.length > 1 ? Integer.parseInt(args[1]) : 2;
    int steps = args.length > 2 ? Integer.parseInt(args[2]) : 16;
    try (GgufFile f = GgufFile.open(path)) {
      ModelWeights w = ModelLoader.load(f);
      Map<String, List<GgufTensor>> kinds = new LinkedHashMap<>();
      for (LayerWeights lw : w.layers()) {
        for (GgufTensor t :
            new GgufTensor[] {
              lw.wq(), lw.wk(), lw.wv(), lw.wo(), lw.wGate(), lw.wUp(), lw.wDown()
            }) {
          String kind = t.name().replaceAll("blk\\.\\d+\\.", "") + " " + t.type();
          kinds.computeIfAbsent(kind, k -> new ArrayList<>()).add(t);
        }
      }
      kinds.put(w.output().name() + " " + w.output().type(), List.of(w.output()));
      // Warm up every kind together first: the kernels must be C2-compiled for all shapes.
      for (int warm = 0; warm < 20; warm++) {
        for (List<GgufTensor> ts : kinds.values()) {
          float[] x = new float[ts.get(0).cols()];
          float[] out = new float[ts.get(0).rows()];
          for (GgufTensor t : ts) {
            MatMul.fast(t, x, 1, out, 0, t.rows());
          }
        }
      }
      double totalMs = 0;
      long totalBytes = 0;
      System.out.printf("%-28s %12s %10s %8s%n", "kind (all layers)", "MB", "ms", "GB/s");
      for (var e : kinds.entrySet()) {
        List<GgufTensor> ts = e.getValue();
        long bytes = 0;
        for (GgufTensor t : ts) {
          bytes += t.data().byteSize();
        }
        int cols = ts.get(0).cols();
        float[] x = QuantTestData.gaussian(cols, 3);
        float[] out = new float[ts.get(0).rows()];
        int reps = 5;
        long c0 = TM.getCurrentThreadCpuTime();
        for (int rep = 0; rep < reps; rep++) {
          for (GgufTensor t : ts) {
            MatMul.fast(t, x, 1, out, 0, t.rows());
          }
        }
        double ms = (TM.getCurrentThreadCpuTime() - c0) / 1e6 / reps;
        totalMs += ms;
        totalBytes += bytes;
        System.out.printf(
            "%-28s %12.1f %10.2f %8.2f%n", e.getKey(), bytes / 1e6, ms, bytes / ms / 1e6);
      }
      System.out.printf(
          "%-28s %12.1f %10.2f %8.2f  (one thread, matrices only)%n",
          "total", totalBytes / 1e6, totalMs, totalBytes / totalMs / 1e6);

      try (CpuBackend backend = new CpuBackend(threads)) {
        int bps = (steps + 16) / 16 + 1;
        try (ModelRunner runner = backend.load(w, new KvCacheSpec(bps, 16))) {
          StepBatch batch = new StepBatch(1, 1, bps);
          int[] blocks = new int[bps];
          for (int b = 0; b < bps; b++) {
            blocks[b] = b;
          }
          float[] logits = new float[runner.config().vocabSize()];
          int[] tok = {3};
          for (int round = 0; round < 3; round++) {
            long t0 = System.nanoTime();
            for (int step = 0; step < steps; step++) {
              batch.clear();
              batch.add(tok, 0, 1, step, blocks, bps);
              runner.forward(batch, logits);
              tok[0] = 3 + step;
            }
            double s = (System.nanoTime() - t0) / 1e9;
            System.out.printf(
                "decode, %d thread(s): %.2f tok/s, %.2f GB/s of matrices%n",
                threads, steps / s, totalBytes * steps / s / 1e9);
          }
        }
      }
    }
  }
}
