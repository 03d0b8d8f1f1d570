package dev.sluice.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.engine.BatchEngine;
import dev.sluice.engine.KvBlockPool;
import dev.sluice.engine.KvCacheSpec;
import dev.sluice.engine.ModelRunner;
import dev.sluice.engine.StepBatch;
import dev.sluice.engine.cpu.ScalarBackend;
import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.model.ModelConfig;
import dev.sluice.engine.model.ModelLoader;
import dev.sluice.engine.model.ModelWeights;
import dev.sluice.engine.sampling.SamplingParams;
import dev.sluice.engine.testing.TestData;
import dev.sluice.engine.tokenizer.Tokenizer;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;

/**
 * A fatal device error (an {@link Error} out of the forward pass: a lost context) stops the device
 * loop, and every request it held, running or queued, still ends with a {@code device_error}
 * failure; the pipeline then refuses new requests.
 */
class DeviceFailureTest {

  /** A runner that loses its device after {@code okSteps} forward passes. */
  static final class FailingRunner implements ModelRunner {
    final ModelRunner inner;
    final AtomicInteger left;

    FailingRunner(ModelRunner inner, int okSteps) {
      this.inner = inner;
      this.left = new AtomicInteger(okSteps);
    }

    @Override
    public ModelConfig config() {
      return inner.config();
    }

    @Override
    public KvCacheSpec kvCache() {
      return inner.kvCache();
    }

    @Override
    public void forward(StepBatch batch, float[] logits) {
      if (left.decrementAndGet() < 0) {
        throw new InternalError("device lost (test)");
      }
      inner.forward(batch, logits);
    }

    @Override
    public void close() {
      inner.close();
    }
  }

  @Test
  void fatalDeviceErrorFailsEveryRequestItHolds() throws Exception {
    var file = TestData.file("models/stories260K.gguf");
    ActorSystem system = ActorSystem.create("device-failure");
    ExecutorService pool = Executors.newSingleThreadExecutor();
    try {
      PipelineSettings s = new PipelineSettings(8, 1, 2, 2, 16, 4);
      DeviceLoop device =
          DeviceLoop.start(
              "failing",
              s.computeWindow(),
              s.outputBuffer(),
              () -> {
                GgufFile gguf = GgufFile.open(file);
                ModelWeights w = ModelLoader.load(gguf);
                KvCacheSpec kv = new KvCacheSpec(64, 16);
                ScalarBackend backend = new ScalarBackend();
                ModelRunner runner = new FailingRunner(backend.load(w, kv), 20);
                BatchEngine engine =
                    new BatchEngine(
                        runner, new KvBlockPool(kv), new BatchEngine.Settings(2, 64, 16, 256));
                return new DeviceModel(
                    "failing",
                    Tokenizer.fromGguf(gguf),
                    null,
                    engine,
                    "test",
                    runner,
                    backend,
                    gguf);
              });
      DeviceModel model = device.loaded().toCompletableFuture().get(60, TimeUnit.SECONDS);
      Materializer mat = Materializer.matFromSystem(system);
      InferencePipeline p =
          InferencePipeline.start(device, model, s, Prefetch.PrefixLookup.NONE, pool, mat);
      // Two running (max 2 sequences), two waiting in the engine's window, two in the stream.
      List<InferencePipeline.Submission> subs =
          List.of(
              p.submit(PipelineRequest.text("a", "Once upon a time", SamplingParams.greedy(200))),
              p.submit(PipelineRequest.text("b", "Once upon a time", SamplingParams.greedy(200))),
              p.submit(PipelineRequest.text("c", "Once upon a time", SamplingParams.greedy(200))),
              p.submit(PipelineRequest.text("d", "Once upon a time", SamplingParams.greedy(200))),
              p.submit(PipelineRequest.text("e", "Once upon a time", SamplingParams.greedy(200))),
              p.submit(PipelineRequest.text("f", "Once upon a time", SamplingParams.greedy(200))));
      // Consumers subscribe at once (an event stream left unsubscribed is cancelled after
      // pekko.stream.materializer.subscription-timeout).
      var results =
          subs.stream()
              .map(sub -> sub.events().runWith(Sink.seq(), mat).toCompletableFuture())
              .toList();
      for (var r : results) {
        PipelineEvent last = r.get(60, TimeUnit.SECONDS).getLast();
        assertThat(last).isInstanceOf(PipelineEvent.Failed.class);
        assertThat(((PipelineEvent.Failed) last).reason()).isEqualTo("device_error");
      }
      assertThatThrownBy(() -> device.terminated().toCompletableFuture().get(10, TimeUnit.SECONDS))
          .hasRootCauseInstanceOf(InternalError.class);
      assertThat(p.submit(PipelineRequest.text("g", "x", SamplingParams.greedy(2))).status())
          .isEqualTo(InferencePipeline.Submission.Status.CLOSED);
    } finally {
      pool.shutdownNow();
      system.terminate();
    }
  }
}
