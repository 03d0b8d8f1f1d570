package dev.sluice.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.engine.chat.ChatMessage;
import dev.sluice.engine.cpu.ScalarBackend;
import dev.sluice.engine.sampling.SamplingParams;
import dev.sluice.engine.testing.TestData;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.reactivestreams.Publisher;
import org.reactivestreams.Subscriber;
import org.reactivestreams.Subscription;

/**
 * The pipeline on the real stories260K model (SLUICE_DATA_DIR): the text is the reference greedy
 * continuation, and backpressure and cancellation are proved by driving each request's event stream
 * with a hand-written Reactive Streams subscriber whose demand the test controls (the Pekko stream
 * testkit is not published for Pekko 1.7.0), while counting what the device produced upstream.
 */
class InferencePipelineTest {
  private static final String CONTINUATION =
      TestData.STORIES_TEXT.substring("Once upon a time".length());

  private ActorSystem system;
  private Materializer mat;
  private ExecutorService prefetchPool;
  private InferencePipeline pipeline;

  @BeforeEach
  void setUp() {
    system = ActorSystem.create("pipeline-test");
    mat = Materializer.matFromSystem(system);
    prefetchPool = Executors.newFixedThreadPool(2);
  }

  @AfterEach
  void tearDown() {
    if (pipeline != null) {
      pipeline.close();
    }
    prefetchPool.shutdownNow();
    system.terminate();
  }

  /** A device loop loading stories260K on the scalar backend with {@code maxSeqs} slots. */
  private static DeviceLoop startDevice(String name, int maxSeqs, PipelineSettings s) {
    var file = TestData.file("models/stories260K.gguf");
    return DeviceLoop.start(
        name,
        s.computeWindow(),
        s.outputBuffer(),
        () ->
            DeviceModel.load(
                "stories260K",
                file,
                new ScalarBackend(),
                new DeviceModel.EngineOptions(maxSeqs, 64, 16, 0, 16, 0)));
  }

  private InferencePipeline start(int maxSeqs, PipelineSettings s) throws Exception {
    DeviceLoop device = startDevice("test-cpu-0", maxSeqs, s);
    DeviceModel model = device.loaded().toCompletableFuture().get(60, TimeUnit.SECONDS);
    pipeline =
        InferencePipeline.start(device, model, s, Prefetch.PrefixLookup.NONE, prefetchPool, mat);
    return pipeline;
  }

  /** A subscriber whose demand the test sets; it records what it received. */
  static final class ManualSubscriber implements Subscriber<PipelineEvent> {
    final LinkedBlockingQueue<PipelineEvent> received = new LinkedBlockingQueue<>();
    volatile Subscription subscription;
    volatile boolean completed;
    volatile Throwable error;

    @Override
    public void onSubscribe(Subscription s) {
      subscription = s;
    }

    @Override
    public void onNext(PipelineEvent e) {
      received.add(e);
    }

    @Override
    public void onError(Throwable t) {
      error = t;
    }

    @Override
    public void onComplete() {
      completed = true;
    }

    List<PipelineEvent> all() {
      return new ArrayList<>(received);
    }
  }

  private ManualSubscriber subscribe(InferencePipeline.Submission sub) {
    assertThat(sub.status()).isEqualTo(InferencePipeline.Submission.Status.QUEUED);
    Publisher<PipelineEvent> pub =
        sub.events()
            .runWith(
                Sink.asPublisher(org.apache.pekko.stream.javadsl.AsPublisher.WITHOUT_FANOUT), mat);
    ManualSubscriber m = new ManualSubscriber();
    pub.subscribe(m);
    await(() -> m.subscription != null);
    return m;
  }

  private static void await(BooleanSupplier c) {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!c.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new AssertionError("condition not met within 60 s");
      }
      Thread.onSpinWait();
      try {
        Thread.sleep(5);
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
    }
  }

  /** Waits until the device's decode counter has not moved for a while, and returns it. */
  private long settledDecodeCount() throws InterruptedException {
    long last = -1;
    long now = pipeline.device().stats().decodeTokensProcessed();
    while (now != last) {
      last = now;
      Thread.sleep(300);
      now = pipeline.device().stats().decodeTokensProcessed();
    }
    return now;
  }

  private static String text(List<PipelineEvent> events) {
    StringBuilder sb = new StringBuilder();
    for (PipelineEvent e : events) {
      if (e instanceof PipelineEvent.Chunk c) {
        sb.append(c.text());
      }
    }
    return sb.toString();
  }

  @Test
  void greedyCompletionStreamsTheReferenceText() throws Exception {
    start(4, PipelineSettings.defaults());
    var sub =
        pipeline.submit(PipelineRequest.text("r1", "Once upon a time", SamplingParams.greedy(60)));
    List<PipelineEvent> events =
        sub.events().runWith(Sink.seq(), mat).toCompletableFuture().get(60, TimeUnit.SECONDS);
    assertThat(events.getFirst()).isEqualTo(new PipelineEvent.Started(5)); // BOS + 4 tokens
    // The reference text ends within these 60 tokens (the tiny vocabulary splits words).
    assertThat(text(events)).startsWith(CONTINUATION);
    assertThat(events.getLast()).isEqualTo(new PipelineEvent.Finished("length", 5, 60));
    int tokens =
        events.stream().mapToInt(e -> e instanceof PipelineEvent.Chunk c ? c.tokens() : 0).sum();
    assertThat(tokens).isEqualTo(60);
  }

  @Test
  void tokensHandedOverInGroupsGiveTheSameTextUsageAndLogprobs() throws Exception {
    start(4, PipelineSettings.defaults());
    SamplingParams p = SamplingParams.builder().temperature(0).maxTokens(60).logprobs(2).build();
    // A 10 s interval: the device thread keeps every token and hands them over with the end.
    var sub =
        pipeline.submit(
            PipelineRequest.text("g1", "Once upon a time", p).withDeliveryInterval(10_000));
    List<PipelineEvent> events =
        sub.events().runWith(Sink.seq(), mat).toCompletableFuture().get(60, TimeUnit.SECONDS);
    assertThat(events.getFirst()).isEqualTo(new PipelineEvent.Started(5));
    assertThat(text(events)).startsWith(CONTINUATION);
    assertThat(events.getLast()).isEqualTo(new PipelineEvent.Finished("length", 5, 60));
    int tokens = 0;
    int logprobs = 0;
    int chunksWithTokens = 0;
    for (PipelineEvent e : events) {
      if (e instanceof PipelineEvent.Chunk c) {
        chunksWithTokens += c.tokens() > 0 ? 1 : 0;
        tokens += c.tokens();
        logprobs += c.logprobs().size();
        for (PipelineEvent.TokenChoice t : c.logprobs()) {
          assertThat(t.top()).hasSize(2);
        }
      }
    }
    assertThat(tokens).isEqualTo(60);
    assertThat(logprobs).isEqualTo(60);
    // The whole generation (well under the interval) came as one group, hence one chunk.
    assertThat(chunksWithTokens).isEqualTo(1);
  }

  @Test
  void aRequestWithStopStringsKeepsPerTokenDelivery() {
    SamplingParams stops = SamplingParams.builder().maxTokens(8).stop(List.of("\n")).build();
    assertThat(PipelineRequest.text("s", "x", stops).withDeliveryInterval(100).deliveryIntervalMs())
        .isZero();
    assertThat(
            PipelineRequest.text("t", "x", SamplingParams.greedy(8))
                .withDeliveryInterval(100)
                .deliveryIntervalMs())
        .isEqualTo(100);
  }

  @Test
  void chatWithoutTemplateIsPlainTextAndStopStringsCutTheText() throws Exception {
    start(4, PipelineSettings.defaults());
    SamplingParams p =
        SamplingParams.builder().temperature(0).maxTokens(60).stop(List.of(" Lily")).build();
    var sub =
        pipeline.submit(
            PipelineRequest.chat("c1", List.of(ChatMessage.user("Once upon a time")), p));
    List<PipelineEvent> events =
        sub.events().runWith(Sink.seq(), mat).toCompletableFuture().get(60, TimeUnit.SECONDS);
    assertThat(text(events)).isEqualTo(", there was a little girl named");
    assertThat(events.getLast()).isInstanceOf(PipelineEvent.Finished.class);
    assertThat(((PipelineEvent.Finished) events.getLast()).finishReason()).isEqualTo("stop");
    // The sequence left the device and gave its blocks back.
    await(() -> pipeline.device().stats().running() == 0);
    var st = pipeline.device().stats();
    assertThat(st.freeKvBlocks()).isEqualTo(st.totalKvBlocks());
  }

  @Test
  void promptLongerThanTheContextFailsWithPromptTooLong() throws Exception {
    start(2, PipelineSettings.defaults());
    String longText = "Once upon a time ".repeat(2000);
    var sub = pipeline.submit(PipelineRequest.text("long", longText, SamplingParams.greedy(4)));
    List<PipelineEvent> events =
        sub.events().runWith(Sink.seq(), mat).toCompletableFuture().get(60, TimeUnit.SECONDS);
    assertThat(events).hasSize(1);
    assertThat(((PipelineEvent.Failed) events.getFirst()).reason()).isEqualTo("prompt_too_long");
  }

  @Test
  void slowConsumerPausesItsSequenceAndNothingBuffersWithoutBound() throws Exception {
    PipelineSettings s = new PipelineSettings(4, 1, 1, 1, 8, 4);
    start(2, s);
    var sub =
        pipeline.submit(
            PipelineRequest.text("slow", "Once upon a time", SamplingParams.greedy(400)));
    ManualSubscriber m = subscribe(sub);
    m.subscription.request(2); // Started and one chunk
    await(() -> m.received.size() == 2);
    long produced = settledDecodeCount();
    // Upstream stopped: at most the output queue, the publisher's and the chunker's buffers.
    assertThat(produced).isLessThan(64);
    assertThat(pipeline.device().stats().running()).isEqualTo(1); // paused, not finished
    Thread.sleep(300);
    assertThat(pipeline.device().stats().decodeTokensProcessed()).isEqualTo(produced);

    // Demand again: the sequence resumes and runs to its end.
    m.subscription.request(Long.MAX_VALUE);
    await(() -> m.completed);
    assertThat(m.all().getLast()).isInstanceOf(PipelineEvent.Finished.class);
    int tokens =
        m.all().stream().mapToInt(e -> e instanceof PipelineEvent.Chunk c ? c.tokens() : 0).sum();
    assertThat(tokens).isEqualTo(((PipelineEvent.Finished) m.all().getLast()).completionTokens());
    assertThat(pipeline.device().stats().decodeTokensProcessed()).isGreaterThan(produced);
  }

  @Test
  void fullPipelineRefusesNewRequestsInsteadOfGrowing() throws Exception {
    PipelineSettings s = new PipelineSettings(2, 1, 1, 1, 8, 4);
    start(1, s);
    // The first request holds the only sequence slot with a consumer that never asks for more.
    ManualSubscriber holder =
        subscribe(
            pipeline.submit(
                PipelineRequest.text("hold", "Once upon a time", SamplingParams.greedy(400))));
    holder.subscription.request(1);
    await(() -> pipeline.device().stats().running() == 1);
    int queued = 0;
    InferencePipeline.Submission last = null;
    List<InferencePipeline.Submission> accepted = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      last =
          pipeline.submit(
              PipelineRequest.text("q" + i, "Once upon a time", SamplingParams.greedy(2)));
      if (last.status() != InferencePipeline.Submission.Status.QUEUED) {
        break;
      }
      accepted.add(last);
      queued++;
      Thread.sleep(50); // let the stream move what it can
    }
    assertThat(last.status()).isEqualTo(InferencePipeline.Submission.Status.QUEUE_FULL);
    assertThat(queued).isLessThan(12); // the window, the buffers and the entry queue, no more
    // Cancelling the holder frees the slot: every queued request then completes.
    holder.subscription.cancel();
    for (var a : accepted) {
      List<PipelineEvent> ev =
          a.events().runWith(Sink.seq(), mat).toCompletableFuture().get(60, TimeUnit.SECONDS);
      assertThat(ev.getLast()).isInstanceOf(PipelineEvent.Finished.class);
    }
  }

  @Test
  void cancellingTheEventStreamFreesTheSequenceAndItsKvBlocks() throws Exception {
    start(2, PipelineSettings.defaults());
    var total = 0;
    ManualSubscriber m =
        subscribe(
            pipeline.submit(
                PipelineRequest.text("gone", "Once upon a time", SamplingParams.greedy(400))));
    m.subscription.request(2);
    await(() -> m.received.size() == 2);
    var st = pipeline.device().stats();
    total = st.totalKvBlocks();
    assertThat(st.freeKvBlocks()).isLessThan(total); // the sequence holds its blocks
    m.subscription.cancel();
    await(() -> pipeline.device().stats().running() == 0);
    assertThat(pipeline.device().stats().freeKvBlocks()).isEqualTo(total);
  }

  @Test
  void theDeviceStatsAreRealOnceTheModelIsLoaded() throws Exception {
    DeviceLoop device = startDevice("test-cpu-stats", 2, PipelineSettings.defaults());
    try {
      // Read on the device thread at the instant the load completes (the stage is registered
      // while the model is still loading): a reader woken by the load must never see the empty
      // placeholder of a loop that has not iterated yet (the KV pool's size as 0).
      DeviceLoop.Stats atLoad =
          device
              .loaded()
              .thenApply(m -> device.stats())
              .toCompletableFuture()
              .get(60, TimeUnit.SECONDS);
      assertThat(atLoad.maxSeqs()).isEqualTo(2);
      assertThat(atLoad.totalKvBlocks()).isPositive();
      assertThat(atLoad.freeKvBlocks()).isEqualTo(atLoad.totalKvBlocks());
    } finally {
      device.close();
    }
  }

  @Test
  void anEventStreamNobodyRunsIsCancelledAfterTheSubscriptionTimeout() throws Exception {
    system.terminate();
    system =
        ActorSystem.create(
            "pipeline-test",
            com.typesafe.config.ConfigFactory.parseString(
                    "pekko.stream.materializer.subscription-timeout.timeout = 500ms")
                .withFallback(com.typesafe.config.ConfigFactory.load()));
    mat = Materializer.matFromSystem(system);
    start(2, PipelineSettings.defaults());
    int total = pipeline.device().stats().totalKvBlocks();
    // Queued, and then abandoned: its events are never run.
    var sub =
        pipeline.submit(
            PipelineRequest.text("abandoned", "Once upon a time", SamplingParams.greedy(400)));
    assertThat(sub.status()).isEqualTo(InferencePipeline.Submission.Status.QUEUED);
    await(() -> pipeline.device().stats().running() == 0 && pipeline.pendingRequests() == 0);
    await(() -> pipeline.device().stats().freeKvBlocks() == total);
    // The device is free for the next request.
    List<PipelineEvent> ev =
        pipeline
            .submit(PipelineRequest.text("next", "Once upon a time", SamplingParams.greedy(4)))
            .events()
            .runWith(Sink.seq(), mat)
            .toCompletableFuture()
            .get(60, TimeUnit.SECONDS);
    assertThat(ev.getLast()).isInstanceOf(PipelineEvent.Finished.class);
  }
}
