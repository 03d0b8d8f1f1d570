package dev.sluice.engine.cuda;

import dev.sluice.engine.KvCacheSpec;
import dev.sluice.engine.StepBatch;
import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.model.ModelConfig;
import dev.sluice.engine.model.ModelWeights;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Decode and prefill throughput of the CUDA backend on a model of the Qwen2-1.5B shape with random
 * weights (the bytes a real model moves, no file needed), per weight type: decode tokens/s for 1, 4
 * and 16 sequences (context {@value #CONTEXT}), the weight bandwidth that implies against the
 * device's measured copy bandwidth, and prefill TFLOP/s for one {@value #PREFILL}-token prompt.
 *
 * <p>Usage: {@code CudaBench [Q8_0,Q8_0:repacked,F16,F16:repacked,Q4_K,Q4_K:repacked] [--small]}:
 * each entry a weight type, optionally {@code :repacked} for {@link CudaWeightLayout#REPACKED}
 * (default: the GGUF layout), so one run compares both layouts; {@code --small} runs a tiny shape
 * (a smoke run of the harness itself).
 */
public final class CudaBench {
  static final int CONTEXT = 256;
  static final int PREFILL = 512;
  static final int BLOCK = 16;

  private CudaBench() {}

  /** One benchmarked configuration: a weight type in a device layout. */
  record Config(GgmlType type, CudaWeightLayout layout) {
    static Config parse(String s) {
      String[] p = s.strip().split(":", 2);
      return new Config(
          GgmlType.valueOf(p[0].strip().toUpperCase(Locale.ROOT)),
          p.length > 1 ? CudaWeightLayout.parse(p[1]) : CudaWeightLayout.GGUF);
    }

    String label() {
      return layout == CudaWeightLayout.GGUF
          ? type.name()
          : type + " " + layout.name().toLowerCase(Locale.ROOT);
    }
  }

  public static void main(String[] args) {
    // Q8_0 in both layouts first: the comparison the next GPU run is for
    List<Config> configs = new ArrayList<>();
    for (String c : "Q8_0,Q8_0:repacked,F16,F16:repacked,Q4_K,Q4_K:repacked".split(",")) {
      configs.add(Config.parse(c));
    }
    boolean small = false;
    for (String a : args) {
      if (a.equals("--small")) {
        small = true;
      } else {
        configs.clear();
        for (String t : a.split(",")) {
          configs.add(Config.parse(t));
        }
      }
    }
    ModelConfig c =
        small
            ? new ModelConfig(
                "qwen2",
                256,
                512,
                2,
                4,
                2,
                64,
                1000,
                4096,
                1e-6f,
                1e6f,
                64,
                dev.sluice.engine.model.RopeType.NEOX,
                1f,
                true)
            : TestModels.qwen15b();
    List<String> rows = new ArrayList<>();
    try (CudaBackend backend = new CudaBackend(0)) {
      System.out.println("device: " + backend.device() + ", PTX " + backend.ptxVariant());
      double copyBw = backend.copyBandwidth(small ? 64L << 20 : 1L << 30, small ? 3 : 20);
      System.out.printf(
          Locale.ROOT, "device-to-device copy bandwidth: %.1f GB/s (read + write)%n", copyBw / 1e9);
      for (Config cfg : configs) {
        bench(backend, c, cfg, copyBw, rows);
      }
    }
    System.out.println();
    System.out.println(
        "| model | weights | step | seqs | graphs | tokens/s | ms/step | weight GB/s | % of copy BW | TFLOP/s |");
    System.out.println("|---|---|---|---|---|---|---|---|---|---|");
    rows.forEach(System.out::println);
    // Both layouts of a type in one run: the ratio the repacked kernels are judged by.
    for (Config cfg : configs) {
      Double base = ONE_SEQ_MS.get(cfg.type().name());
      Double other = ONE_SEQ_MS.get(cfg.label());
      if (cfg.layout() != CudaWeightLayout.GGUF && base != null && other != null) {
        System.out.printf(
            Locale.ROOT,
            "%s vs %s, decode 1 seq, graphs on: %.3f -> %.3f ms/step (%.2fx)%n",
            cfg.label(),
            cfg.type(),
            base,
            other,
            base / other);
      }
    }
  }

  // ms per single-sequence decode step with graphs, per configuration label.
  private static final java.util.Map<String, Double> ONE_SEQ_MS = new java.util.HashMap<>();

  private static void bench(
      CudaBackend backend, ModelConfig c, Config cfg, double copyBw, List<String> rows) {
    GgmlType type = cfg.type();
    String label = cfg.label();
    long t0 = System.nanoTime();
    int maxSeqs = 16;
    int perSeq = Math.max((CONTEXT + 1 + BLOCK - 1) / BLOCK, (PREFILL + BLOCK - 1) / BLOCK);
    KvCacheSpec kv = new KvCacheSpec(maxSeqs * perSeq, BLOCK);
    CudaModelRunner r;
    try (Arena arena = Arena.ofShared()) {
      ModelWeights w = TestModels.synthetic(c, type, arena, 1, true);
      r = (CudaModelRunner) backend.load(w, kv, cfg.layout());
    } // host copies freed: the runner holds only device memory
    if (r.weightLayout() != cfg.layout()) {
      System.out.println("WARNING: " + label + " fell back to the " + r.weightLayout() + " layout");
      label = type + " " + r.weightLayout().name().toLowerCase(Locale.ROOT) + " (fallback)";
    }
    String name = c.dim() == 1536 ? "qwen2-1.5B shape" : "small";
    long weightBytes = r.weightBytes() - (long) c.vocabSize() * rowBytes(type, c.dim()); // the
    // embedding table is read one row per token, not streamed
    System.out.printf(
        Locale.ROOT,
        "%s %s: %.2f GB of streamed weights (%d matrices on the repacked kernels), loaded in %.1f s%n",
        name,
        label,
        weightBytes / 1e9,
        r.repackedMatrices(),
        (System.nanoTime() - t0) / 1e9);
    try (r) {
      StepBatch b = new StepBatch(maxSeqs, PREFILL, perSeq);
      float[] logits = new float[PREFILL * c.vocabSize()];
      int[][] blocks = new int[maxSeqs][perSeq];
      for (int s = 0; s < maxSeqs; s++) {
        for (int i = 0; i < perSeq; i++) {
          blocks[s][i] = s * perSeq + i;
        }
      }
      int[] toks = new int[PREFILL];
      for (int i = 0; i < PREFILL; i++) {
        toks[i] = (i * 7919) % c.vocabSize();
      }
      for (int seqs : new int[] {1, 4, 16}) {
        for (boolean graphs : seqs == 1 ? new boolean[] {true, false} : new boolean[] {true}) {
          r.useGraphs(graphs);
          b.clear();
          for (int s = 0; s < seqs; s++) {
            b.add(toks, s, 1, CONTEXT, blocks[s], perSeq);
          }
          double sec = time(r, b, logits, 0.8);
          if (seqs == 1 && graphs) {
            ONE_SEQ_MS.put(label, sec * 1e3);
          }
          double tokPerS = seqs / sec;
          double bw = weightBytes / sec;
          add(
              rows,
              String.format(
                  Locale.ROOT,
                  "| %s | %s | decode @%d | %d | %s | %.0f | %.3f | %.0f | %.0f%% | |",
                  name,
                  label,
                  CONTEXT,
                  seqs,
                  graphs ? "on" : "off",
                  tokPerS,
                  sec * 1e3,
                  bw / 1e9,
                  100 * bw / copyBw));
        }
      }
      breakdown(r, b, logits, toks, blocks[0], perSeq, name, type, label, weightBytes, c);
      // RoPE + KV store fused into decode attention (not the default yet): one row and its
      // breakdown, same model, so the two attention paths compare in one run.
      r.useFusedRope(true);
      if (r.fusedRope()) {
        String fl = label + " +rope";
        for (boolean graphs : new boolean[] {true, false}) {
          r.useGraphs(graphs);
          b.clear();
          b.add(toks, 0, 1, CONTEXT, blocks[0], perSeq);
          double sec = time(r, b, logits, 0.8);
          if (graphs) {
            ONE_SEQ_MS.put(fl, sec * 1e3);
          }
          add(
              rows,
              String.format(
                  Locale.ROOT,
                  "| %s | %s | decode @%d | 1 | %s | %.0f | %.3f | %.0f | %.0f%% | |",
                  name,
                  fl,
                  CONTEXT,
                  graphs ? "on" : "off",
                  1 / sec,
                  sec * 1e3,
                  weightBytes / sec / 1e9,
                  100 * weightBytes / sec / copyBw));
        }
        breakdown(r, b, logits, toks, blocks[0], perSeq, name, type, fl, weightBytes, c);
        Double base = ONE_SEQ_MS.get(label);
        if (base != null) {
          System.out.printf(
              Locale.ROOT,
              "%s vs %s, decode 1 seq, graphs on: %.3f -> %.3f ms/step (%.2fx)%n",
              fl,
              label,
              base,
              ONE_SEQ_MS.get(fl),
              base / ONE_SEQ_MS.get(fl));
        }
      }
      r.useFusedRope(false);
      r.useGraphs(true);
      b.clear();
      b.add(toks, 0, PREFILL, 0, blocks[0], perSeq);
      double sec = time(r, b, logits, 1.5);
      double flops =
          2.0 * PREFILL * (weightBytesToParams(c) + (double) c.vocabSize() * c.dim() / PREFILL);
      flops += 4.0 * c.layers() * c.heads() * c.headDim() * (PREFILL * (PREFILL + 1) / 2.0);
      add(
          rows,
          String.format(
              Locale.ROOT,
              "| %s | %s | prefill %d | 1 | off | %.0f | %.1f | | | %.2f |",
              name,
              label,
              PREFILL,
              PREFILL / sec,
              sec * 1e3,
              flops / sec / 1e12));
    }
  }

  /**
   * Where one single-sequence decode step's device time goes: graphs off, an event after each
   * kernel group, averaged over the steps that fit in about 0.5 s; also the launches per step (a
   * graph replays the same number of kernels).
   */
  private static void breakdown(
      CudaModelRunner r,
      StepBatch b,
      float[] logits,
      int[] toks,
      int[] blocks,
      int perSeq,
      String name,
      GgmlType type,
      String label,
      long weightBytes,
      ModelConfig c) {
    b.clear();
    b.add(toks, 0, 1, CONTEXT, blocks, perSeq);
    r.useGraphs(false);
    r.forward(b, logits);
    int launches = r.launchesPerStep();
    double[] ms = new double[CudaModelRunner.PHASES.length];
    r.profile(ms);
    int n = 0;
    long start = System.nanoTime();
    try {
      do {
        r.forward(b, logits);
        n++;
      } while (System.nanoTime() - start < 0.5e9 && n < 500);
    } finally {
      r.profile(null);
    }
    double total = 0;
    for (double v : ms) {
      total += v;
    }
    // Bytes each matrix phase streams per step, for its own bandwidth.
    long bpr = type.bytesFor(c.dim());
    long[] bytes = new long[ms.length];
    bytes[2] = (long) c.layers() * (c.qDim() + 2L * c.kvDim()) * bpr;
    bytes[4] = (long) c.layers() * c.dim() * type.bytesFor(c.qDim());
    bytes[5] = 2L * c.layers() * c.hiddenDim() * bpr;
    bytes[6] = (long) c.layers() * c.dim() * type.bytesFor(c.hiddenDim());
    bytes[7] = (long) c.vocabSize() * bpr;
    System.out.printf(
        Locale.ROOT,
        "%s %s decode @%d, 1 seq, graphs off: %d launches + copies per step, device time %.3f ms"
            + " per step (%d steps)%n",
        name,
        label,
        CONTEXT,
        launches,
        total / n,
        n);
    System.out.println("| phase | ms/step | share | GB/s |");
    System.out.println("|---|---|---|---|");
    for (int i = 0; i < ms.length; i++) {
      double per = ms[i] / n;
      System.out.printf(
          Locale.ROOT,
          "| %s | %.3f | %.0f%% | %s |%n",
          CudaModelRunner.PHASES[i],
          per,
          100 * ms[i] / Math.max(total, 1e-9),
          bytes[i] == 0 ? "" : String.format(Locale.ROOT, "%.0f", bytes[i] / (per * 1e-3) / 1e9));
    }
  }

  /** Keeps the row for the final table and prints it now (a timeout must not lose it). */
  private static void add(List<String> rows, String row) {
    rows.add(row);
    System.out.println(row);
  }

  /** Multiply-adds per token in the layers (the output projection is added per logit row). */
  private static double weightBytesToParams(ModelConfig c) {
    double perLayer =
        (double) c.dim() * (c.qDim() + 2L * c.kvDim())
            + (double) c.qDim() * c.dim()
            + 3.0 * c.dim() * c.hiddenDim();
    return perLayer * c.layers();
  }

  private static long rowBytes(GgmlType t, int cols) {
    return t.bytesFor(cols);
  }

  /** Seconds per forward step: warm-up, then as many steps as fit in about {@code budget} s. */
  private static double time(CudaModelRunner r, StepBatch b, float[] logits, double budget) {
    for (int i = 0; i < 3; i++) {
      r.forward(b, logits);
    }
    long start = System.nanoTime();
    int n = 0;
    do {
      r.forward(b, logits);
      n++;
    } while (System.nanoTime() - start < budget * 1e9 && n < 2000);
    return (System.nanoTime() - start) / 1e9 / n;
  }
}
