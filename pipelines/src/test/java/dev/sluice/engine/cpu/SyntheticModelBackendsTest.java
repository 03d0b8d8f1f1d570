package dev.sluice.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.engine.KvCacheSpec;
import dev.sluice.engine.ModelRunner;
import dev.sluice.engine.StepBatch;
import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.gguf.GgufFormatException;
import dev.sluice.engine.gguf.GgufWriter;
import dev.sluice.engine.gguf.SyntheticModel;
import dev.sluice.engine.model.ModelConfig;
import dev.sluice.engine.model.ModelLoader;
import dev.sluice.engine.model.ModelWeights;
import dev.sluice.engine.model.RopeType;
import dev.sluice.engine.testing.TestData;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fast backend against the scalar reference on written models: qwen2 (QKV bias, NEOX rope, tied
 * output, GQA) and llama, unquantized and quantized, prefilled in chunks and batched.
 */
class SyntheticModelBackendsTest {
  @TempDir Path tmp;

  private Path write(SyntheticModel.Shape shape, SyntheticModel.TypeMix mix) throws Exception {
    Path p = tmp.resolve(shape.name() + "-" + mix + ".gguf");
    SyntheticModel.Builder b = SyntheticModel.builder(shape, mix).seed(3);
    if (shape.arch().equals("qwen2")) {
      b.vocabFrom(TestData.file("tokenizers/ggml-vocab-qwen2.gguf")); // real Qwen2 vocabulary
    } else {
      b.syntheticVocab(300);
    }
    b.write(p);
    return p;
  }

  /** All logits of two sequences: one prefilled in chunks of 7, one decoded token by token. */
  private static float[] run(ModelRunner runner, int[] tokens) {
    int vocab = runner.config().vocabSize();
    int n = tokens.length;
    float[] all = new float[2 * n * vocab];
    StepBatch b = new StepBatch(2, 64, 8);
    int[][] tables = {{0, 1, 2, 3}, {7, 6, 5, 4}};
    int[] pos = new int[2];
    int[] chunk = {7, 1};
    float[] out = new float[64 * vocab];
    while (pos[0] < n || pos[1] < n) {
      b.clear();
      b.allLogits = true;
      int[] who = new int[2];
      int k = 0;
      for (int s = 0; s < 2; s++) {
        if (pos[s] < n) {
          b.add(tokens, pos[s], Math.min(chunk[s], n - pos[s]), pos[s], tables[s], 4);
          who[k++] = s;
        }
      }
      runner.forward(b, out);
      for (int i = 0; i < k; i++) {
        int s = who[i];
        int len = b.seqLen(i);
        System.arraycopy(out, b.seqStart[i] * vocab, all, (s * n + pos[s]) * vocab, len * vocab);
        pos[s] += len;
      }
    }
    return all;
  }

  private static double maxAbs(float[] a) {
    double m = 0;
    for (float v : a) {
      m = Math.max(m, Math.abs(v));
    }
    return m;
  }

  private void compare(SyntheticModel.Shape shape, SyntheticModel.TypeMix mix, double relTol)
      throws Exception {
    try (GgufFile f = GgufFile.open(write(shape, mix));
        ScalarBackend scalar = new ScalarBackend();
        CpuBackend cpu = new CpuBackend(2)) {
      ModelWeights w = ModelLoader.load(f);
      int[] tokens = new int[12];
      Random rnd = new Random(5);
      for (int i = 0; i < tokens.length; i++) {
        tokens[i] = rnd.nextInt(w.config().vocabSize());
      }
      KvCacheSpec kv = new KvCacheSpec(8, 8);
      float[] ref;
      float[] fast;
      try (ModelRunner r = scalar.load(w, kv)) {
        ref = run(r, tokens);
      }
      try (ModelRunner r = cpu.load(w, kv)) {
        fast = run(r, tokens);
      }
      double scale = maxAbs(ref);
      assertThat(scale).isPositive();
      double worst = 0;
      for (int i = 0; i < ref.length; i++) {
        worst = Math.max(worst, Math.abs(ref[i] - fast[i]));
      }
      assertThat(worst / scale)
          .as("%s %s: max |cpu - scalar| / max |logit|", shape.name(), mix)
          .isLessThan(relTol);
      // The two sequences hold the same tokens: batching must not change a sequence's logits.
      int half = ref.length / 2;
      for (int i = 0; i < half; i++) {
        assertThat(Math.abs(fast[i] - fast[half + i])).isLessThan((float) (1e-5 * scale));
      }
    }
  }

  @Test
  void qwen2UnquantizedMatchesTheReference() throws Exception {
    SyntheticModel.Shape shape = SyntheticModel.Shape.small("qwen2", 64, 2, 4, 2, 96);
    try (GgufFile f = GgufFile.open(write(shape, SyntheticModel.TypeMix.F32))) {
      ModelConfig c = ModelLoader.load(f).config();
      assertThat(c.qkvBias()).isTrue();
      assertThat(c.ropeType()).isEqualTo(RopeType.NEOX);
      assertThat(c.ropeTheta()).isEqualTo(1e6f);
    }
    compare(shape, SyntheticModel.TypeMix.F32, 1e-5);
    compare(SyntheticModel.Shape.small("llama", 64, 2, 4, 2, 96), SyntheticModel.TypeMix.F16, 1e-5);
  }

  @Test
  void quantizedModelsStayCloseToTheReference() throws Exception {
    // The fast kernels quantize activations to 8 bits as llama.cpp does; the reference does not.
    compare(
        SyntheticModel.Shape.small("qwen2", 256, 2, 4, 2, 512), SyntheticModel.TypeMix.Q8_0, 2e-2);
    compare(
        SyntheticModel.Shape.small("llama", 256, 2, 4, 4, 512),
        SyntheticModel.TypeMix.Q4_K_M,
        2e-2);
    compare(
        SyntheticModel.Shape.small("llama", 256, 2, 8, 2, 512), SyntheticModel.TypeMix.Q4_0, 2e-2);
  }

  @Test
  void loaderRefusesUnknownArchitecturesAndMissingKeysByName() throws Exception {
    Path gpt2 = tmp.resolve("gpt2.gguf");
    new GgufWriter().putString("general.architecture", "gpt2").write(gpt2);
    try (GgufFile f = GgufFile.open(gpt2)) {
      assertThatThrownBy(() -> ModelLoader.load(f))
          .isInstanceOf(GgufFormatException.class)
          .hasMessageContaining("unsupported architecture 'gpt2'")
          .hasMessageContaining("llama, qwen2");
    }
    Path noDim = tmp.resolve("nodim.gguf");
    new GgufWriter().putString("general.architecture", "llama").write(noDim);
    try (GgufFile f = GgufFile.open(noDim)) {
      assertThatThrownBy(() -> ModelLoader.load(f))
          .isInstanceOf(GgufFormatException.class)
          .hasMessageContaining("missing metadata key llama.embedding_length");
    }
  }
}
