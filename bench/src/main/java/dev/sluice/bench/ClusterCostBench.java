package dev.sluice.bench;

import dev.sluice.engine.Backend;
import dev.sluice.engine.BatchEngine;
import dev.sluice.engine.FinishReason;
import dev.sluice.engine.GenerationRequest;
import dev.sluice.engine.SequenceHandle;
import dev.sluice.engine.TokenSampler;
import dev.sluice.engine.TokenSink;
import dev.sluice.engine.cpu.CpuBackend;
import dev.sluice.pipeline.DeviceModel;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The cluster's own cost (issue 4, item 7): generated tokens/s through the HTTP gateway and the
 * cluster (seed-node.jar in single-node mode) against the same engine called directly in-process,
 * on the same model file, thread count, concurrency, prompt and greedy {@code max_tokens}.
 *
 * <p>Direct: {@link DeviceModel#load} with the worker's default engine settings ({@code
 * sluice.worker.*}: max-seqs 8, step budget 256, prefill chunk 128, KV blocks of 16) and the same
 * {@code --max-seq-len} on both sides (the KV cache of 8 sequences of a 32K context would not fit
 * the heaps) on a {@code CpuBackend(threads)}; N sequences are kept in flight on one thread (a
 * finished one is replaced before the next step), each stopping at the tokenizer's
 * end-of-generation tokens like the server. Cluster: N client threads each send non-streamed {@code
 * /v1/completions} requests back to back (temperature 0) and the generated tokens are summed from
 * the responses' {@code usage.completion_tokens}. Each measurement is preceded by a warm-up of the
 * same shape (30 s by default: at a few dozen requests a second the gateway's per-request code
 * needs that long to leave the profiling tier of the JIT; a server's steady state is what is
 * measured). Rates are tokens generated per wall-clock second over the measured window (prefill
 * time included). The comparison is repeated in {@code --rounds} rounds, each with a fresh direct
 * JVM and a fresh server, and the median ratio per N is reported.
 *
 * <p>Where a gap comes from: the worker's {@code sluice_device_busy_seconds_total} and {@code
 * sluice_generated_tokens_total}, scraped from its management port around the measured window (with
 * a 1.5 s pause on each side, so that the once-a-second publication has caught up), give the share
 * of the window the engine was computing ("device busy") and its rate while it was ("tok/s while
 * busy"). Busy below 100% is turn-around (the engine idles between requests); a rate while busy
 * below the direct rate is contention (the gateway's threads share the cores with the engine's).
 *
 * <pre>
 * ClusterCostBench --model PATH [--threads T] [--concurrency 1,4] [--seconds 20] [--warmup 30]
 *                  [--rounds 3] [--max-tokens 64] [--max-seq-len 2048] [--prompt TEXT]
 *                  [--jar seed-node/target/seed-node.jar] [--heap 1g]
 * </pre>
 */
public final class ClusterCostBench {
  private static final Pattern COMPLETION = Pattern.compile("\"completion_tokens\":(\\d+)");

  record Options(
      Path model,
      int threads,
      int[] concurrency,
      int seconds,
      int warmup,
      int maxTokens,
      String prompt,
      Path jar,
      String heap,
      int rounds,
      int maxSeqLen) {}

  private ClusterCostBench() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> a = parse(args);
    String data = System.getenv("SLUICE_DATA_DIR");
    String model =
        a.getOrDefault(
            "model", data == null ? null : Path.of(data, "models", "stories260K.gguf").toString());
    if (model == null || !Files.isRegularFile(Path.of(model))) {
      throw new IllegalArgumentException(
          "--model: no GGUF file at "
              + model
              + " (default $SLUICE_DATA_DIR/models/stories260K.gguf; stories15M-q8_0 from"
              + " bench/out/models gives a more meaningful rate)");
    }
    Options o =
        new Options(
            Path.of(model).toAbsolutePath(),
            Integer.parseInt(
                a.getOrDefault("threads", "" + Runtime.getRuntime().availableProcessors())),
            Arrays.stream(a.getOrDefault("concurrency", "1,4").split(","))
                .mapToInt(Integer::parseInt)
                .toArray(),
            Integer.parseInt(a.getOrDefault("seconds", "20")),
            Integer.parseInt(a.getOrDefault("warmup", "30")),
            Integer.parseInt(a.getOrDefault("max-tokens", "64")),
            a.getOrDefault("prompt", "Once upon a time, there was a little girl named Lily."),
            Path.of(a.getOrDefault("jar", "seed-node/target/seed-node.jar")),
            a.getOrDefault("heap", "1g"),
            Integer.parseInt(a.getOrDefault("rounds", "3")),
            Integer.parseInt(a.getOrDefault("max-seq-len", "2048")));
    if (o.rounds() < 1) {
      throw new IllegalArgumentException("--rounds: at least 1, got " + o.rounds());
    }
    if (Arrays.stream(o.concurrency()).max().orElse(1) > 8) {
      throw new IllegalArgumentException(
          "--concurrency: at most 8 (the worker's default max-seqs, used on both sides)");
    }
    if (a.containsKey("direct-only")) {
      // A round's direct side, in a JVM of its own (see runDirectChild).
      Map<Integer, double[]> direct = new LinkedHashMap<>();
      runDirect(o, direct);
      for (var e : direct.entrySet()) {
        System.out.printf(
            Locale.ROOT, "DIRECT %d %.3f %.0f%n", e.getKey(), e.getValue()[0], e.getValue()[1]);
      }
      return;
    }
    StringBuilder t = new StringBuilder();
    t.append(
        "| round | N | direct tok/s | gateway + cluster tok/s | ratio | direct tokens |"
            + " cluster tokens | device busy | tok/s while busy | vs direct |\n");
    t.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    Map<Integer, List<Double>> ratios = new LinkedHashMap<>();
    for (int round = 1; round <= o.rounds(); round++) {
      Map<Integer, double[]> direct = runDirectChild(o, args);
      Map<Integer, double[]> cluster = new LinkedHashMap<>();
      runCluster(o, cluster);
      for (int n : o.concurrency()) {
        double[] d = direct.get(n);
        double[] c = cluster.get(n);
        ratios.computeIfAbsent(n, k -> new ArrayList<>()).add(c[0] / d[0]);
        t.append(
            String.format(
                Locale.ROOT,
                "| %d | %d | %.1f | %.1f | %.2fx | %.0f | %.0f | %.1f%% | %.1f | %.2fx |%n",
                round,
                n,
                d[0],
                c[0],
                c[0] / d[0],
                d[1],
                c[1],
                100 * c[2],
                c[3],
                c[3] / d[0]));
      }
    }
    StringBuilder med = new StringBuilder("| N | median ratio | rounds |\n|---:|---:|---|\n");
    for (var e : ratios.entrySet()) {
      List<Double> r = new ArrayList<>(e.getValue());
      List<String> each = r.stream().map(x -> String.format(Locale.ROOT, "%.2fx", x)).toList();
      r.sort(null);
      double m =
          r.size() % 2 == 1
              ? r.get(r.size() / 2)
              : (r.get(r.size() / 2 - 1) + r.get(r.size() / 2)) / 2;
      med.append(
          String.format(
              Locale.ROOT, "| %d | **%.2fx** | %s |%n", e.getKey(), m, String.join(", ", each)));
    }
    System.out.printf(
        Locale.ROOT,
        "%nmodel %s, %d threads, max_tokens %d (greedy), %d s measured after %d s warm-up, "
            + "%d rounds (fresh JVMs each), %d cores; cluster: non-streamed /v1/completions%n%n%s%n%s",
        o.model().getFileName(),
        o.threads(),
        o.maxTokens(),
        o.seconds(),
        o.warmup(),
        o.rounds(),
        Runtime.getRuntime().availableProcessors(),
        t,
        med);
  }

  /**
   * One round's direct side in a fresh JVM (this class with this run's JVM options and arguments
   * plus {@code --direct-only}), so that each round compares two JVMs that both compiled their
   * kernels afresh: the speed of the same kernels differs by up to ~20% between JVM launches on
   * this machine (code placement, array alignment, compilation order), more than the effect being
   * measured.
   */
  static Map<Integer, double[]> runDirectChild(Options o, String[] args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path")));
    cmd.add(ClusterCostBench.class.getName());
    cmd.addAll(List.of(args));
    cmd.addAll(List.of("--direct-only", "true"));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    Map<Integer, double[]> res = new LinkedHashMap<>();
    StringBuilder out = new StringBuilder();
    try (var r =
        new java.io.BufferedReader(
            new java.io.InputStreamReader(
                p.getInputStream(), java.nio.charset.StandardCharsets.UTF_8))) {
      String line;
      while ((line = r.readLine()) != null) {
        out.append(line).append('\n');
        if (line.startsWith("DIRECT ")) {
          String[] f = line.split(" ");
          res.put(
              Integer.parseInt(f[1]),
              new double[] {Double.parseDouble(f[2]), Double.parseDouble(f[3])});
        } else if (line.startsWith("direct ")) {
          System.out.println(line);
        }
      }
    }
    if (p.waitFor() != 0 || res.size() != o.concurrency().length) {
      throw new IllegalStateException("the direct run failed:\n" + out);
    }
    return res;
  }

  /** The engine in-process, configured like a CPU worker with the default settings. */
  static void runDirect(Options o, Map<Integer, double[]> res) throws Exception {
    Backend backend = new CpuBackend(o.threads());
    try (DeviceModel dm =
        DeviceModel.load(
            "direct",
            o.model(),
            backend,
            new DeviceModel.EngineOptions(8, 256, 128, o.maxSeqLen(), 16, 0))) {
      boolean bos = dm.tokenizer().addsBos();
      int[] prompt = dm.tokenizer().encode(o.prompt(), bos, false);
      int[] stops = dm.tokenizer().endOfGenerationIds();
      for (int n : o.concurrency()) {
        closedLoop(dm.engine(), prompt, stops, o.maxTokens(), n, o.warmup());
        long[] r = closedLoop(dm.engine(), prompt, stops, o.maxTokens(), n, o.seconds());
        double tps = r[0] / (r[1] / 1e9);
        res.put(n, new double[] {tps, r[0]});
        System.out.printf(
            Locale.ROOT,
            "direct  N=%d: %d tokens in %.1f s = %.1f tok/s%n",
            n,
            r[0],
            r[1] / 1e9,
            tps);
      }
    }
  }

  /**
   * Keeps {@code n} sequences in flight for {@code seconds}, then drains; returns {tokens, nanos}.
   */
  private static long[] closedLoop(
      BatchEngine engine, int[] prompt, int[] stops, int maxTokens, int n, int seconds) {
    AtomicLong tokens = new AtomicLong();
    int[] done = new int[1];
    TokenSink sink =
        new TokenSink() {
          @Override
          public boolean onToken(SequenceHandle seq, int token) {
            tokens.incrementAndGet();
            return true;
          }

          @Override
          public void onFinish(SequenceHandle seq, FinishReason reason, Throwable error) {
            if (reason == FinishReason.ERROR) {
              throw new IllegalStateException("direct engine failed", error);
            }
            done[0]++;
          }
        };
    TokenSampler greedy = TokenSampler.greedy();
    long t0 = System.nanoTime();
    long end = t0 + seconds * 1_000_000_000L;
    for (int i = 0; i < n; i++) {
      engine.submit(new GenerationRequest(prompt, maxTokens, stops, greedy, sink));
    }
    while (!engine.idle()) {
      engine.step();
      while (done[0] > 0) {
        done[0]--;
        if (System.nanoTime() < end) {
          engine.submit(new GenerationRequest(prompt, maxTokens, stops, greedy, sink));
        }
      }
    }
    return new long[] {tokens.get(), System.nanoTime() - t0};
  }

  /** seed-node.jar in single-node mode, one CPU worker, driven over HTTP by n client threads. */
  static void runCluster(Options o, Map<Integer, double[]> res) throws Exception {
    if (!Files.isRegularFile(o.jar())) {
      throw new IllegalStateException(
          o.jar() + " not found: build with ./mvnw -pl seed-node -am package");
    }
    int http = freePort();
    int mgmt = freePort();
    int remote = freePort();
    Path log = Path.of("bench/out/cluster-cost-seed.log");
    Files.createDirectories(log.getParent());
    ProcessBuilder pb =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx" + o.heap(),
                "--add-modules=jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow",
                "-Dsluice.worker.max-seq-len=" + o.maxSeqLen(),
                "-jar",
                o.jar().toString())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile());
    Map<String, String> env = pb.environment();
    env.put("SLUICE_MODEL", o.model().toString());
    env.put("SLUICE_THREADS", "" + o.threads());
    env.put("SLUICE_DEVICE", "cpu");
    env.put("SLUICE_CPU_SLOTS", "1");
    env.put("SLUICE_HTTP_PORT", "" + http);
    env.put("SLUICE_MANAGEMENT_PORT", "" + mgmt);
    env.put("SLUICE_PORT", "" + remote);
    Process server = pb.start();
    try {
      HttpClient client =
          HttpClient.newBuilder()
              .version(HttpClient.Version.HTTP_1_1)
              .connectTimeout(Duration.ofSeconds(5))
              .build();
      waitReady(client, server, mgmt, log);
      String name = o.model().getFileName().toString().replaceFirst("\\.gguf$", "");
      String body =
          "{\"model\":\""
              + name
              + "\",\"max_tokens\":"
              + o.maxTokens()
              + ",\"temperature\":0,\"stream\":false,\"prompt\":\""
              + o.prompt().replace("\\", "\\\\").replace("\"", "\\\"")
              + "\"}";
      HttpRequest req =
          HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http + "/v1/completions"))
              .timeout(Duration.ofSeconds(120))
              .header("Content-Type", "application/json")
              .POST(HttpRequest.BodyPublishers.ofString(body))
              .build();
      HttpRequest metrics =
          HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + mgmt + "/metrics"))
              .timeout(Duration.ofSeconds(10))
              .build();
      for (int n : o.concurrency()) {
        clients(client, req, n, o.warmup());
        Thread.sleep(1500);
        String before = client.send(metrics, HttpResponse.BodyHandlers.ofString()).body();
        long[] r = clients(client, req, n, o.seconds());
        Thread.sleep(1500);
        String after = client.send(metrics, HttpResponse.BodyHandlers.ofString()).body();
        double tps = r[0] / (r[1] / 1e9);
        double busy =
            sum(after, "sluice_device_busy_seconds_total")
                - sum(before, "sluice_device_busy_seconds_total");
        double generated =
            sum(after, "sluice_generated_tokens_total")
                - sum(before, "sluice_generated_tokens_total");
        res.put(n, new double[] {tps, r[0], busy / (r[1] / 1e9), generated / busy});
        System.out.printf(
            Locale.ROOT,
            "cluster N=%d: %d tokens in %.1f s = %.1f tok/s; device busy %.1f s (%.1f%%),"
                + " %.1f tok/s while busy%n",
            n,
            r[0],
            r[1] / 1e9,
            tps,
            busy,
            100 * busy / (r[1] / 1e9),
            generated / busy);
      }
    } finally {
      server.destroy();
      server.waitFor();
    }
  }

  /** The sum of a family's samples in Prometheus text (every label set; 0 when absent). */
  static double sum(String text, String family) {
    double total = 0;
    for (String line : text.split("\n")) {
      if (line.startsWith(family + "{") || line.startsWith(family + " ")) {
        total += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return total;
  }

  /** n threads send requests back to back until {@code seconds} pass; returns {tokens, nanos}. */
  private static long[] clients(HttpClient client, HttpRequest req, int n, int seconds)
      throws InterruptedException {
    AtomicLong tokens = new AtomicLong();
    List<String> errors = java.util.Collections.synchronizedList(new ArrayList<>());
    long t0 = System.nanoTime();
    long end = t0 + seconds * 1_000_000_000L;
    List<Thread> ts = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      ts.add(
          Thread.ofPlatform()
              .start(
                  () -> {
                    while (System.nanoTime() < end && errors.isEmpty()) {
                      try {
                        HttpResponse<String> resp =
                            client.send(req, HttpResponse.BodyHandlers.ofString());
                        Matcher m = COMPLETION.matcher(resp.body());
                        if (resp.statusCode() != 200 || !m.find()) {
                          errors.add(resp.statusCode() + " " + resp.body());
                          return;
                        }
                        tokens.addAndGet(Long.parseLong(m.group(1)));
                      } catch (IOException | InterruptedException e) {
                        errors.add(e.toString());
                        return;
                      }
                    }
                  }));
    }
    for (Thread t : ts) {
      t.join();
    }
    if (!errors.isEmpty()) {
      throw new IllegalStateException("request failed: " + errors.getFirst());
    }
    return new long[] {tokens.get(), System.nanoTime() - t0};
  }

  private static void waitReady(HttpClient client, Process server, int mgmt, Path log)
      throws Exception {
    HttpRequest ready =
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + mgmt + "/ready"))
            .timeout(Duration.ofSeconds(2))
            .build();
    long end = System.nanoTime() + 180_000_000_000L;
    while (System.nanoTime() < end) {
      if (!server.isAlive()) {
        throw new IllegalStateException("seed node exited " + server.exitValue() + "; see " + log);
      }
      try {
        if (client.send(ready, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
          return;
        }
      } catch (IOException e) {
        // not listening yet
      }
      Thread.sleep(500);
    }
    throw new IllegalStateException("seed node not ready after 180 s; see " + log);
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static Map<String, String> parse(String[] args) {
    Map<String, String> m = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) {
        throw new IllegalArgumentException("expected --key value, got " + args[i]);
      }
      m.put(args[i].substring(2), args[++i]);
    }
    return m;
  }
}
