package dev.sluice.engine.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.testing.TestData;
import org.junit.jupiter.api.Test;

class ModelLoaderTest {

  @Test
  void readsStories260KHyperParameters() throws Exception {
    try (GgufFile f = GgufFile.open(TestData.file("models/stories260K.gguf"))) {
      ModelWeights w = ModelLoader.load(f);
      ModelConfig c = w.config();
      assertThat(c.architecture()).isEqualTo("llama");
      assertThat(c.dim()).isEqualTo(64);
      assertThat(c.hiddenDim()).isEqualTo(172);
      assertThat(c.layers()).isEqualTo(5);
      assertThat(c.heads()).isEqualTo(8);
      assertThat(c.kvHeads()).isEqualTo(4);
      assertThat(c.headDim()).isEqualTo(8);
      assertThat(c.vocabSize()).isEqualTo(512);
      assertThat(c.ropeTheta()).isEqualTo(10000f);
      assertThat(c.ropeType()).isEqualTo(RopeType.NORM);
      assertThat(c.ropeScale()).isEqualTo(1f);
      assertThat(c.qkvBias()).isFalse();
      assertThat(w.layers()).hasSize(5);
      // This file stores output.weight as a copy of the embedding (not tied by absence).
      assertThat(w.output().name()).isEqualTo("output.weight");
      assertThat(w.output().data().mismatch(w.tokenEmbedding().data())).isEqualTo(-1L);
    }
  }
}
