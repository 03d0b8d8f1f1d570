package dev.sluice.engine.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.engine.KvCacheSpec;
import dev.sluice.engine.ModelRunner;
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
import org.junit.jupiter.api.Test;

/** The scalar reference used by the GPU tests reproduces stories260K's reference logits. */
class ReferenceModelTest {

  @Test
  void referenceForwardMatchesStoriesLogits() throws Exception {
    Path model = TestModels.stories();
    assumeTrue(
        model != null && Files.isReadable(model),
        "SLUICE_DATA_DIR with models/stories260K.gguf not set: skipping");
    float[][] ref = TestModels.readNpy(model.resolveSibling("stories260K_ref_logits.npy"));
    try (GgufFile f = GgufFile.open(model)) {
      ModelWeights w = ModelLoader.load(f);
      ReferenceModel m = new ReferenceModel(w);
      ReferenceModel.Seq s = m.newSeq();
      double worst = 0;
      for (int i = 0; i < TestModels.STORIES_TOKENS.length; i++) {
        float[] logits = m.step(s, TestModels.STORIES_TOKENS[i]);
        for (int j = 0; j < logits.length; j++) {
          worst = Math.max(worst, Math.abs(logits[j] - ref[i][j]));
        }
        if (i + 1 < TestModels.STORIES_TOKENS.length) {
          assertThat(argmax(logits))
              .as("greedy token after position %d", i)
              .isEqualTo(i >= 4 ? TestModels.STORIES_TOKENS[i + 1] : argmax(ref[i]));
        }
      }
      assertThat(worst).as("max |logit - reference|").isLessThan(1e-3);
    }
  }

  /**
   * The scalar reference agrees with the engine's ScalarBackend (driven through the batched
   * paged-block schedule the GPU tests use), for a llama shape with rope_freqs and the qwen2 shape.
   */
  @Test
  void referenceAgreesWithScalarBackendOnBatchedPagedSchedules() {
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
    for (ModelConfig c : new ModelConfig[] {llama, CudaModelGpuTest.smallQwen(256, 512)}) {
      for (GgmlType type : new GgmlType[] {GgmlType.Q4_K, GgmlType.BF16}) {
        try (Arena arena = Arena.ofConfined();
            ScalarBackend cpu = new ScalarBackend()) {
          ModelWeights w = TestModels.synthetic(c, type, arena, 21, false);
          if (c == llama) {
            w = TestModels.withRopeFreqs(w, arena, 4);
          }
          int[] toks = new int[9];
          for (int i = 0; i < toks.length; i++) {
            toks[i] = (i * 53 + 2) % c.vocabSize();
          }
          float[][][] got;
          try (ModelRunner r = cpu.load(w, new KvCacheSpec(16, 4))) {
            got = CudaModelGpuTest.runSchedule(r, toks, new int[] {1, 4, 9});
          }
          ReferenceModel ref = new ReferenceModel(w);
          ReferenceModel.Seq seq = ref.newSeq();
          for (int p = 0; p < toks.length; p++) {
            float[] want = ref.step(seq, toks[p]);
            for (int s = 0; s < 3; s++) {
              GpuAssert.assertClose(
                  c.architecture() + " " + type + " seq " + s + " position " + p,
                  got[s][p],
                  want,
                  1e-3 * Math.max(1, GpuAssert.maxAbs(want)),
                  1e-3);
            }
          }
        }
      }
    }
  }

  static int argmax(float[] v) {
    int b = 0;
    for (int i = 1; i < v.length; i++) {
      if (v[i] > v[b]) {
        b = i;
      }
    }
    return b;
  }
}
