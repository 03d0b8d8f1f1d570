package dev.sluice.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.engine.Backend;
import dev.sluice.engine.KvCacheSpec;
import dev.sluice.engine.ModelRunner;
import dev.sluice.engine.StepBatch;
import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.gguf.GgufTensor;
import dev.sluice.engine.model.ModelConfig;
import dev.sluice.engine.model.ModelLoader;
import dev.sluice.engine.model.ModelWeights;
import dev.sluice.engine.testing.Npy;
import dev.sluice.engine.testing.TestData;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Both CPU backends on the real stories260K model against the independent float32 reference logits,
 * however the 44 tokens are cut into chunks and batched with other sequences.
 */
class Stories260KLogitsTest {
  private static final int[] TOKENS = TestData.STORIES_TOKENS;
  private static final int N = TOKENS.length;
  private static final int VOCAB = 512;
  private static final int BLOCK = 8;
  private static final int MAX_BLOCKS = 8; // 64 positions per sequence

  static Stream<Arguments> backends() {
    return Stream.of(
        Arguments.of("scalar", (Supplier<Backend>) ScalarBackend::new),
        Arguments.of("cpu-1", (Supplier<Backend>) () -> new CpuBackend(1)),
        Arguments.of("cpu-2", (Supplier<Backend>) () -> new CpuBackend(2)),
        // Every job through the workers, even stories260K's tiny ones.
        Arguments.of("cpu-3-parallel", (Supplier<Backend>) () -> new CpuBackend(3, 0)));
  }

  private static float[] reference() throws Exception {
    Npy ref = Npy.read(TestData.file("models/stories260K_ref_logits.npy"));
    assertThat(ref.shape()).containsExactly(N, VOCAB);
    return ref.data();
  }

  /** Runs one sequence in chunks of {@code chunk} tokens, collecting all logits. */
  private static float[] runChunked(ModelRunner runner, int chunk, int[] blocks) {
    float[] all = new float[N * VOCAB];
    StepBatch b = new StepBatch(1, 64, MAX_BLOCKS);
    for (int pos = 0; pos < N; pos += chunk) {
      int len = Math.min(chunk, N - pos);
      b.clear();
      b.allLogits = true;
      b.add(TOKENS, pos, len, pos, blocks, blocks.length);
      float[] out = new float[len * VOCAB];
      runner.forward(b, out);
      System.arraycopy(out, 0, all, pos * VOCAB, len * VOCAB);
    }
    return all;
  }

  private static void assertClose(float[] actual, float[] expected, String what) {
    for (int row = 0; row < N; row++) {
      for (int i = 0; i < VOCAB; i++) {
        float a = actual[row * VOCAB + i];
        float e = expected[row * VOCAB + i];
        if (!(Math.abs(a - e) <= 1e-4f)) {
          throw new AssertionError(
              what + ": position " + row + ", token " + i + ": " + a + " vs reference " + e);
        }
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("backends")
  void matchesReferenceLogitsForEveryChunking(String name, Supplier<Backend> factory)
      throws Exception {
    float[] ref = reference();
    try (GgufFile f = GgufFile.open(TestData.file("models/stories260K.gguf"));
        Backend backend = factory.get()) {
      ModelWeights w = ModelLoader.load(f);
      try (ModelRunner runner = backend.load(w, new KvCacheSpec(32, BLOCK))) {
        int[] blocks = {7, 3, 12, 0, 31, 5, 6, 9}; // deliberately scattered
        for (int chunk : new int[] {N, 1, 5, 16}) {
          assertClose(runChunked(runner, chunk, blocks), ref, name + " chunk " + chunk);
        }
        // Greedy: the argmax of each row is the next token of the README sequence.
        float[] all = runChunked(runner, N, blocks);
        for (int row = 0; row < N - 1; row++) {
          assertThat(argmax(all, row))
              .as("greedy token after position " + row)
              .isEqualTo(TOKENS[row + 1]);
        }
        assertThat(argmax(all, N - 1)).isEqualTo(426);
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("backends")
  void batchedSequencesGiveTheSameLogitsAsAlone(String name, Supplier<Backend> factory)
      throws Exception {
    float[] ref = reference();
    try (GgufFile f = GgufFile.open(TestData.file("models/stories260K.gguf"));
        Backend backend = factory.get()) {
      try (ModelRunner runner = backend.load(ModelLoader.load(f), new KvCacheSpec(32, BLOCK))) {
        // Three sequences with disjoint block tables, advancing at different paces in one batch:
        // A prefills 9 tokens per step, B 4, C one token per step (a decoding sequence).
        int[][] tables = {{0, 1, 2, 3, 4, 5}, {20, 11, 15, 8, 9, 10}, {31, 30, 29, 28, 27, 26}};
        int[] chunk = {9, 4, 1};
        int[] pos = new int[3];
        float[][] got = new float[3][N * VOCAB];
        StepBatch b = new StepBatch(3, 64, MAX_BLOCKS);
        float[] out = new float[64 * VOCAB];
        while (pos[0] < N || pos[1] < N || pos[2] < N) {
          b.clear();
          b.allLogits = true;
          int[] seqs = new int[3];
          int n = 0;
          for (int s = 0; s < 3; s++) {
            if (pos[s] < N) {
              int len = Math.min(chunk[s], N - pos[s]);
              b.add(TOKENS, pos[s], len, pos[s], tables[s], tables[s].length);
              seqs[n++] = s;
            }
          }
          runner.forward(b, out);
          for (int i = 0; i < n; i++) {
            int s = seqs[i];
            int len = b.seqLen(i);
            System.arraycopy(out, b.seqStart[i] * VOCAB, got[s], pos[s] * VOCAB, len * VOCAB);
            pos[s] += len;
          }
        }
        for (int s = 0; s < 3; s++) {
          assertClose(got[s], ref, name + " batched sequence " + s);
        }

        // Last-token logits only: one row per sequence, equal to that position's reference row.
        b.clear();
        b.add(TOKENS, 0, 10, 0, tables[0], 6);
        b.add(TOKENS, 0, 20, 0, tables[1], 6);
        float[] last = new float[2 * VOCAB];
        runner.forward(b, last);
        for (int i = 0; i < VOCAB; i++) {
          assertThat(last[i])
              .isCloseTo(ref[9 * VOCAB + i], org.assertj.core.data.Offset.offset(1e-4f));
          assertThat(last[VOCAB + i])
              .isCloseTo(ref[19 * VOCAB + i], org.assertj.core.data.Offset.offset(1e-4f));
        }
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("backends")
  void rejectsMalformedBatchesNamingTheSequence(String name, Supplier<Backend> factory)
      throws Exception {
    try (GgufFile f = GgufFile.open(TestData.file("models/stories260K.gguf"));
        Backend backend = factory.get();
        ModelRunner runner = backend.load(ModelLoader.load(f), new KvCacheSpec(4, BLOCK))) {
      StepBatch b = new StepBatch(2, 16, 2);
      b.add(new int[] {1, 2}, 0, 2, 0, new int[] {0}, 1);
      b.add(new int[] {1, 9999}, 0, 2, 0, new int[] {1}, 1);
      assertThatThrownBy(() -> runner.forward(b, new float[2 * VOCAB]))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("sequence 1")
          .hasMessageContaining("9999");
      b.clear();
      b.add(new int[] {1, 2}, 0, 2, 7, new int[] {0, 7}, 2);
      assertThatThrownBy(() -> runner.forward(b, new float[VOCAB]))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("sequence 0")
          .hasMessageContaining("block table entry 1 is 7");
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("backends")
  void ropeFrequencyFactorsDivideTheAngles(String name, Supplier<Backend> factory)
      throws Exception {
    try (GgufFile f = GgufFile.open(TestData.file("models/stories260K.gguf"));
        Backend backend = factory.get();
        java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
      ModelWeights w = ModelLoader.load(f);
      ModelConfig c = w.config();
      // Factors of 2 on every frequency halve every angle: the same as linear scaling by 2.
      java.lang.foreign.MemorySegment twos = arena.allocate(4L * c.ropeDim() / 2);
      for (int i = 0; i < c.ropeDim() / 2; i++) {
        twos.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i, 2f);
      }
      GgufTensor freqs =
          new GgufTensor("rope_freqs.weight", GgmlType.F32, new long[] {c.ropeDim() / 2}, twos);
      ModelWeights withFactors =
          new ModelWeights(c, w.tokenEmbedding(), w.layers(), w.outputNorm(), w.output(), freqs);
      ModelConfig scaled =
          new ModelConfig(
              c.architecture(),
              c.dim(),
              c.hiddenDim(),
              c.layers(),
              c.heads(),
              c.kvHeads(),
              c.headDim(),
              c.vocabSize(),
              c.contextLength(),
              c.rmsEps(),
              c.ropeTheta(),
              c.ropeDim(),
              c.ropeType(),
              2f,
              c.qkvBias());
      ModelWeights linear =
          new ModelWeights(scaled, w.tokenEmbedding(), w.layers(), w.outputNorm(), w.output());
      int[] blocks = {0, 1, 2, 3, 4, 5, 6, 7};
      float[] a;
      float[] b;
      float[] plain;
      try (ModelRunner r = backend.load(withFactors, new KvCacheSpec(8, BLOCK))) {
        a = runChunked(r, N, blocks);
      }
      try (ModelRunner r = backend.load(linear, new KvCacheSpec(8, BLOCK))) {
        b = runChunked(r, N, blocks);
      }
      try (ModelRunner r = backend.load(w, new KvCacheSpec(8, BLOCK))) {
        plain = runChunked(r, N, blocks);
      }
      double diff = 0;
      double changed = 0;
      for (int i = 0; i < a.length; i++) {
        diff = Math.max(diff, Math.abs(a[i] - b[i]));
        changed = Math.max(changed, Math.abs(a[i] - plain[i]));
      }
      assertThat(diff).as("factors 2 vs linear scale 2").isLessThan(1e-4);
      assertThat(changed).as("the factors change the result").isGreaterThan(1e-2);
    }
  }

  private static int argmax(float[] logits, int row) {
    int best = 0;
    for (int i = 1; i < VOCAB; i++) {
      if (logits[row * VOCAB + i] > logits[row * VOCAB + best]) {
        best = i;
      }
    }
    return best;
  }
}
