package dev.sluice.engine.cpu;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Micro-benchmark of {@link MatMul} (no JMH): weight-read bandwidth of {@code reference} and {@code
 * fast} for every type at a DeepSeek-R1-Distill-Qwen-1.5B feed-forward shape, for T = 1 and 16.
 * Weights live off-heap like the mapped file. A benchmark, not a test: run it on an idle machine.
 *
 * <pre>
 * ./mvnw -q -pl pipelines -am test-compile
 * java --add-modules jdk.incubator.vector -cp pipelines/target/classes:pipelines/target/test-classes \
 *   dev.sluice.engine.cpu.MatMulBench [rows cols seconds threads types [fast]]
 * </pre>
 *
 * Defaults: 8960 rows x 1536 cols (ffn_up/gate of the 1.5B model), 2 s per measurement, 1 thread,
 * all types (or a comma-separated list such as {@code Q8_0,Q4_K}); a sixth argument {@code fast}
 * skips the reference. "GB/s" is weight bytes read per second of one call (with one thread, per
 * second of that thread's CPU time, so that other load on a shared machine distorts it less); "tok
 * GB/s" multiplies by T: the bandwidth a per-token loop would need to match.
 */
public final class MatMulBench {

  private static final com.sun.management.ThreadMXBean ALLOC =
      (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();

  /** The batch sizes T measured: {@code -Dsluice.bench.batches=1,4,16,64,256} (default 1,16). */
  private static final int[] BATCHES =
      java.util.Arrays.stream(System.getProperty("sluice.bench.batches", "1,16").split(","))
          .mapToInt(Integer::parseInt)
          .toArray();

  public static void main(String[] args) throws Exception {
    int rows = args.length > 0 ? Integer.parseInt(args[0]) : 8960;
    int cols = args.length > 1 ? Integer.parseInt(args[1]) : 1536;
    double seconds = args.length > 2 ? Double.parseDouble(args[2]) : 2.0;
    int threads = args.length > 3 ? Integer.parseInt(args[3]) : 1;
    List<GgmlType> types = new ArrayList<>();
    if (args.length > 4) {
      for (String t : args[4].split(",")) {
        types.add(GgmlType.valueOf(t));
      }
    } else {
      types.addAll(List.of(GgmlType.values()));
    }
    System.out.printf(
        "MatMul %d x %d, %d thread(s), %d float lanes, %.1f s per case%n",
        rows, cols, threads, VectorMatMul.L, seconds);
    System.out.printf(
        "%-5s %3s %-9s %10s %9s %9s %12s%n",
        "type", "T", "kernel", "ms/call", "GB/s", "tok GB/s", "alloc B/call");
    boolean withReference = args.length <= 5 || !args[5].equals("fast");
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try (Arena arena = Arena.ofShared()) {
      for (GgmlType type : types) {
        if (cols % type.blockSize != 0) {
          continue;
        }
        GgufTensor heap = QuantTestData.random(type, rows, cols, 1);
        MemorySegment off = arena.allocate(heap.data().byteSize(), 64);
        off.copyFrom(heap.data());
        GgufTensor w = new GgufTensor(heap.name(), type, heap.shape(), off);
        for (int batch : BATCHES) {
          float[] x = QuantTestData.gaussian(batch * cols, 2);
          float[] out = new float[batch * rows];
          for (boolean fast : withReference ? new boolean[] {false, true} : new boolean[] {true}) {
            double ms = measure(pool, threads, w, x, batch, out, fast, seconds);
            double gbs = off.byteSize() / (ms * 1e6);
            // Allocation of one warmed-up call on this thread (steady state must be 0 for fast);
            // the
            // first call on a thread sizes its scratch.
            run(w, x, batch, out, 0, rows, fast);
            long before = ALLOC.getCurrentThreadAllocatedBytes();
            run(w, x, batch, out, 0, rows, fast);
            long alloc = ALLOC.getCurrentThreadAllocatedBytes() - before;
            System.out.printf(
                "%-5s %3d %-9s %10.3f %9.2f %9.2f %12d%n",
                type, batch, fast ? "fast" : "reference", ms, gbs, gbs * batch, alloc);
          }
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }

  private static double measure(
      ExecutorService pool,
      int threads,
      GgufTensor w,
      float[] x,
      int batch,
      float[] out,
      boolean fast,
      double seconds)
      throws Exception {
    // Warm up (JIT) for a third of the budget, then time whole calls until the budget is spent.
    long warmEnd = System.nanoTime() + (long) (seconds / 3 * 1e9);
    while (System.nanoTime() < warmEnd) {
      call(pool, threads, w, x, batch, out, fast);
    }
    long start = System.nanoTime();
    long cpuStart = ALLOC.getCurrentThreadCpuTime();
    long end = start + (long) (seconds * 1e9);
    int calls = 0;
    long now;
    do {
      call(pool, threads, w, x, batch, out, fast);
      calls++;
      now = System.nanoTime();
    } while (now < end);
    // One thread: this thread's CPU time, which a busy shared machine inflates far less than the
    // wall clock. Several threads: wall time.
    long elapsed = threads == 1 ? ALLOC.getCurrentThreadCpuTime() - cpuStart : now - start;
    return elapsed / 1e6 / calls;
  }

  private static void call(
      ExecutorService pool,
      int threads,
      GgufTensor w,
      float[] x,
      int batch,
      float[] out,
      boolean fast)
      throws Exception {
    int rows = w.rows();
    if (threads == 1) {
      run(w, x, batch, out, 0, rows, fast);
      return;
    }
    Future<?>[] f = new Future<?>[threads];
    for (int i = 0; i < threads; i++) {
      int r0 = (int) ((long) rows * i / threads);
      int r1 = (int) ((long) rows * (i + 1) / threads);
      f[i] = pool.submit(() -> run(w, x, batch, out, r0, r1, fast));
    }
    for (Future<?> fu : f) {
      fu.get();
    }
  }

  private static void run(
      GgufTensor w, float[] x, int batch, float[] out, int r0, int r1, boolean fast) {
    if (fast) {
      MatMul.fast(w, x, batch, out, r0, r1);
    } else {
      MatMul.reference(w, x, batch, out, r0, r1);
    }
  }
}
