package dev.sluice.bench;

import dev.sluice.engine.Backend;
import dev.sluice.engine.KvCacheSpec;
import dev.sluice.engine.ModelRunner;
import dev.sluice.engine.StepBatch;
import dev.sluice.engine.cpu.CpuBackend;
import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.gguf.GgufTensor;
import dev.sluice.engine.gguf.SyntheticModel;
import dev.sluice.engine.gguf.SyntheticModel.Shape;
import dev.sluice.engine.gguf.SyntheticModel.TypeMix;
import dev.sluice.engine.model.ModelLoader;
import dev.sluice.engine.model.ModelWeights;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Sluice's CPU engine against llama.cpp on the same GGUF files and thread count: prefill and decode
 * tokens/s for one sequence and batches of 4 and 16, the ratio Sluice / llama.cpp, and the weight
 * bandwidth Sluice's decode achieves (weight bytes read per step x steps/s) against the machine's
 * copy bandwidth measured in the same run.
 *
 * <p>Models: stories260K (from the data folder) and seeded random models written by {@link
 * SyntheticModel} in the shapes of stories15M (F32, Q8_0), Qwen2.5-0.5B (Q8_0, Q4_0, Q4_K) and
 * DeepSeek-R1-Distill-Qwen-1.5B (Q8_0, Q4_K), cached under {@code bench/out/models}. llama.cpp runs
 * in a child process ({@code bench/llamacpp/bench.mjs}); a model or engine that fails is reported
 * in its row and the run goes on. Numbers are only meaningful on an otherwise idle machine.
 *
 * <pre>
 * EngineBench [--threads N] [--models stories260K,stories15M-q8_0,...] [--sequences 1,4,16]
 *             [--prompt 128] [--gen 32] [--data DIR] [--out bench/out] [--no-llamacpp]
 * </pre>
 */
public final class EngineBench {
  private static final int BLOCK = 16;

  /** A benchmark model: a file in the data folder, or a synthetic shape and type mix. */
  record BenchModel(String id, String dataFile, Shape shape, TypeMix mix) {}

  static final List<BenchModel> ALL =
      List.of(
          new BenchModel("stories260K", "models/stories260K.gguf", null, null),
          new BenchModel("stories15M-f32", null, Shape.STORIES_15M, TypeMix.F32),
          new BenchModel("stories15M-q8_0", null, Shape.STORIES_15M, TypeMix.Q8_0),
          new BenchModel("qwen2.5-0.5b-q8_0", null, Shape.QWEN25_05B, TypeMix.Q8_0),
          new BenchModel("qwen2.5-0.5b-q4_0", null, Shape.QWEN25_05B, TypeMix.Q4_0),
          new BenchModel("qwen2.5-0.5b-q4_k", null, Shape.QWEN25_05B, TypeMix.Q4_K),
          new BenchModel(
              "r1-distill-qwen-1.5b-q8_0", null, Shape.R1_DISTILL_QWEN_15B, TypeMix.Q8_0),
          new BenchModel(
              "r1-distill-qwen-1.5b-q4_k", null, Shape.R1_DISTILL_QWEN_15B, TypeMix.Q4_K));

  /** Tokens/s of one engine at one batch size; NaN when it did not run. */
  record Speed(double prefillTps, double decodeTps) {
    static final Speed NONE = new Speed(Double.NaN, Double.NaN);
  }

  private final int threads;
  private final int[] sequences;
  private final int prompt;
  private final int gen;
  private final Path data;
  private final Path out;
  private final Path llamaDir;

  EngineBench(
      int threads, int[] sequences, int prompt, int gen, Path data, Path out, Path llamaDir) {
    this.threads = threads;
    this.sequences = sequences;
    this.prompt = prompt;
    this.gen = gen;
    this.data = data;
    this.out = out;
    this.llamaDir = llamaDir;
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> a = parse(args);
    int threads =
        Integer.parseInt(
            a.getOrDefault("threads", "" + Runtime.getRuntime().availableProcessors()));
    int[] seqs =
        Arrays.stream(a.getOrDefault("sequences", "1,4,16").split(","))
            .mapToInt(Integer::parseInt)
            .toArray();
    String dataDir = a.getOrDefault("data", System.getenv("SLUICE_DATA_DIR"));
    Path data = dataDir == null || dataDir.isBlank() ? null : Path.of(dataDir);
    Path out = Path.of(a.getOrDefault("out", "bench/out"));
    Path llamaDir =
        a.containsKey("no-llamacpp") ? null : Path.of(a.getOrDefault("llamacpp", "bench/llamacpp"));
    List<String> wanted = a.containsKey("models") ? List.of(a.get("models").split(",")) : null;
    List<BenchModel> models = new ArrayList<>();
    for (BenchModel m : ALL) {
      if (wanted == null || wanted.contains(m.id())) {
        models.add(m);
      }
    }
    if (wanted != null && models.size() != wanted.size()) {
      throw new IllegalArgumentException(
          "--models: unknown id in "
              + wanted
              + "; known: "
              + ALL.stream().map(BenchModel::id).toList());
    }
    new EngineBench(
            threads,
            seqs,
            Integer.parseInt(a.getOrDefault("prompt", "128")),
            Integer.parseInt(a.getOrDefault("gen", "32")),
            data,
            out,
            llamaDir)
        .run(models);
  }

  void run(List<BenchModel> models) throws Exception {
    double bw = measureCopyBandwidth();
    System.out.printf(
        Locale.ROOT,
        "machine: %d cores, %d threads used, memory copy bandwidth %.1f GB/s (read + write)%n%n",
        Runtime.getRuntime().availableProcessors(),
        threads,
        bw / 1e9);
    StringBuilder table = new StringBuilder();
    table.append(
        "| model | weights MB | seqs | prefill tok/s Sluice | llama.cpp | ratio | decode tok/s Sluice "
            + "| llama.cpp | ratio | Sluice weight GB/s | % of copy BW |\n");
    table.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (BenchModel m : models) {
      Path file;
      try {
        file = ensureModel(m);
      } catch (Exception e) {
        System.out.println(m.id() + ": skipped: " + e.getMessage());
        continue;
      }
      long weightBytes = weightBytesPerStep(file);
      Map<Integer, Speed> llama = runLlamaCpp(m, file);
      Map<Integer, Speed> sluice = runSluice(m, file);
      for (int s : sequences) {
        Speed a = sluice.getOrDefault(s, Speed.NONE);
        Speed b = llama.getOrDefault(s, Speed.NONE);
        // a decode step reads every weight once for the whole batch
        double gbs = weightBytes * (a.decodeTps() / s) / 1e9;
        table.append(
            String.format(
                Locale.ROOT,
                "| %s | %.1f | %d | %s | %s | %s | %s | %s | %s | %s | %s |%n",
                m.id(),
                weightBytes / 1e6,
                s,
                num(a.prefillTps()),
                num(b.prefillTps()),
                ratio(a.prefillTps(), b.prefillTps()),
                num(a.decodeTps()),
                num(b.decodeTps()),
                ratio(a.decodeTps(), b.decodeTps()),
                Double.isNaN(gbs) ? "-" : String.format(Locale.ROOT, "%.2f", gbs),
                Double.isNaN(gbs)
                    ? "-"
                    : String.format(Locale.ROOT, "%.0f%%", 100 * gbs * 1e9 / bw)));
      }
      System.out.println(m.id() + ": done");
    }
    System.out.printf(
        Locale.ROOT,
        "%nprompt %d tokens, %d decode steps, %d threads; ratio = Sluice / llama.cpp "
            + "(node-llama-cpp 3.21.1, F32 KV cache)%n%n%s",
        prompt,
        gen,
        threads,
        table);
  }

  private static String num(double v) {
    return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.1f", v);
  }

  private static String ratio(double a, double b) {
    return Double.isNaN(a) || Double.isNaN(b) ? "-" : String.format(Locale.ROOT, "%.2fx", a / b);
  }

  /** The model file: from the data folder, or written once into {@code out/models}. */
  Path ensureModel(BenchModel m) throws IOException {
    if (m.dataFile() != null) {
      if (data == null) {
        throw new IOException(
            "SLUICE_DATA_DIR (or --data) is not set: " + m.dataFile() + " missing");
      }
      Path p = data.resolve(m.dataFile());
      if (!Files.isRegularFile(p)) {
        throw new IOException(p + " not found");
      }
      return p;
    }
    Path p = out.resolve("models").resolve(m.id() + ".gguf");
    if (Files.isRegularFile(p)) {
      return p;
    }
    if (data == null) {
      throw new IOException(
          "SLUICE_DATA_DIR (or --data) is not set: the vocabulary files in tokenizers/ are needed");
    }
    String vocab =
        m.shape().arch().equals("qwen2") ? "ggml-vocab-qwen2.gguf" : "ggml-vocab-llama-spm.gguf";
    long t0 = System.nanoTime();
    SyntheticModel.builder(m.shape(), m.mix())
        .seed(20250101)
        .vocabFrom(data.resolve("tokenizers").resolve(vocab))
        .write(p);
    System.out.printf(
        Locale.ROOT,
        "%s: wrote %s (%.0f MB) in %.1f s%n",
        m.id(),
        p,
        Files.size(p) / 1e6,
        (System.nanoTime() - t0) / 1e9);
    return p;
  }

  /** Bytes of weights a decode step reads: every tensor but the embedding (one row per token). */
  static long weightBytesPerStep(Path file) throws IOException {
    try (GgufFile f = GgufFile.open(file)) {
      long sum = 0;
      boolean tied = !f.tensors().containsKey("output.weight");
      for (GgufTensor t : f.tensors().values()) {
        if (!t.name().equals("token_embd.weight") || tied) {
          sum += t.data().byteSize();
        }
      }
      return sum;
    }
  }

  private static final Pattern LLAMA_ROW =
      Pattern.compile(
          "\"sequences\":(\\d+),[^}]*\"prefillTps\":([-\\d.eE+]+),\"decodeTps\":([-\\d.eE+]+)");

  Map<Integer, Speed> runLlamaCpp(BenchModel m, Path file) {
    Map<Integer, Speed> res = new LinkedHashMap<>();
    if (llamaDir == null) {
      return res;
    }
    if (!Files.isDirectory(llamaDir.resolve("node_modules/node-llama-cpp"))) {
      System.out.println(
          m.id()
              + ": llama.cpp skipped: run .ci/install.d/llamacpp.sh (npm ci in "
              + llamaDir
              + ")");
      return res;
    }
    try {
      Process p =
          new ProcessBuilder(
                  "node",
                  "bench.mjs",
                  "--model",
                  file.toAbsolutePath().toString(),
                  "--threads",
                  "" + threads,
                  "--sequences",
                  String.join(",", Arrays.stream(sequences).mapToObj(Integer::toString).toList()),
                  "--prompt",
                  "" + prompt,
                  "--gen",
                  "" + gen)
              .directory(llamaDir.toFile())
              .redirectError(ProcessBuilder.Redirect.INHERIT)
              .start();
      String json = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(30, TimeUnit.MINUTES) || p.exitValue() != 0) {
        System.out.println(m.id() + ": llama.cpp failed: " + json);
        return res;
      }
      Matcher mt = LLAMA_ROW.matcher(json);
      while (mt.find()) {
        res.put(
            Integer.parseInt(mt.group(1)),
            new Speed(Double.parseDouble(mt.group(2)), Double.parseDouble(mt.group(3))));
      }
    } catch (IOException | InterruptedException e) {
      System.out.println(m.id() + ": llama.cpp failed: " + e);
    }
    return res;
  }

  Map<Integer, Speed> runSluice(BenchModel m, Path file) {
    Map<Integer, Speed> res = new LinkedHashMap<>();
    try (GgufFile f = GgufFile.open(file)) {
      ModelWeights w = ModelLoader.load(f);
      try (Backend backend = new CpuBackend(threads)) {
        int maxSeqs = Arrays.stream(sequences).max().orElse(1);
        int blocksPerSeq = (prompt + gen + BLOCK) / BLOCK + 1;
        try (ModelRunner runner = backend.load(w, new KvCacheSpec(maxSeqs * blocksPerSeq, BLOCK))) {
          for (int s : sequences) {
            // the first run JIT-compiles the kernels for this batch shape: keep the better of two
            Speed a = measure(runner, s, prompt, gen, blocksPerSeq);
            Speed b = measure(runner, s, prompt, gen, blocksPerSeq);
            res.put(
                s,
                new Speed(
                    Math.max(a.prefillTps(), b.prefillTps()),
                    Math.max(a.decodeTps(), b.decodeTps())));
          }
        }
      }
    } catch (Exception | AssertionError e) {
      System.out.println(m.id() + ": Sluice failed: " + e);
    }
    return res;
  }

  /** Prefill {@code s} prompts together (chunked at 512 tokens a step), then decode greedily. */
  private static Speed measure(ModelRunner runner, int s, int promptLen, int genLen, int bps) {
    int vocab = runner.config().vocabSize();
    int chunk = Math.max(1, Math.min(promptLen, 512 / s));
    StepBatch batch = new StepBatch(s, s * chunk, bps);
    float[] logits = new float[s * vocab];
    int[][] prompts = new int[s][promptLen];
    int[][] blocks = new int[s][bps];
    for (int i = 0; i < s; i++) {
      for (int t = 0; t < promptLen; t++) {
        prompts[i][t] =
            3 + (int) Math.floorMod((12345L + i * 7919L) * (t + 1) * 1103515245L, vocab - 3L);
      }
      for (int b = 0; b < bps; b++) {
        blocks[i][b] = i * bps + b;
      }
    }
    long t0 = System.nanoTime();
    for (int pos = 0; pos < promptLen; pos += chunk) {
      int len = Math.min(chunk, promptLen - pos);
      batch.clear();
      for (int i = 0; i < s; i++) {
        batch.add(prompts[i], pos, len, pos, blocks[i], bps);
      }
      runner.forward(batch, logits);
    }
    double prefillS = (System.nanoTime() - t0) / 1e9;
    int[] next = new int[s];
    int[] one = new int[1];
    t0 = System.nanoTime();
    for (int step = 0; step < genLen; step++) {
      for (int i = 0; i < s; i++) {
        next[i] = argmax(logits, i * vocab, vocab);
      }
      batch.clear();
      for (int i = 0; i < s; i++) {
        one[0] = next[i];
        batch.add(one, 0, 1, promptLen + step, blocks[i], bps);
      }
      runner.forward(batch, logits);
    }
    double decodeS = (System.nanoTime() - t0) / 1e9;
    return new Speed(s * (double) promptLen / prefillS, s * (double) genLen / decodeS);
  }

  private static int argmax(float[] v, int off, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
      if (v[off + i] > v[off + best]) {
        best = i;
      }
    }
    return best;
  }

  /**
   * Copy bandwidth of this machine: the best of several copies of a 256 MiB off-heap buffer,
   * counting bytes read plus bytes written (what a decode step's weight streaming competes with).
   */
  static double measureCopyBandwidth() {
    long size = 256L << 20;
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment src = arena.allocate(size, 64);
      MemorySegment dst = arena.allocate(size, 64);
      src.fill((byte) 1);
      dst.fill((byte) 0);
      double best = 0;
      for (int i = 0; i < 6; i++) {
        long t0 = System.nanoTime();
        MemorySegment.copy(src, 0, dst, 0, size);
        double s = (System.nanoTime() - t0) / 1e9;
        best = Math.max(best, 2.0 * size / s);
      }
      return best;
    }
  }

  private static Map<String, String> parse(String[] args) {
    Map<String, String> m = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      if (!args[i].startsWith("--")) {
        throw new IllegalArgumentException("unexpected argument " + args[i]);
      }
      String k = args[i].substring(2);
      if (i + 1 < args.length && !args[i + 1].startsWith("--")) {
        m.put(k, args[++i]);
      } else {
        m.put(k, "true");
      }
    }
    return m;
  }
}
