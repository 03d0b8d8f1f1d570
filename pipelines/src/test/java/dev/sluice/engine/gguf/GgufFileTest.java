package dev.sluice.engine.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufFileTest {

  static Path dataDir() {
    String d = System.getProperty("sluice.data.dir", System.getenv("SLUICE_DATA_DIR"));
    assumeTrue(
        d != null && !d.isBlank() && Files.isDirectory(Path.of(d)),
        "SLUICE_DATA_DIR (the shared data folder with models/ and tokenizers/) is not set");
    return Path.of(d);
  }

  @Test
  void readsStories260K() throws Exception {
    Path model = dataDir().resolve("models/stories260K.gguf");
    try (GgufFile f = GgufFile.open(model)) {
      assertThat(f.version()).isEqualTo(3);
      assertThat(f.tensors()).hasSize(48);
      assertThat(f.getString("general.architecture", null)).isEqualTo("llama");
      assertThat(f.getLong("llama.embedding_length", 0)).isEqualTo(64);
      assertThat(f.require("tokenizer.ggml.tokens", String[].class)).hasSize(512);
      GgufTensor emb = f.tensor("token_embd.weight");
      assertThat(emb.type()).isEqualTo(GgmlType.F32);
      assertThat(emb.cols()).isEqualTo(64);
      assertThat(emb.rows()).isEqualTo(512);
      assertThat(emb.data().byteSize()).isEqualTo(512L * 64 * 4);
    }
  }

  @Test
  void truncatedFileNamesWhatIsMissing(@TempDir Path tmp) throws Exception {
    Path model = dataDir().resolve("models/stories260K.gguf");
    byte[] all = Files.readAllBytes(model);
    Path cut = tmp.resolve("cut.gguf");
    Files.write(cut, java.util.Arrays.copyOf(all, all.length - 1000));
    assertThatThrownBy(() -> GgufFile.open(cut).close())
        .isInstanceOf(GgufFormatException.class)
        .hasMessageContaining("runs past the end of the file");
  }

  @Test
  void notGguf(@TempDir Path tmp) throws Exception {
    Path p = tmp.resolve("x.gguf");
    Files.writeString(p, "hello, this is not a model file at all");
    assertThatThrownBy(() -> GgufFile.open(p).close())
        .isInstanceOf(GgufFormatException.class)
        .hasMessageContaining("not a GGUF file");
  }
}
