package dev.sluice.node.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.node.Readiness;
import dev.sluice.node.metrics.NodeMetrics;
import dev.sluice.node.metrics.Promtool;
import dev.sluice.node.worker.WorkerProtocol.Accepted;
import dev.sluice.node.worker.WorkerProtocol.Ack;
import dev.sluice.node.worker.WorkerProtocol.Cancel;
import dev.sluice.node.worker.WorkerProtocol.Chunk;
import dev.sluice.node.worker.WorkerProtocol.Completed;
import dev.sluice.node.worker.WorkerProtocol.Event;
import dev.sluice.node.worker.WorkerProtocol.Failed;
import dev.sluice.node.worker.WorkerProtocol.Generate;
import dev.sluice.node.worker.WorkerProtocol.LoadReport;
import dev.sluice.node.worker.WorkerProtocol.TextPrompt;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A worker node on the real stories260K engine, started as the jars start it, with {@code
 * serialize-messages = on} (every protocol message goes through Kryo): the greedy text, credit flow
 * control, cancellation freeing KV blocks, refusals, and load reports.
 */
class GpuWorkerTest {
  static ActorSystem<Void> system;
  static ActorTestKit kit;
  static String workerId;
  static EntityRef<WorkerProtocol.Command> worker;
  static TestProbe<LoadReport> reports;

  @BeforeAll
  static void start() throws Exception {
    WorkerNodes.model();
    system = WorkerNodes.start(List.of(), Map.of("sluice.pipeline.output-buffer", 8));
    kit = ActorTestKit.create(system);
    WorkerSettings settings = WorkerSettings.fromConfig(system.settings().config());
    List<String> ids = WorkerNode.start(system, settings);
    assertThat(ids).hasSize(1);
    workerId = ids.getFirst();
    assertThat(workerId).endsWith(":cpu-0");
    worker = ClusterSharding.get(system).entityRefFor(GpuWorker.TYPE_KEY, workerId);
    reports = kit.createTestProbe(LoadReport.class);
    var topic = kit.spawn(Topic.create(LoadReport.class, GpuWorker.LOAD_TOPIC));
    topic.tell(Topic.subscribe(reports.getRef()));
    await()
        .atMost(Duration.ofSeconds(60))
        .until(
            () ->
                Readiness.get(system)
                    .snapshot()
                    .getOrDefault(GpuWorker.readinessCondition(workerId), false));
  }

  @AfterAll
  static void stop() {
    if (system != null) {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().join();
    }
  }

  private static Generate generate(
      String id,
      String prompt,
      WorkerProtocol.GenerationParams p,
      int credit,
      TestProbe<Event> probe) {
    return generate(id, prompt, p, credit, 0, probe);
  }

  private static Generate generate(
      String id,
      String prompt,
      WorkerProtocol.GenerationParams p,
      int credit,
      int chunkIntervalMs,
      TestProbe<Event> probe) {
    return new Generate(
        id,
        "stories260K",
        new TextPrompt(prompt),
        p,
        0L,
        1,
        credit,
        chunkIntervalMs,
        probe.getRef());
  }

  @Test
  void greedyGenerationStreamsTheReferenceText() {
    TestProbe<Event> probe = kit.createTestProbe(Event.class);
    worker.tell(generate("g1", "Once upon a time", WorkerNodes.greedy(60), 1000, probe));
    assertThat(probe.expectMessageClass(Accepted.class, Duration.ofSeconds(30)).promptTokens())
        .isEqualTo(5);
    StringBuilder text = new StringBuilder();
    int tokens = 0;
    int seq = 0;
    while (true) {
      Event e = probe.receiveMessage(Duration.ofSeconds(30));
      if (e instanceof Chunk c) {
        assertThat(c.seq()).isEqualTo(seq++);
        text.append(c.text());
        tokens += c.tokens();
      } else {
        assertThat(e).isEqualTo(new Completed("g1", "length", 5, 60));
        break;
      }
    }
    assertThat(tokens).isEqualTo(60);
    assertThat("Once upon a time" + text).startsWith("Once upon a time" + WorkerNodes.CONTINUATION);
  }

  @Test
  void aCoalescingRequestGetsItsWholeTextInOneChunkOnTwoCredits() {
    TestProbe<Event> probe = kit.createTestProbe(Event.class);
    // A 10 s interval: the whole generation (well under it) arrives as one chunk, sent at the
    // end; a credit of two suffices (the merged chunk spends one, the end is pulled on the other)
    // because merged output spends none until it is sent.
    worker.tell(generate("c1", "Once upon a time", WorkerNodes.greedy(60), 2, 10_000, probe));
    assertThat(probe.expectMessageClass(Accepted.class, Duration.ofSeconds(30)).promptTokens())
        .isEqualTo(5);
    Chunk only = probe.expectMessageClass(Chunk.class, Duration.ofSeconds(30));
    assertThat(only.seq()).isZero();
    assertThat(only.tokens()).isEqualTo(60);
    assertThat("Once upon a time" + only.text())
        .startsWith("Once upon a time" + WorkerNodes.CONTINUATION);
    assertThat(probe.expectMessageClass(Completed.class, Duration.ofSeconds(30)))
        .isEqualTo(new Completed("c1", "length", 5, 60));
  }

  @Test
  void anIdleWorkerKeepsReportingTheRateItMeasuredWhileBusy() {
    TestProbe<Event> probe = kit.createTestProbe(Event.class);
    worker.tell(generate("rate1", "Once upon a time", WorkerNodes.greedy(200), 1000, probe));
    Event e;
    do {
      e = probe.receiveMessage(Duration.ofSeconds(30));
    } while (!(e instanceof Completed));
    long completedAt = System.currentTimeMillis();
    // Three consecutive reports of the idle worker (seconds apart): an idle second measures no
    // rate, so admission still knows what the device can do (it used to decay towards zero).
    List<LoadReport> idle = new java.util.ArrayList<>();
    reports.fishForMessage(
        Duration.ofSeconds(15),
        r -> {
          if (!r.workerId().equals(workerId) || r.timestampMs() <= completedAt) {
            return FishingOutcomes.continueAndIgnore();
          }
          if (r.activeSequences() != 0) {
            idle.clear();
            return FishingOutcomes.continueAndIgnore();
          }
          idle.add(r);
          return idle.size() == 3
              ? FishingOutcomes.complete()
              : FishingOutcomes.continueAndIgnore();
        });
    assertThat(idle.getFirst().decodeTokensPerSecond()).isPositive();
    assertThat(idle)
        .extracting(LoadReport::decodeTokensPerSecond)
        .containsOnly(idle.getFirst().decodeTokensPerSecond());
  }

  @Test
  void noChunkBeyondTheCreditUntilAcked() {
    TestProbe<Event> probe = kit.createTestProbe(Event.class);
    worker.tell(generate("c1", "Once upon a time", WorkerNodes.greedy(60), 2, probe));
    probe.expectMessageClass(Accepted.class, Duration.ofSeconds(30));
    probe.expectMessageClass(Chunk.class, Duration.ofSeconds(30));
    probe.expectMessageClass(Chunk.class, Duration.ofSeconds(30));
    probe.expectNoMessage(Duration.ofMillis(800));
    worker.tell(new Ack("c1", 1));
    assertThat(probe.expectMessageClass(Chunk.class, Duration.ofSeconds(30)).seq()).isEqualTo(2);
    probe.expectNoMessage(Duration.ofMillis(500));
    worker.tell(new Ack("c1", 1000));
    int tokens = 0;
    Event e;
    do {
      e = probe.receiveMessage(Duration.ofSeconds(30));
      if (e instanceof Chunk c) {
        tokens += c.tokens();
      }
    } while (e instanceof Chunk);
    assertThat(e).isInstanceOf(Completed.class);
    assertThat(((Completed) e).completionTokens()).isEqualTo(60);
  }

  /** The node's {@code /metrics} text (what the management route serves). */
  static String scrape() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PrometheusTextFormatWriter.create().write(out, NodeMetrics.get(system).registry().scrape());
    return out.toString(StandardCharsets.UTF_8);
  }

  /** The sample {@code series} (name and labels exactly as exported), or 0 when absent. */
  static double sample(String text, String series) {
    for (String line : text.split("\n")) {
      if (line.startsWith(series + " ")) {
        return Double.parseDouble(line.substring(series.length() + 1));
      }
    }
    return 0;
  }

  private static String sluiceLines(String text) {
    return String.join(
        "\n", text.lines().filter(l -> l.startsWith("sluice_") && !l.contains("_bucket")).toList());
  }

  @Test
  void metricsCountTokensBatchesKvBlocksAndTheModelLoad() throws Exception {
    String model = WorkerSettings.fromConfig(system.settings().config()).modelName();
    String m = "{model=\"" + model + "\"}";
    String d = "{device=\"cpu-0\"}";
    int total =
        reports
            .fishForMessage(
                Duration.ofSeconds(10),
                r ->
                    r.workerId().equals(workerId)
                        ? FishingOutcomes.complete()
                        : FishingOutcomes.continueAndIgnore())
            .getLast()
            .totalKvBlocks();
    String before = scrape();
    assertThat(sample(before, "sluice_model_load_duration_seconds" + m)).isPositive();
    TestProbe<Event> probe = kit.createTestProbe(Event.class);
    long startNanos = System.nanoTime();
    worker.tell(generate("m1", "Once upon a time", WorkerNodes.greedy(400), 1, probe));
    probe.expectMessageClass(Accepted.class, Duration.ofSeconds(30));
    int tokens = probe.expectMessageClass(Chunk.class, Duration.ofSeconds(30)).tokens();
    // Paused on credit (its output buffers full, 400 tokens do not fit in them): the sequence
    // holds KV blocks, and the gauges add up to the pool.
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () -> {
              String now = scrape();
              assertThat(sample(now, "sluice_kv_blocks_used" + d))
                  .as(() -> sluiceLines(now))
                  .isPositive();
              assertThat(
                      sample(now, "sluice_kv_blocks_used" + d)
                          + sample(now, "sluice_kv_blocks_free" + d))
                  .isEqualTo(total);
            });
    worker.tell(new Ack("m1", 1000));
    Event e;
    while ((e = probe.receiveMessage(Duration.ofSeconds(30))) instanceof Chunk c) {
      tokens += c.tokens();
    }
    assertThat(e).isEqualTo(new Completed("m1", "length", 5, 400));
    assertThat(tokens).isEqualTo(400);
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () -> {
              String now = scrape();
              assertThat(sample(now, "sluice_kv_blocks_used" + d)).isZero();
              assertThat(sample(now, "sluice_kv_blocks_free" + d)).isEqualTo(total);
            });
    // The device's busy time (published every second) grew by the forward steps, which took at
    // most the wall time since the request was sent (plus up to the one second of an earlier
    // test's steps that may not have been published when `before` was taken).
    double busyBefore = sample(before, "sluice_device_busy_seconds_total" + d);
    await()
        .atMost(Duration.ofSeconds(5))
        .untilAsserted(
            () ->
                assertThat(sample(scrape(), "sluice_device_busy_seconds_total" + d))
                    .isGreaterThan(busyBefore));
    double wall = (System.nanoTime() - startNanos) / 1e9;
    String after = scrape();
    assertThat(sample(after, "sluice_device_busy_seconds_total" + d) - busyBefore)
        .isLessThanOrEqualTo(wall + 1.0);
    assertThat(
            sample(after, "sluice_generated_tokens_total" + m)
                - sample(before, "sluice_generated_tokens_total" + m))
        .isEqualTo(400);
    assertThat(
            sample(after, "sluice_prompt_tokens_total" + m)
                - sample(before, "sluice_prompt_tokens_total" + m))
        .isEqualTo(5);
    // One sequence alone: every forward step (prefill, then decodes) had a batch of one.
    double steps =
        sample(after, "sluice_batch_size_count" + d)
            - sample(before, "sluice_batch_size_count" + d);
    assertThat(steps).isGreaterThanOrEqualTo(400);
    assertThat(
            sample(after, "sluice_batch_size_sum" + d)
                - sample(before, "sluice_batch_size_sum" + d))
        .isEqualTo(steps);
    assertThat(sample(after, "sluice_queued_requests" + m)).isZero();
    assertThat(after).contains("sluice_queued_tokens" + m);
    if (Promtool.find() != null) {
      Promtool.Result r = Promtool.run(after, "check", "metrics");
      assertThat(r.exitCode()).as(r.output()).isZero();
    }
  }

  @Test
  void cancelFreesTheSequenceAndItsKvBlocks() {
    TestProbe<Event> probe = kit.createTestProbe(Event.class);
    worker.tell(generate("x1", "Once upon a time", WorkerNodes.greedy(400), 1, probe));
    probe.expectMessageClass(Accepted.class, Duration.ofSeconds(30));
    probe.expectMessageClass(Chunk.class, Duration.ofSeconds(30));
    // The paused sequence holds its blocks while the client does not ack.
    LoadReport busy =
        reports
            .fishForMessage(
                Duration.ofSeconds(10),
                r ->
                    r.workerId().equals(workerId) && r.activeSequences() == 1
                        ? FishingOutcomes.complete()
                        : FishingOutcomes.continueAndIgnore())
            .getLast();
    assertThat(busy.freeKvBlocks()).isLessThan(busy.totalKvBlocks());
    worker.tell(new Cancel("x1"));
    Failed f = probe.expectMessageClass(Failed.class, Duration.ofSeconds(10));
    assertThat(f.reason()).isEqualTo("cancelled");
    LoadReport idle =
        reports
            .fishForMessage(
                Duration.ofSeconds(10),
                r ->
                    r.workerId().equals(workerId)
                            && r.activeSequences() == 0
                            && r.freeKvBlocks() == r.totalKvBlocks()
                        ? FishingOutcomes.complete()
                        : FishingOutcomes.continueAndIgnore())
            .getLast();
    assertThat(idle.ready()).isTrue();
  }

  @Test
  void refusalsAreFailuresWithAReason() {
    TestProbe<Event> probe = kit.createTestProbe(Event.class);
    var hot =
        new WorkerProtocol.GenerationParams(8, 5f, 1f, 0, 0f, 1f, 0f, 0f, 0L, false, List.of(), -1);
    worker.tell(generate("bad", "Once upon a time", hot, 10, probe));
    Failed bad = probe.expectMessageClass(Failed.class, Duration.ofSeconds(10));
    assertThat(bad.reason()).isEqualTo("invalid_request");
    assertThat(bad.retryable()).isFalse();
    worker.tell(
        generate("long", "Once upon a time ".repeat(2000), WorkerNodes.greedy(4), 10, probe));
    Failed tooLong = probe.expectMessageClass(Failed.class, Duration.ofSeconds(30));
    assertThat(tooLong.reason()).isEqualTo("prompt_too_long");
    assertThat(tooLong.retryable()).isFalse();
  }

  @Test
  void requestsWaitWhileLoadingAndTheQueueIsBoundedInTokens() {
    WorkerSettings base = WorkerSettings.fromConfig(system.settings().config());
    WorkerSettings small =
        new WorkerSettings(
            base.model(),
            base.modelName(),
            "cpu",
            java.util.List.of(),
            1,
            1,
            base.backend(),
            new dev.sluice.pipeline.DeviceModel.EngineOptions(1, 64, 16, 0, 16, 0),
            8, // prompt tokens admitted ahead of prefill
            base.loadReportInterval(),
            base.stashCapacity(),
            base.pipeline(),
            base.warmUp());
    var w = kit.spawn(GpuWorker.create("test:0:cpu-7", small));
    TestProbe<Event> holder = kit.createTestProbe(Event.class);
    // Sent at once, while the model loads: stashed, then served.
    w.tell(generate("h1", "Once upon a time", WorkerNodes.greedy(400), 1, holder));
    holder.expectMessageClass(Accepted.class, Duration.ofSeconds(30));
    holder.expectMessageClass(Chunk.class, Duration.ofSeconds(30));
    // The queue is measured between engine steps (the device thread publishes it), so each step of
    // this scenario waits until the worker's load report shows the state it sets up.
    // The only sequence slot is held (no ack); the next request waits with 5 prompt tokens queued.
    // Admission errs on the side of refusing: for the instant a request moves from the pipeline to
    // the device thread its tokens may be counted twice (never zero times), so a request arriving
    // in that instant can be refused with queue_full; it is retryable, and a retry once the queue
    // shows empty is admitted.
    TestProbe<Event> second = kit.createTestProbe(Event.class);
    Event answer = null;
    for (int attempt = 0; attempt < 3 && !(answer instanceof Accepted); attempt++) {
      awaitQueuedPromptTokens("test:0:cpu-7", 0);
      w.tell(generate("h2", "Once upon a time", WorkerNodes.greedy(4), 10, second));
      answer = second.receiveMessage(Duration.ofSeconds(30));
      if (answer instanceof Failed f) {
        assertThat(f.reason()).isEqualTo("queue_full");
        assertThat(f.retryable()).isTrue();
      }
    }
    assertThat(answer).isInstanceOf(Accepted.class);
    awaitQueuedPromptTokens("test:0:cpu-7", 5);
    TestProbe<Event> third = kit.createTestProbe(Event.class);
    w.tell(generate("h3", "Once upon a time", WorkerNodes.greedy(4), 10, third));
    Failed full = third.expectMessageClass(Failed.class, Duration.ofSeconds(10));
    assertThat(full.reason()).isEqualTo("queue_full");
    assertThat(full.retryable()).isTrue();
    // A deadline already passed is refused at once.
    TestProbe<Event> late = kit.createTestProbe(Event.class);
    w.tell(
        new Generate(
            "late",
            "stories260K",
            new TextPrompt("Once upon a time"),
            WorkerNodes.greedy(4),
            System.currentTimeMillis() - 1,
            1,
            10,
            0,
            late.getRef()));
    assertThat(late.expectMessageClass(Failed.class, Duration.ofSeconds(10)).reason())
        .isEqualTo("deadline");
    // Freeing the slot lets the waiting request finish.
    w.tell(new Cancel("h1"));
    holder.expectMessageClass(Failed.class, Duration.ofSeconds(10));
    Event e;
    do {
      e = second.receiveMessage(Duration.ofSeconds(30));
    } while (e instanceof Chunk);
    assertThat(e).isEqualTo(new Completed("h2", "length", 5, 4));
    kit.stop(w);
  }

  private static void awaitQueuedPromptTokens(String worker, long tokens) {
    reports.fishForMessage(
        Duration.ofSeconds(15),
        x ->
            x.workerId().equals(worker) && x.queuedPromptTokens() == tokens
                ? FishingOutcomes.complete()
                : FishingOutcomes.continueAndIgnore());
  }

  @Test
  void loadReportsArePublishedEverySecond() {
    LoadReport r =
        reports
            .fishForMessage(
                Duration.ofSeconds(5),
                // Reports sent while the model loaded and warmed up (ready = false) may still
                // be queued in the probe: the first one since ready is what this test is about.
                x ->
                    x.workerId().equals(workerId) && x.ready()
                        ? FishingOutcomes.complete()
                        : FishingOutcomes.continueAndIgnore())
            .getLast();
    assertThat(r.model()).isEqualTo("stories260K");
    assertThat(r.maxSequences()).isEqualTo(4);
    assertThat(r.totalKvBlocks()).isPositive();
    assertThat(r.kvBlockSize()).isEqualTo(16);
    assertThat(r.address())
        .isEqualTo(
            org.apache.pekko.cluster.typed.Cluster.get(system).selfMember().address().toString());
  }
}
