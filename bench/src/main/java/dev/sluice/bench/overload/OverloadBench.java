package dev.sluice.bench.overload;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.HdrHistogram.Histogram;

/**
 * Open-loop overload benchmark for the gateway: requests are sent at fixed intended times (constant
 * rate per phase, whatever the server does), and every latency is measured from the request's
 * intended send time, so a stalled server cannot hide its queueing (no coordinated omission).
 * Phases are multiples of the cluster's capacity C (tokens/s), e.g. {@code
 * 0.7x:30,1x:30,3x:30,10x:30,0.7x:30}.
 *
 * <p>Reports per phase: offered and admitted requests, goodput (completion tokens/s of admitted
 * requests that met their deadline) as a fraction of C, p50/p99/max latency of admitted requests vs
 * the deadline, refusal latency p99, refusals without {@code Retry-After}, other errors (5xx that
 * are not 503, timeouts, connection errors), the server's heap (jstat, if {@code --pid}), and the
 * recovery time: seconds after the last overload phase until the per-second p99 of admitted
 * requests is back within 1.5x the first phase's p99.
 *
 * <pre>
 * java -cp ... dev.sluice.bench.overload.OverloadBench --url http://127.0.0.1:8080 --model sim \
 *   --capacity 4000 --max-tokens 64 --deadline-ms 5000 --phases 0.7x:30,1x:30,3x:30,10x:30,0.7x:30 [--pid N]
 * </pre>
 */
public final class OverloadBench {

  /** Options. */
  public record Options(
      String url,
      String model,
      double capacity,
      int maxTokens,
      int promptChars,
      long deadlineMs,
      List<Phase> phases,
      long pid) {}

  /** One phase: {@code multiple} x C for {@code seconds}. */
  public record Phase(double multiple, int seconds) {}

  /** One finished request. */
  record Sample(
      int phase,
      long intendedNanos,
      long latencyNanos,
      int status,
      int completionTokens,
      boolean retryAfter,
      String reason) {}

  /** Per-phase results. */
  public record PhaseResult(
      Phase phase,
      double offeredPerSecond,
      long sent,
      long admitted,
      long refused429,
      long refused503,
      long refusedWithoutRetryAfter,
      long otherErrors,
      long deadlineMisses,
      long failedAfterAdmission,
      double goodputTokensPerSecond,
      double goodputOfCapacity,
      double p50Ms,
      double p99Ms,
      double maxMs,
      double refusalP99Ms,
      long maxHeapBytes) {}

  /** Whole-run results. */
  public record Result(List<PhaseResult> phases, double recoverySeconds, long maxHeapBytes) {}

  private OverloadBench() {}

  public static void main(String[] args) throws Exception {
    String url = "http://127.0.0.1:8080";
    String model = "sim";
    double capacity = 0;
    int maxTokens = 64;
    int promptChars = 200;
    long deadline = 5000;
    String phases = "0.7x:30,1x:30,3x:30,10x:30,0.7x:30";
    long pid = 0;
    for (int i = 0; i < args.length; i++) {
      String v = i + 1 < args.length ? args[i + 1] : "";
      switch (args[i]) {
        case "--url" -> url = v;
        case "--model" -> model = v;
        case "--capacity" -> capacity = Double.parseDouble(v);
        case "--max-tokens" -> maxTokens = Integer.parseInt(v);
        case "--prompt-chars" -> promptChars = Integer.parseInt(v);
        case "--deadline-ms" -> deadline = Long.parseLong(v);
        case "--phases" -> phases = v;
        case "--pid" -> pid = Long.parseLong(v);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
      i++;
    }
    if (capacity <= 0) {
      throw new IllegalArgumentException("--capacity C (cluster tokens/s) is required");
    }
    Options o =
        new Options(
            url, model, capacity, maxTokens, promptChars, deadline, parsePhases(phases), pid);
    Result r = run(o);
    System.out.println(markdown(o, r));
  }

  public static List<Phase> parsePhases(String s) {
    List<Phase> out = new ArrayList<>();
    for (String p : s.split(",")) {
      String[] kv = p.trim().split(":");
      out.add(
          new Phase(Double.parseDouble(kv[0].replace("x", "")), Integer.parseInt(kv[1].trim())));
    }
    return out;
  }

  /** X-Sluice-Reason values of refusals at admission (anything else failed after admission). */
  static final java.util.Set<String> ADMISSION_REASONS =
      java.util.Set.of(
          "deadline_unmeetable", "queue_full", "no_worker", "tenant_quota", "tenant_burst");

  private static final Pattern COMPLETION = Pattern.compile("\"completion_tokens\":(\\d+)");

  /** Runs the phases against a running gateway and returns the results. */
  public static Result run(Options o) throws Exception {
    HttpClient http =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
    String prompt = "x".repeat(Math.max(1, o.promptChars()));
    String body =
        "{\"model\":\""
            + o.model()
            + "\",\"max_tokens\":"
            + o.maxTokens()
            + ",\"prompt\":\""
            + prompt
            + "\"}";
    ConcurrentLinkedQueue<Sample> samples = new ConcurrentLinkedQueue<>();
    HeapSampler heap = new HeapSampler(o.pid());
    heap.start();
    AtomicLong inFlight = new AtomicLong();
    List<long[]> phaseBounds = new ArrayList<>();
    long start = System.nanoTime() + 200_000_000L;
    long t = start;
    for (int p = 0; p < o.phases().size(); p++) {
      Phase ph = o.phases().get(p);
      double rate = ph.multiple() * o.capacity() / o.maxTokens(); // requests per second
      long interval = (long) (1e9 / rate);
      long end = t + ph.seconds() * 1_000_000_000L;
      phaseBounds.add(new long[] {t, end});
      heap.phase(p);
      final int phase = p;
      for (long intended = t; intended < end; intended += interval) {
        long wait = intended - System.nanoTime();
        if (wait > 0) {
          TimeUnit.NANOSECONDS.sleep(wait);
        }
        final long sendAt = intended;
        HttpRequest req =
            HttpRequest.newBuilder(URI.create(o.url() + "/v1/completions"))
                .timeout(Duration.ofMillis(o.deadlineMs() * 3 + 10_000))
                .header("Content-Type", "application/json")
                .header("X-Sluice-Deadline-Ms", Long.toString(o.deadlineMs()))
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
        inFlight.incrementAndGet();
        http.sendAsync(req, HttpResponse.BodyHandlers.ofString())
            .whenComplete(
                (resp, err) -> {
                  long lat = System.nanoTime() - sendAt;
                  if (err != null) {
                    samples.add(new Sample(phase, sendAt, lat, -1, 0, false, err.toString()));
                  } else {
                    int tokens = 0;
                    if (resp.statusCode() == 200) {
                      Matcher m = COMPLETION.matcher(resp.body());
                      tokens = m.find() ? Integer.parseInt(m.group(1)) : 0;
                    }
                    samples.add(
                        new Sample(
                            phase,
                            sendAt,
                            lat,
                            resp.statusCode(),
                            tokens,
                            resp.headers().firstValue("Retry-After").isPresent(),
                            resp.headers().firstValue("X-Sluice-Reason").orElse(null)));
                  }
                  inFlight.decrementAndGet();
                });
      }
      t = end;
    }
    long drainUntil = System.nanoTime() + (o.deadlineMs() * 3 + 15_000) * 1_000_000L;
    while (inFlight.get() > 0 && System.nanoTime() < drainUntil) {
      Thread.sleep(50);
    }
    heap.stop();
    return summarize(o, new ArrayList<>(samples), phaseBounds, heap);
  }

  private static Result summarize(
      Options o, List<Sample> all, List<long[]> bounds, HeapSampler heap) {
    List<PhaseResult> out = new ArrayList<>();
    long deadlineNanos = o.deadlineMs() * 1_000_000L;
    double firstP99 = 0;
    for (int p = 0; p < o.phases().size(); p++) {
      Phase ph = o.phases().get(p);
      Histogram ok = new Histogram(3_600_000_000_000L, 3);
      Histogram refusal = new Histogram(3_600_000_000_000L, 3);
      long sent = 0;
      long admitted = 0;
      long r429 = 0;
      long r503 = 0;
      long noRetry = 0;
      long other = 0;
      long misses = 0;
      long goodTokens = 0;
      long failedAfterAdmission = 0;
      for (Sample s : all) {
        if (s.phase() != p) {
          continue;
        }
        sent++;
        switch (s.status()) {
          case 200 -> {
            admitted++;
            ok.recordValue(s.latencyNanos());
            if (s.latencyNanos() <= deadlineNanos) {
              goodTokens += s.completionTokens();
            } else {
              misses++;
            }
          }
          case 429, 503 -> {
            if (!ADMISSION_REASONS.contains(String.valueOf(s.reason()))) {
              // Admitted, then failed (deadline passed, worker lost): a miss, not a refusal.
              failedAfterAdmission++;
              continue;
            }
            if (s.status() == 429) {
              r429++;
            } else {
              r503++;
            }
            refusal.recordValue(s.latencyNanos());
            if (!s.retryAfter()) {
              noRetry++;
            }
          }
          default -> other++;
        }
      }
      double p99 = ok.getTotalCount() == 0 ? 0 : ok.getValueAtPercentile(99) / 1e6;
      if (p == 0) {
        firstP99 = p99;
      }
      double goodput = goodTokens / (double) ph.seconds();
      out.add(
          new PhaseResult(
              ph,
              ph.multiple() * o.capacity() / o.maxTokens(),
              sent,
              admitted,
              r429,
              r503,
              noRetry,
              other,
              misses + failedAfterAdmission,
              failedAfterAdmission,
              goodput,
              goodput / o.capacity(),
              ok.getTotalCount() == 0 ? 0 : ok.getValueAtPercentile(50) / 1e6,
              p99,
              ok.getTotalCount() == 0 ? 0 : ok.getMaxValue() / 1e6,
              refusal.getTotalCount() == 0 ? 0 : refusal.getValueAtPercentile(99) / 1e6,
              heap.max(p)));
    }
    return new Result(out, recovery(o, all, bounds, firstP99), heap.maxAll());
  }

  /**
   * Seconds from the start of the last phase (after the last phase above 1x) until every later
   * one-second window's p99 of admitted requests is within 1.5x the first phase's p99 (plus 50 ms
   * for timer noise); -1 if never.
   */
  private static double recovery(Options o, List<Sample> all, List<long[]> bounds, double baseP99) {
    int last = o.phases().size() - 1;
    boolean overloadBefore = false;
    for (int p = 0; p < last; p++) {
      overloadBefore |= o.phases().get(p).multiple() > 1;
    }
    if (!overloadBefore || last == 0) {
      return 0;
    }
    long from = bounds.get(last)[0];
    int seconds = o.phases().get(last).seconds();
    double limitMs = baseP99 * 1.5 + 50;
    int recoveredAt = -1;
    for (int s = seconds - 1; s >= 0; s--) {
      Histogram h = new Histogram(3_600_000_000_000L, 3);
      for (Sample x : all) {
        if (x.phase() == last
            && x.status() == 200
            && x.intendedNanos() >= from + s * 1_000_000_000L
            && x.intendedNanos() < from + (s + 1) * 1_000_000_000L) {
          h.recordValue(x.latencyNanos());
        }
      }
      if (h.getTotalCount() > 0 && h.getValueAtPercentile(99) / 1e6 > limitMs) {
        break;
      }
      recoveredAt = s;
    }
    return recoveredAt;
  }

  /** The results as a Markdown table, with the run's parameters. */
  public static String markdown(Options o, Result r) {
    StringBuilder sb = new StringBuilder();
    sb.append(
        String.format(
            Locale.ROOT,
            "Capacity C = %.0f tokens/s, max_tokens %d, prompt %d chars, deadline %d ms%n%n",
            o.capacity(),
            o.maxTokens(),
            o.promptChars(),
            o.deadlineMs()));
    sb.append(
        "| load | offered req/s | sent | admitted | 429 | 503 | refusals w/o Retry-After |"
            + " other errors | deadline misses (late or failed after admission) | goodput tok/s | goodput / C | p50 ms | p99 ms |"
            + " max ms | refusal p99 ms | max heap MiB |\n");
    sb.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (PhaseResult p : r.phases()) {
      sb.append(
          String.format(
              Locale.ROOT,
              "| %sx C (%ds) | %.1f | %d | %d | %d | %d | %d | %d | %d | %.0f | %.1f%% | %.0f |"
                  + " %.0f | %.0f | %.1f | %s |%n",
              new java.math.BigDecimal(String.valueOf(p.phase().multiple()))
                  .stripTrailingZeros()
                  .toPlainString(),
              p.phase().seconds(),
              p.offeredPerSecond(),
              p.sent(),
              p.admitted(),
              p.refused429(),
              p.refused503(),
              p.refusedWithoutRetryAfter(),
              p.otherErrors(),
              p.deadlineMisses(),
              p.goodputTokensPerSecond(),
              100 * p.goodputOfCapacity(),
              p.p50Ms(),
              p.p99Ms(),
              p.maxMs(),
              p.refusalP99Ms(),
              p.maxHeapBytes() < 0 ? "n/a" : String.valueOf(p.maxHeapBytes() >> 20)));
    }
    sb.append(
        String.format(
            Locale.ROOT,
            "%nRecovery after overload: %s%n",
            r.recoverySeconds() < 0 ? "not within the last phase" : r.recoverySeconds() + " s"));
    return sb.toString();
  }

  /** Samples the server's used heap once a second with jstat (if a pid is given). */
  static final class HeapSampler {
    private final long pid;
    private volatile int phase;
    private volatile boolean running = true;
    private final long[] maxByPhase = new long[64];
    private Thread thread;

    HeapSampler(long pid) {
      this.pid = pid;
      java.util.Arrays.fill(maxByPhase, -1);
    }

    void phase(int p) {
      phase = p;
    }

    void start() {
      if (pid <= 0) {
        return;
      }
      Path jstat = Path.of(System.getProperty("java.home"), "bin", "jstat");
      if (!Files.isExecutable(jstat)) {
        return;
      }
      thread =
          Thread.ofPlatform()
              .daemon()
              .start(
                  () -> {
                    while (running) {
                      long used = sample(jstat);
                      int p = phase;
                      if (used >= 0 && p < maxByPhase.length) {
                        maxByPhase[p] = Math.max(maxByPhase[p], used);
                      }
                      try {
                        Thread.sleep(1000);
                      } catch (InterruptedException e) {
                        return;
                      }
                    }
                  });
    }

    private long sample(Path jstat) {
      try {
        Process p = new ProcessBuilder(jstat.toString(), "-gc", Long.toString(pid)).start();
        List<String> lines = new ArrayList<>();
        try (BufferedReader r =
            new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
          String l;
          while ((l = r.readLine()) != null) {
            lines.add(l.trim());
          }
        }
        p.waitFor(5, TimeUnit.SECONDS);
        if (lines.size() < 2) {
          return -1;
        }
        String[] h = lines.get(0).split("\\s+");
        String[] v = lines.get(1).split("\\s+");
        double kb = 0;
        for (int i = 0; i < h.length && i < v.length; i++) {
          if (h[i].equals("S0U") || h[i].equals("S1U") || h[i].equals("EU") || h[i].equals("OU")) {
            kb += Double.parseDouble(v[i]);
          }
        }
        return (long) (kb * 1024);
      } catch (Exception e) {
        return -1;
      }
    }

    void stop() throws InterruptedException {
      running = false;
      if (thread != null) {
        thread.interrupt();
        thread.join(2000);
      }
    }

    long max(int p) {
      return p < maxByPhase.length ? maxByPhase[p] : -1;
    }

    long maxAll() {
      long m = -1;
      for (long v : maxByPhase) {
        m = Math.max(m, v);
      }
      return m;
    }
  }
}
