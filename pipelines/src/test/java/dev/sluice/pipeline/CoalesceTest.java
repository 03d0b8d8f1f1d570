package dev.sluice.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.SinkQueueWithCancel;
import org.apache.pekko.stream.javadsl.Source;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The coalescing stage of whole responses: merging, order of events, and its timer. */
class CoalesceTest {
  private ActorSystem system;
  private Materializer mat;

  @BeforeEach
  void setUp() {
    system = ActorSystem.create("coalesce-test");
    mat = Materializer.matFromSystem(system);
  }

  @AfterEach
  void tearDown() {
    system.terminate();
  }

  private static PipelineEvent.Chunk chunk(String text) {
    return new PipelineEvent.Chunk(text, 1, List.of());
  }

  private List<PipelineEvent> run(Duration interval, PipelineEvent... events) throws Exception {
    return Source.from(List.of(events))
        .via(Coalesce.flow(interval))
        .runWith(Sink.seq(), mat)
        .toCompletableFuture()
        .get(10, TimeUnit.SECONDS);
  }

  @Test
  void chunksMergeAndTheEndIsSentAtOnceAfterThem() throws Exception {
    var started = new PipelineEvent.Started(5);
    var finished = new PipelineEvent.Finished("length", 5, 3);
    // A 10 s interval never elapses here: everything before the end arrives as one chunk.
    assertThat(run(Duration.ofSeconds(10), started, chunk("a"), chunk("b c"), chunk("!"), finished))
        .containsExactly(started, new PipelineEvent.Chunk("ab c!", 3, List.of()), finished);
    var failed = new PipelineEvent.Failed("worker_lost", "gone", 2);
    assertThat(run(Duration.ofSeconds(10), started, chunk("x"), chunk("y"), failed))
        .containsExactly(started, new PipelineEvent.Chunk("xy", 2, List.of()), failed);
    // A stream that ends without a terminal event still delivers what was merged.
    assertThat(run(Duration.ofSeconds(10), chunk("p"), chunk("q")))
        .containsExactly(new PipelineEvent.Chunk("pq", 2, List.of()));
  }

  @Test
  void logprobsAreKeptInTokenOrder() throws Exception {
    var a =
        new PipelineEvent.TokenChoice(
            new PipelineEvent.Logprob("a", -0.5f, new byte[] {97}), List.of());
    var b =
        new PipelineEvent.TokenChoice(
            new PipelineEvent.Logprob("b", -1.5f, new byte[] {98}), List.of());
    List<PipelineEvent> out =
        run(
            Duration.ofSeconds(10),
            new PipelineEvent.Chunk("a", 1, List.of(a)),
            new PipelineEvent.Chunk("b", 1, List.of(b)),
            new PipelineEvent.Finished("length", 1, 2));
    assertThat(out).hasSize(2);
    assertThat(((PipelineEvent.Chunk) out.get(0)).logprobs()).containsExactly(a, b);
  }

  @Test
  void mergedOutputIsSentWhenTheIntervalHasPassedWithoutWaitingForTheEnd() throws Exception {
    Pair<BoundedSourceQueue<PipelineEvent>, SinkQueueWithCancel<PipelineEvent>> q =
        Source.<PipelineEvent>queue(16)
            .via(Coalesce.flow(Duration.ofSeconds(2)))
            .toMat(Sink.queue(), Keep.both())
            .run(mat);
    q.first().offer(chunk("one "));
    q.first().offer(chunk("two"));
    // No end has been offered: only the stage's timer can send the merged chunk.
    Optional<PipelineEvent> first =
        q.second().pull().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(first).contains(new PipelineEvent.Chunk("one two", 2, List.of()));
    q.first().offer(chunk("three"));
    q.first().offer(new PipelineEvent.Finished("stop", 1, 3));
    q.first().complete();
    assertThat(q.second().pull().toCompletableFuture().get(10, TimeUnit.SECONDS))
        .contains(new PipelineEvent.Chunk("three", 1, List.of()));
    assertThat(q.second().pull().toCompletableFuture().get(10, TimeUnit.SECONDS))
        .contains(new PipelineEvent.Finished("stop", 1, 3));
    assertThat(q.second().pull().toCompletableFuture().get(10, TimeUnit.SECONDS)).isEmpty();
  }

  @Test
  void aNonPositiveIntervalIsRefused() {
    assertThatThrownBy(() -> Coalesce.flow(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("must be > 0");
  }
}
