package dev.sluice.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.engine.cpu.CpuBackend;
import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.model.ModelLoader;
import dev.sluice.engine.testing.TestData;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The warm-up on the real stories260K model: it runs, and leaves no trace in the real engine. */
class WarmupTest {
  private GgufFile file;
  private CpuBackend backend;
  private ModelRunner runner;

  @BeforeEach
  void load() throws Exception {
    file = GgufFile.open(TestData.file("models/stories260K.gguf"));
    backend = new CpuBackend(2);
    runner = backend.load(ModelLoader.load(file), new KvCacheSpec(24, 8));
  }

  @AfterEach
  void close() {
    if (backend != null) {
      backend.close();
    }
    if (file != null) {
      file.close();
    }
  }

  private BatchEngine engine() {
    return new BatchEngine(
        runner, new KvBlockPool(runner.kvCache()), new BatchEngine.Settings(3, 12, 4, 64));
  }

  private static int[] greedy(BatchEngine engine, int maxTokens) {
    BatchEngineTest.Recorder r = new BatchEngineTest.Recorder();
    engine.submit(
        new GenerationRequest(
            Arrays.copyOf(TestData.STORIES_TOKENS, 5),
            maxTokens,
            new int[] {2},
            TokenSampler.greedy(),
            r));
    for (int i = 0; i < 1000 && !engine.idle(); i++) {
      engine.step();
    }
    assertThat(r.reason).isEqualTo(FinishReason.LENGTH);
    return r.ids();
  }

  @Test
  void runsEveryBatchSizeAndLeavesTheRealEngineUntouched() {
    int[] before = greedy(engine(), 20);
    BatchEngine engine = engine();

    Warmup.Report report = Warmup.run(engine, Duration.ofSeconds(60));

    // Rounds of batch sizes 1, 2, 3 (max-seqs 3): 8-token prompts, 8 tokens generated each, of
    // which 7 are fed back (the first comes from the prefill, the last is not fed).
    assertThat(report.rounds()).isGreaterThanOrEqualTo(3);
    assertThat(report.tokens()).isEqualTo(report.rounds() * (1 + 2 + 3) * (8L + 7));
    assertThat(report.steps()).isPositive();
    // The real engine's counters (metrics, admission rates) did not see it; its pool is whole.
    assertThat(engine.steps()).isZero();
    assertThat(engine.promptTokensProcessed()).isZero();
    assertThat(engine.decodeTokensProcessed()).isZero();
    assertThat(engine.pool().freeBlocks()).isEqualTo(engine.pool().numBlocks());
    // The shared KV memory holds nothing stale: the same request gives the same tokens.
    assertThat(greedy(engine, 20)).containsExactly(before);
  }

  @Test
  void anExhaustedBudgetCancelsTheRoundAndFreesItsBlocks() {
    BatchEngine engine = engine();
    Warmup.Report report = Warmup.run(engine, Duration.ofNanos(1));
    assertThat(report.rounds()).isZero();
    assertThat(report.steps()).isZero();
    assertThat(engine.pool().freeBlocks()).isEqualTo(engine.pool().numBlocks());
    assertThat(greedy(engine, 10)).hasSize(10);
  }

  @Test
  void zeroDoesNothingAndABusyEngineIsRefused() {
    BatchEngine engine = engine();
    assertThat(Warmup.run(engine, Duration.ZERO)).isEqualTo(new Warmup.Report(0, 0, 0, 0));
    engine.submit(
        new GenerationRequest(
            new int[] {1, 2}, 4, null, TokenSampler.greedy(), new BatchEngineTest.Recorder()));
    assertThatThrownBy(() -> Warmup.run(engine, Duration.ofSeconds(1)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("idle engine");
    assertThatThrownBy(() -> Warmup.run(engine(), Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("must be >= 0");
  }

  @Test
  void batchSizesDoubleUpToMaxSeqs() {
    assertThat(Warmup.batchSizes(1)).containsExactly(1);
    assertThat(Warmup.batchSizes(8)).containsExactly(1, 2, 4, 8);
    assertThat(Warmup.batchSizes(12)).containsExactly(1, 2, 4, 8, 12);
  }
}
