package dev.sluice.engine.cuda;

import static dev.sluice.engine.cuda.GpuAssert.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.engine.KvCacheSpec;
import dev.sluice.engine.ModelRunner;
import dev.sluice.engine.StepBatch;
import dev.sluice.engine.cpu.ScalarBackend;
import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.model.ModelConfig;
import dev.sluice.engine.model.ModelLoader;
import dev.sluice.engine.model.ModelWeights;
import dev.sluice.engine.model.RopeType;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Whole-model tests on the GPU: stories260K's exact greedy continuation and reference logits, and
 * batched sequences over scattered paged blocks (decode and chunked prefill in the same step), with
 * and without CUDA graphs; then qwen2-shaped synthetic models (QKV bias, NEOX rope, grouped-query
 * attention) in every weight type against the scalar reference forward.
 */
@Tag("gpu")
class CudaModelGpuTest {
  private static CudaBackend backend;

  @BeforeAll
  static void open() {
    GpuAssert.requireCuda();
    backend = new CudaBackend(0);
  }

  @AfterAll
  static void close() {
    if (backend != null) {
      backend.close();
    }
  }

  private static Path storiesOrSkip() {
    Path p = TestModels.stories();
    assumeTrue(
        p != null && Files.isReadable(p),
        "SLUICE_DATA_DIR (or -Dsluice.data.dir) with models/stories260K.gguf not set");
    return p;
  }

  @Test
  void storiesGreedyDecodeReproducesTheReferenceText() throws Exception {
    Path model = storiesOrSkip();
    float[][] ref = TestModels.readNpy(model.resolveSibling("stories260K_ref_logits.npy"));
    int[] expected = TestModels.STORIES_TOKENS;
    try (GgufFile f = GgufFile.open(model);
        ModelRunner r = backend.load(ModelLoader.load(f), new KvCacheSpec(16, 16))) {
      int vocab = r.config().vocabSize();
      StepBatch b = new StepBatch(1, 64, 4);
      float[] logits = new float[64 * vocab];
      int[] blocks = {3, 0, 11};
      // prefill the prompt (BOS + 4 tokens), all rows of logits
      b.clear();
      b.allLogits = true;
      b.add(expected, 0, 5, 0, blocks, 3);
      r.forward(b, logits);
      for (int i = 0; i < 5; i++) {
        assertClose("prefill logits row " + i, row(logits, i, vocab), ref[i], 1e-3, 0);
      }
      int[] generated = new int[expected.length];
      System.arraycopy(expected, 0, generated, 0, 5);
      int next = argmax(row(logits, 4, vocab));
      for (int pos = 5; pos < expected.length; pos++) {
        generated[pos] = next;
        b.clear();
        b.add(generated, pos, 1, pos, blocks, 3);
        r.forward(b, logits);
        assertClose("decode logits at position " + pos, row(logits, 0, vocab), ref[pos], 1e-3, 0);
        next = argmax(row(logits, 0, vocab));
      }
      assertThat(generated).as("greedy tokens").containsExactly(expected);
      assertThat(next).as("token after the last position").isEqualTo(426);
    }
  }

  @Test
  void storiesBatchedOverPagedBlocksMatchesReferenceLogits() throws Exception {
    Path model = storiesOrSkip();
    float[][] ref = TestModels.readNpy(model.resolveSibling("stories260K_ref_logits.npy"));
    try (GgufFile f = GgufFile.open(model)) {
      ModelWeights w = ModelLoader.load(f);
      for (boolean graphs : new boolean[] {true, false}) {
        try (ModelRunner r = backend.load(w, new KvCacheSpec(64, 4))) {
          ((CudaModelRunner) r).useGraphs(graphs);
          int[] chunk = {1, 7, 16, 44};
          float[][][] got = runSchedule(r, TestModels.STORIES_TOKENS, chunk);
          for (int s = 0; s < chunk.length; s++) {
            for (int p = 0; p < TestModels.STORIES_TOKENS.length; p++) {
              assertClose(
                  "graphs=" + graphs + " seq " + s + " (chunks of " + chunk[s] + ") position " + p,
                  got[s][p],
                  ref[p],
                  1e-3,
                  0);
            }
          }
        }
      }
    }
  }

  static ModelConfig smallQwen(int dim, int hidden) {
    return new ModelConfig(
        "qwen2", dim, hidden, 2, 4, 2, 64, 300, 4096, 1e-6f, 1e6f, 64, RopeType.NEOX, 1.0f, true);
  }

  /**
   * Loads {@code w} in {@code layout} and checks the layout took effect: a repacked load of a model
   * with Q8_0/Q4_0 matrices must really run the repacked kernels, not silently fall back.
   */
  static CudaModelRunner load(
      CudaBackend backend, ModelWeights w, KvCacheSpec kv, CudaWeightLayout layout) {
    CudaModelRunner r = (CudaModelRunner) backend.load(w, kv, layout);
    assertThat(r.weightLayout()).as("weight layout").isEqualTo(layout);
    if (layout == CudaWeightLayout.REPACKED) {
      assertThat(r.repackedMatrices()).as("matrices repacked").isPositive();
    }
    return r;
  }

  @ParameterizedTest
  @MethodSource("dev.sluice.engine.cuda.CudaKernelsGpuTest#typesAndLayouts")
  void syntheticQwen2MatchesScalarReference(GgmlType type, CudaWeightLayout layout) {
    ModelConfig c = smallQwen(256, 512);
    try (Arena arena = Arena.ofConfined()) {
      ModelWeights w = TestModels.synthetic(c, type, arena, 11, false);
      ReferenceModel ref = new ReferenceModel(w);
      int[] toks = new int[21];
      for (int i = 0; i < toks.length; i++) {
        toks[i] = (i * 37 + 5) % c.vocabSize();
      }
      float[][] expect = new float[toks.length][];
      ReferenceModel.Seq seq = ref.newSeq();
      for (int i = 0; i < toks.length; i++) {
        expect[i] = ref.step(seq, toks[i]);
      }
      try (ModelRunner r = load(backend, w, new KvCacheSpec(32, 8), layout)) {
        for (boolean fused : new boolean[] {true, false}) {
          ((CudaModelRunner) r).useFusedKernels(fused);
          int[] chunk = {1, 6, 21};
          float[][][] got = runSchedule(r, toks, chunk);
          for (int s = 0; s < chunk.length; s++) {
            for (int p = 0; p < toks.length; p++) {
              double tol = 2e-3 * Math.max(1, GpuAssert.maxAbs(expect[p]));
              assertClose(
                  type
                      + " "
                      + layout
                      + (fused ? " fused" : " unfused")
                      + " seq "
                      + s
                      + " (chunks of "
                      + chunk[s]
                      + ") position "
                      + p,
                  got[s][p],
                  expect[p],
                  tol,
                  1e-3);
            }
          }
        }
      }
    }
  }

  /**
   * The CUDA runner against the engine's CPU reference backend ({@code ScalarBackend}) through the
   * same {@code ModelRunner} calls: a llama shape with Llama 3.1 rope frequency factors and the
   * qwen2 shape, batched sequences with different chunk sizes over scattered blocks.
   */
  static Stream<Arguments> cpuComparisons() {
    return Stream.of(
        Arguments.of(GgmlType.Q8_0, CudaWeightLayout.GGUF),
        Arguments.of(GgmlType.Q4_K, CudaWeightLayout.GGUF),
        Arguments.of(GgmlType.Q6_K, CudaWeightLayout.GGUF),
        Arguments.of(GgmlType.F16, CudaWeightLayout.GGUF),
        Arguments.of(GgmlType.Q8_0, CudaWeightLayout.REPACKED),
        Arguments.of(GgmlType.Q4_0, CudaWeightLayout.REPACKED),
        Arguments.of(GgmlType.F16, CudaWeightLayout.REPACKED),
        Arguments.of(GgmlType.Q4_K, CudaWeightLayout.REPACKED));
  }

  @ParameterizedTest
  @MethodSource("cpuComparisons")
  void matchesTheCpuScalarBackend(GgmlType type, CudaWeightLayout layout) {
    ModelConfig llama =
        new ModelConfig(
            "llama",
            256,
            512,
            2,
            4,
            2,
            64,
            300,
            4096,
            1e-5f,
            500000f,
            64,
            RopeType.NORM,
            1.0f,
            false);
    for (ModelConfig c : new ModelConfig[] {llama, smallQwen(256, 512)}) {
      try (Arena arena = Arena.ofConfined();
          ScalarBackend cpu = new ScalarBackend()) {
        ModelWeights w = TestModels.synthetic(c, type, arena, 21, false);
        if (c == llama) {
          w = TestModels.withRopeFreqs(w, arena, 4);
        }
        int[] toks = new int[19];
        for (int i = 0; i < toks.length; i++) {
          toks[i] = (i * 53 + 2) % c.vocabSize();
        }
        int[] chunk = {1, 5, 19};
        float[][][] want;
        try (ModelRunner r = cpu.load(w, new KvCacheSpec(32, 4))) {
          want = runSchedule(r, toks, chunk);
        }
        float[][][] got;
        try (ModelRunner r = load(backend, w, new KvCacheSpec(32, 4), layout)) {
          got = runSchedule(r, toks, chunk);
        }
        for (int s = 0; s < chunk.length; s++) {
          for (int p = 0; p < toks.length; p++) {
            assertClose(
                c.architecture()
                    + " "
                    + type
                    + " "
                    + layout
                    + " seq "
                    + s
                    + " position "
                    + p
                    + " vs ScalarBackend",
                got[s][p],
                want[s][p],
                2e-3 * Math.max(1, GpuAssert.maxAbs(want[s][p])),
                1e-3);
          }
        }
      }
    }
  }

  static Stream<Arguments> fusedRopeCases() {
    return Stream.of(
        Arguments.of(GgmlType.Q8_0, CudaWeightLayout.GGUF),
        Arguments.of(GgmlType.F16, CudaWeightLayout.GGUF),
        Arguments.of(GgmlType.Q8_0, CudaWeightLayout.REPACKED));
  }

  /**
   * RoPE and the KV store fused into decode attention (useFusedRope): the same logits as the CPU
   * reference backend, for a llama shape with rope_freqs (NORM) and the qwen2 shape (NEOX). The
   * schedule mixes steps: three one-token sequences (fused from position 0), then a sequence in
   * chunks of 5 beside a one-token one (rope_store path while the chunks last, fused after), so
   * both paths write the cache the other reads.
   */
  @ParameterizedTest
  @MethodSource("fusedRopeCases")
  void fusedRopeDecodeMatchesTheCpuScalarBackend(GgmlType type, CudaWeightLayout layout) {
    ModelConfig llama =
        new ModelConfig(
            "llama",
            256,
            512,
            2,
            4,
            2,
            64,
            300,
            4096,
            1e-5f,
            500000f,
            64,
            RopeType.NORM,
            1.0f,
            false);
    for (ModelConfig c : new ModelConfig[] {llama, smallQwen(256, 512)}) {
      try (Arena arena = Arena.ofConfined();
          ScalarBackend cpu = new ScalarBackend()) {
        ModelWeights w = TestModels.synthetic(c, type, arena, 31, false);
        if (c == llama) {
          w = TestModels.withRopeFreqs(w, arena, 4);
        }
        int[] toks = new int[19];
        for (int i = 0; i < toks.length; i++) {
          toks[i] = (i * 71 + 4) % c.vocabSize();
        }
        for (int[] chunk : new int[][] {{1, 1, 1}, {1, 5}}) {
          float[][][] want;
          try (ModelRunner r = cpu.load(w, new KvCacheSpec(32, 4))) {
            want = runSchedule(r, toks, chunk);
          }
          float[][][] got;
          try (CudaModelRunner r = load(backend, w, new KvCacheSpec(32, 4), layout)) {
            r.useFusedRope(true);
            assertThat(r.fusedRope()).as("attention_fused loaded").isTrue();
            got = runSchedule(r, toks, chunk);
          }
          for (int s = 0; s < chunk.length; s++) {
            for (int p = 0; p < toks.length; p++) {
              assertClose(
                  c.architecture()
                      + " "
                      + type
                      + " "
                      + layout
                      + " fused rope, chunks "
                      + Arrays.toString(chunk)
                      + " seq "
                      + s
                      + " position "
                      + p
                      + " vs ScalarBackend",
                  got[s][p],
                  want[s][p],
                  2e-3 * Math.max(1, GpuAssert.maxAbs(want[s][p])),
                  1e-3);
            }
          }
        }
      }
    }
  }

  @Test
  void badInputFailsTheCallNotTheDevice() throws Exception {
    ModelConfig c = smallQwen(256, 512);
    try (Arena arena = Arena.ofConfined();
        ModelRunner r =
            backend.load(
                TestModels.synthetic(c, GgmlType.Q8_0, arena, 3, false), new KvCacheSpec(4, 8))) {
      StepBatch b = new StepBatch(1, 8, 2);
      float[] logits = new float[8 * c.vocabSize()];
      b.add(new int[] {1, 2, 9999}, 0, 3, 0, new int[] {0}, 1);
      assertThatThrownBy(() -> r.forward(b, logits)).hasMessageContaining("token id 9999");
      b.clear();
      b.add(new int[] {1, 2, 3}, 0, 3, 0, new int[] {7}, 1);
      assertThatThrownBy(() -> r.forward(b, logits)).hasMessageContaining("block id 7");
      b.clear();
      b.add(new int[] {1, 2, 3}, 0, 3, 0, new int[] {2}, 1);
      r.forward(b, logits); // the device is still fine
      assertThat(argmax(row(logits, 0, c.vocabSize()))).isBetween(0, c.vocabSize() - 1);
    }
  }

  /**
   * One-token decode with the RMSNorm fused into the QKV and gate/up kernels gives exactly the
   * logits of the separate rmsnorm launches (graphs on, as a worker runs it).
   */
  static Stream<Arguments> fusedNormCases() {
    return Stream.of(
        Arguments.of(GgmlType.Q8_0, CudaWeightLayout.GGUF),
        Arguments.of(GgmlType.F16, CudaWeightLayout.GGUF),
        Arguments.of(GgmlType.Q4_K, CudaWeightLayout.GGUF),
        Arguments.of(GgmlType.Q8_0, CudaWeightLayout.REPACKED),
        Arguments.of(GgmlType.F16, CudaWeightLayout.REPACKED),
        Arguments.of(GgmlType.Q4_K, CudaWeightLayout.REPACKED));
  }

  @ParameterizedTest
  @MethodSource("fusedNormCases")
  void fusedNormDecodeIsBitIdentical(GgmlType type, CudaWeightLayout layout) {
    ModelConfig c = smallQwen(256, 512);
    try (Arena arena = Arena.ofConfined()) {
      ModelWeights w = TestModels.synthetic(c, type, arena, 13, false);
      int[] toks = new int[12];
      for (int i = 0; i < toks.length; i++) {
        toks[i] = (i * 53 + 3) % c.vocabSize();
      }
      try (ModelRunner r = load(backend, w, new KvCacheSpec(32, 8), layout)) {
        CudaModelRunner cr = (CudaModelRunner) r;
        float[][][] fused = runSchedule(r, toks, new int[] {1});
        cr.useFusedNorm(false);
        float[][][] separate = runSchedule(r, toks, new int[] {1});
        for (int p = 0; p < toks.length; p++) {
          assertThat(fused[0][p])
              .as(type + " " + layout + " position " + p)
              .containsExactly(separate[0][p]);
        }
      }
    }
  }

  /**
   * Runs one sequence per entry of {@code chunk}, all over the same {@code tokens}, in shared
   * steps: each step every unfinished sequence adds its next {@code chunk[s]} tokens. Blocks are
   * handed out interleaved (sequence s gets ids s, s + n, s + 2n, ... in reverse), so no sequence
   * owns contiguous memory. Returns logits per sequence per position.
   */
  static float[][][] runSchedule(ModelRunner r, int[] tokens, int[] chunk) {
    int n = chunk.length;
    int bs = r.kvCache().blockSize();
    int perSeq = (tokens.length + bs - 1) / bs;
    assertThat(perSeq * n).isLessThanOrEqualTo(r.kvCache().numBlocks());
    int[][] blocks = new int[n][perSeq];
    for (int s = 0; s < n; s++) {
      for (int i = 0; i < perSeq; i++) {
        blocks[s][i] = (perSeq - 1 - i) * n + s;
      }
    }
    int vocab = r.config().vocabSize();
    StepBatch b = new StepBatch(n, n * tokens.length, perSeq);
    float[] logits = new float[n * tokens.length * vocab];
    float[][][] out = new float[n][tokens.length][];
    int[] done = new int[n];
    while (true) {
      b.clear();
      b.allLogits = true;
      int[] seqOf = new int[n];
      int added = 0;
      for (int s = 0; s < n; s++) {
        if (done[s] < tokens.length) {
          int len = Math.min(chunk[s], tokens.length - done[s]);
          b.add(tokens, done[s], len, done[s], blocks[s], perSeq);
          seqOf[added++] = s;
        }
      }
      if (added == 0) {
        return out;
      }
      r.forward(b, logits);
      for (int i = 0; i < added; i++) {
        int s = seqOf[i];
        for (int t = b.seqStart[i]; t < b.seqStart[i + 1]; t++) {
          out[s][done[s]++] = row(logits, t, vocab);
        }
      }
    }
  }

  static float[] row(float[] logits, int r, int vocab) {
    return Arrays.copyOfRange(logits, r * vocab, (r + 1) * vocab);
  }

  static int argmax(float[] v) {
    return ReferenceModelTest.argmax(v);
  }
}
