package dev.sluice.engine.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.model.ModelLoader;
import dev.sluice.engine.model.ModelWeights;
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
