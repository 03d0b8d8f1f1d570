package dev.sluice.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.engine.cpu.CpuBackend;
import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.model.ModelLoader;
import dev.sluice.engine.testing.TestData;
import dev.sluice.engine.tokenizer.StreamingDetokenizer;
import dev.sluice.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Continuous batching on the real stories260K model: greedy outputs must equal the reference. */
class BatchEngineTest {
  private static final int[] REF = TestData.STORIES_TOKENS;

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

  /** Records what a sink receives. */
  static class Recorder implements TokenSink {
    final List<Integer> tokens = new ArrayList<>();
    FinishReason reason;
    Throwable error;
    int finishes;
    int stopAfter = Integer.MAX_VALUE;

    @Override
    public boolean onToken(SequenceHandle seq, int token) {
      tokens.add(token);
      return tokens.size() < stopAfter;
    }

    @Override
    public void onFinish(SequenceHandle seq, FinishReason reason, Throwable error) {
      this.reason = reason;
      this.error = error;
      finishes++;
    }

    int[] ids() {
      return tokens.stream().mapToInt(Integer::intValue).toArray();
    }
  }

  private static GenerationRequest greedy(int promptLen, int maxTokens, Recorder sink) {
    return new GenerationRequest(
        Arrays.copyOf(REF, promptLen), maxTokens, new int[] {2}, TokenSampler.greedy(), sink);
  }

  private static void runToIdle(BatchEngine engine) {
    for (int i = 0; i < 1000 && !engine.idle(); i++) {
      engine.step();
    }
    assertThat(engine.idle()).as("engine drained").isTrue();
  }

  @Test
  void greedyContinuationEqualsTheReferenceWithChunkedPrefill() {
    KvBlockPool pool = new KvBlockPool(runner.kvCache());
    BatchEngine engine = new BatchEngine(runner, pool, new BatchEngine.Settings(4, 8, 2, 128));
    Recorder r = new Recorder();
    SequenceHandle h = engine.submit(greedy(5, REF.length - 5, r));
    runToIdle(engine);
    assertThat(r.ids()).containsExactly(Arrays.copyOfRange(REF, 5, REF.length));
    assertThat(r.reason).isEqualTo(FinishReason.LENGTH);
    assertThat(h.outputTokens()).containsExactly(r.ids());
    assertThat(engine.promptTokensProcessed()).isEqualTo(5);
    assertThat(pool.freeBlocks()).isEqualTo(pool.numBlocks());
  }

  @Test
  void greedyTextEqualsTheReadmeText() {
    Tokenizer tokenizer = Tokenizer.fromGguf(file);
    int[] prompt = tokenizer.encode("Once upon a time", tokenizer.addsBos(), false);
    assertThat(prompt).containsExactly(Arrays.copyOf(REF, 5));
    KvBlockPool pool = new KvBlockPool(runner.kvCache());
    BatchEngine engine = new BatchEngine(runner, pool, new BatchEngine.Settings(2, 16, 3, 128));
    Recorder r = new Recorder();
    engine.submit(
        new GenerationRequest(
            prompt, 57, tokenizer.endOfGenerationIds(), TokenSampler.greedy(), r));
    runToIdle(engine);
    StreamingDetokenizer detok = tokenizer.newStreamingDetokenizer(false);
    StringBuilder text = new StringBuilder("Once upon a time");
    for (int t : r.ids()) {
      text.append(detok.push(t));
    }
    text.append(detok.flush());
    assertThat(text.toString()).isEqualTo(TestData.STORIES_TEXT);
  }

  @Test
  void sequencesJoiningAndLeavingEachGetTheirOwnContinuation() {
    KvBlockPool pool = new KvBlockPool(runner.kvCache());
    BatchEngine engine = new BatchEngine(runner, pool, new BatchEngine.Settings(3, 12, 4, 128));
    int[] prompts = {5, 9, 13, 21, 30};
    Recorder[] sinks = new Recorder[prompts.length];
    // Two start together, the rest join while those decode; only 3 slots, so one waits.
    for (int i = 0; i < 2; i++) {
      sinks[i] = new Recorder();
      engine.submit(greedy(prompts[i], REF.length - prompts[i], sinks[i]));
    }
    engine.step();
    engine.step();
    for (int i = 2; i < prompts.length; i++) {
      sinks[i] = new Recorder();
      engine.submit(greedy(prompts[i], REF.length - prompts[i], sinks[i]));
    }
    engine.step();
    assertThat(engine.running()).isEqualTo(3);
    assertThat(engine.waiting()).isEqualTo(2);
    runToIdle(engine);
    for (int i = 0; i < prompts.length; i++) {
      assertThat(sinks[i].ids())
          .as("sequence with a prompt of %d tokens", prompts[i])
          .containsExactly(Arrays.copyOfRange(REF, prompts[i], REF.length));
      assertThat(sinks[i].finishes).isEqualTo(1);
    }
    assertThat(pool.freeBlocks()).isEqualTo(pool.numBlocks());
  }

  @Test
  void stopTokenSinkStopAndMaxTokens() {
    KvBlockPool pool = new KvBlockPool(runner.kvCache());
    BatchEngine engine = new BatchEngine(runner, pool, new BatchEngine.Settings(3, 16, 16, 128));
    Recorder stopTok = new Recorder();
    engine.submit(
        new GenerationRequest(
            Arrays.copyOf(REF, 5), 30, new int[] {REF[10]}, TokenSampler.greedy(), stopTok));
    Recorder stopSink = new Recorder();
    stopSink.stopAfter = 3;
    engine.submit(greedy(5, 30, stopSink));
    Recorder max = new Recorder();
    engine.submit(greedy(5, 4, max));
    runToIdle(engine);
    assertThat(stopTok.ids()).containsExactly(Arrays.copyOfRange(REF, 5, 10));
    assertThat(stopTok.reason).isEqualTo(FinishReason.STOP);
    assertThat(stopSink.ids()).containsExactly(Arrays.copyOfRange(REF, 5, 8));
    assertThat(stopSink.reason).isEqualTo(FinishReason.STOP);
    assertThat(max.ids()).containsExactly(Arrays.copyOfRange(REF, 5, 9));
    assertThat(max.reason).isEqualTo(FinishReason.LENGTH);
    assertThat(pool.freeBlocks()).isEqualTo(pool.numBlocks());
  }

  @Test
  void cancelFreesBlocksAtOnceAndOthersContinue() {
    KvBlockPool pool = new KvBlockPool(runner.kvCache());
    BatchEngine engine = new BatchEngine(runner, pool, new BatchEngine.Settings(2, 8, 8, 128));
    Recorder a = new Recorder();
    Recorder b = new Recorder();
    SequenceHandle ha = engine.submit(greedy(5, 39, a));
    engine.submit(greedy(5, 39, b));
    engine.step();
    engine.step();
    int used = pool.usedBlocks();
    assertThat(ha.blocksHeld()).isPositive();
    int held = ha.blocksHeld();
    assertThat(engine.cancel(ha.id())).isTrue();
    assertThat(pool.usedBlocks()).isEqualTo(used - held);
    assertThat(a.reason).isEqualTo(FinishReason.CANCELLED);
    assertThat(engine.cancel(ha.id())).isFalse();

    // A sink that cancels its own sequence from inside a step.
    Recorder c =
        new Recorder() {
          @Override
          public boolean onToken(SequenceHandle seq, int token) {
            super.onToken(seq, token);
            if (tokens.size() == 2) {
              assertThat(engineRef[0].cancel(seq.id())).isTrue();
            }
            return true;
          }
        };
    engineRef[0] = engine;
    engine.submit(greedy(5, 39, c));
    runToIdle(engine);
    assertThat(c.reason).isEqualTo(FinishReason.CANCELLED);
    assertThat(c.tokens).hasSize(2);
    assertThat(c.finishes).isEqualTo(1);
    assertThat(b.ids()).containsExactly(Arrays.copyOfRange(REF, 5, REF.length));
    assertThat(pool.freeBlocks()).isEqualTo(pool.numBlocks());
  }

  private static final BatchEngine[] engineRef = new BatchEngine[1];

  @Test
  void requestsWaitForBlocksAndImpossibleOnesAreRefused() {
    KvBlockPool pool = new KvBlockPool(runner.kvCache()); // 24 blocks of 8 = 192 positions
    BatchEngine engine = new BatchEngine(runner, pool, new BatchEngine.Settings(4, 16, 16, 256));
    assertThatThrownBy(() -> engine.submit(greedy(5, 240, new Recorder())))
        .isInstanceOf(KvCacheExhaustedException.class)
        .hasMessageContaining("needs 31 KV blocks but the pool holds only 24");
    assertThatThrownBy(
            () ->
                engine.submit(
                    new GenerationRequest(
                        new int[300], 1, null, TokenSampler.greedy(), new Recorder())))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("does not fit the context of 256");

    Recorder big = new Recorder();
    engine.submit(greedy(5, 150, big)); // 154 positions: 20 blocks
    Recorder next = new Recorder();
    engine.submit(greedy(5, 39, next)); // 6 blocks: must wait for the first
    engine.step();
    assertThat(engine.running()).isEqualTo(1);
    assertThat(engine.waiting()).isEqualTo(1);
    runToIdle(engine);
    assertThat(big.tokens).hasSize(150);
    assertThat(next.ids()).containsExactly(Arrays.copyOfRange(REF, 5, REF.length));
  }

  // Whether the steady state allocates depends on C2 compiling the Vector API paths, which on a
  // loaded 2-core machine it sometimes never does within minutes (seen once in CI: 40 MB per 40
  // steps after 180 s, i.e. still interpreted): excluded from the default run, run it with
  // ./mvnw -pl pipelines test -Dtest=BatchEngineTest -Dsluice.test.excludedGroups=gpu
  @Tag("jit")
  @Test
  void decodeStepsAllocateNothingOnceWarm() {
    // One compute thread, so all work happens on this thread and its allocation counter sees it.
    try (CpuBackend one = new CpuBackend(1);
        ModelRunner r = one.load(ModelLoader.load(file), new KvCacheSpec(768, 8))) {
      BatchEngine engine =
          new BatchEngine(
              r, new KvBlockPool(r.kvCache()), new BatchEngine.Settings(4, 16, 16, 2048));
      TokenSink quiet =
          new TokenSink() {
            @Override
            public boolean onToken(SequenceHandle seq, int token) {
              return true;
            }

            @Override
            public void onFinish(SequenceHandle seq, FinishReason reason, Throwable error) {}
          };
      com.sun.management.ThreadMXBean mx =
          (com.sun.management.ThreadMXBean)
              java.lang.management.ManagementFactory.getThreadMXBean();
      long tid = Thread.currentThread().threadId();
      // Until the JIT has compiled the Vector API paths, the interpreter boxes vectors; a real
      // per-step allocation would never go away, so look for one quiet window of 40 decode steps.
      // How soon C2 gets there depends on the machine's load, so the search is bounded by time (a
      // generous bound, not a speed assertion); finished sequences are replaced between windows.
      long allocated = Long.MAX_VALUE;
      long giveUp = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(180);
      int submitted = 0;
      while (allocated >= 1024 && System.nanoTime() < giveUp) {
        while (engine.running() + engine.waiting() < 3) {
          engine.submit(
              new GenerationRequest(
                  Arrays.copyOf(REF, 5 + submitted++ % 3),
                  1000,
                  null,
                  TokenSampler.greedy(),
                  quiet));
          engine.step(); // prefill outside the measured window
        }
        long before = mx.getThreadAllocatedBytes(tid);
        for (int i = 0; i < 40; i++) {
          engine.step();
        }
        allocated = mx.getThreadAllocatedBytes(tid) - before;
      }
      assertThat(allocated)
          .as("bytes allocated by 40 decode steps of 3 sequences")
          .isLessThan(1024);
    }
  }
}
