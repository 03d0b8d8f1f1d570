package dev.sluice.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.engine.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class GeneratedTextTest {

  private static Tokenizer qwen2() throws Exception {
    String d = System.getProperty("sluice.data.dir", System.getenv("SLUICE_DATA_DIR"));
    assumeTrue(d != null && !d.isBlank(), "SLUICE_DATA_DIR (the shared data folder) is not set");
    Path p = Path.of(d, "tokenizers", "ggml-vocab-qwen2.gguf");
    assumeTrue(Files.isRegularFile(p), "missing " + p);
    return Tokenizer.load(p);
  }

  @Test
  void stopStringAcrossTokensAndMultiByteCharacters() throws Exception {
    Tokenizer tok = qwen2();
    int[] ids = tok.encode("Sure 🦙! The answer is 42.\n\nQuestion: more?", false, false);
    GeneratedText out = new GeneratedText(tok, List.of("\n\nQuestion:"), false);
    StringBuilder sb = new StringBuilder();
    int used = 0;
    for (int id : ids) {
      sb.append(out.push(id));
      used++;
      if (out.stopped()) {
        break;
      }
    }
    assertThat(out.stopped()).isTrue();
    assertThat(used).isLessThan(ids.length);
    assertThat(sb.toString()).isEqualTo("Sure 🦙! The answer is 42.");
    assertThat(out.finish()).isEmpty();
  }

  @Test
  void withoutAStopEverythingComesOutByTheEnd() throws Exception {
    Tokenizer tok = qwen2();
    String text = "naïve café — 世界 ";
    GeneratedText out = new GeneratedText(tok, List.of("café!"), false);
    StringBuilder sb = new StringBuilder();
    for (int id : tok.encode(text, false, false)) {
      String s = out.push(id);
      assertThat(s).doesNotContain("\uFFFD");
      sb.append(s);
    }
    sb.append(out.finish());
    assertThat(out.stopped()).isFalse();
    assertThat(sb.toString()).isEqualTo(text);
  }

  @Test
  void stopTokensJoinTheModelsEndOfGeneration() {
    SamplingParams p = SamplingParams.builder().stopTokenIds(List.of(9, 3)).build();
    assertThat(p.stopTokens(new int[] {3, 151645})).containsExactly(3, 9, 151645);
  }
}
