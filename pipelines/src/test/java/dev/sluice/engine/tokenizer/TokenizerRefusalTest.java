package dev.sluice.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.engine.chat.ChatTemplate;
import dev.sluice.engine.chat.ChatTemplateException;
import dev.sluice.engine.gguf.GgufFile;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tokenizers and templates that Sluice cannot honour are refused by name at load time. */
class TokenizerRefusalTest {
  private static final String[] TOKENS = {"a", "b", "ab", "<|im_start|>", "<|im_end|>"};

  private static Tokenizer load(Path file) throws Exception {
    try (GgufFile f = GgufFile.open(file)) {
      return Tokenizer.fromGguf(f);
    }
  }

  @Test
  void unknownModelIsRefused(@TempDir Path tmp) throws Exception {
    Path p =
        new MiniGguf()
            .put("tokenizer.ggml.model", "bert")
            .put("tokenizer.ggml.tokens", TOKENS)
            .write(tmp.resolve("bert.gguf"));
    assertThatThrownBy(() -> load(p))
        .isInstanceOf(TokenizerException.class)
        .hasMessageContaining("tokenizer.ggml.model = 'bert'");
  }

  @Test
  void unknownOrMissingPreTokenizerIsRefused(@TempDir Path tmp) throws Exception {
    Path falcon =
        new MiniGguf()
            .put("tokenizer.ggml.model", "gpt2")
            .put("tokenizer.ggml.pre", "falcon")
            .put("tokenizer.ggml.tokens", TOKENS)
            .put("tokenizer.ggml.merges", new String[] {"a b"})
            .write(tmp.resolve("falcon.gguf"));
    assertThatThrownBy(() -> load(falcon))
        .isInstanceOf(TokenizerException.class)
        .hasMessageContaining("tokenizer.ggml.pre = 'falcon'");
    Path none =
        new MiniGguf()
            .put("tokenizer.ggml.model", "gpt2")
            .put("tokenizer.ggml.tokens", TOKENS)
            .put("tokenizer.ggml.merges", new String[] {"a b"})
            .write(tmp.resolve("none.gguf"));
    assertThatThrownBy(() -> load(none))
        .isInstanceOf(TokenizerException.class)
        .hasMessageContaining("without tokenizer.ggml.pre");
  }

  @Test
  void smallByteLevelVocabularyWorksAndTemplateComesFromTheFile(@TempDir Path tmp)
      throws Exception {
    Path p =
        new MiniGguf()
            .put("tokenizer.ggml.model", "gpt2")
            .put("tokenizer.ggml.pre", "qwen2")
            .put("tokenizer.ggml.tokens", TOKENS)
            .put("tokenizer.ggml.token_type", new int[] {1, 1, 1, 3, 3})
            .put("tokenizer.ggml.merges", new String[] {"a b"})
            .put("tokenizer.ggml.eos_token_id", 4)
            .put(
                "tokenizer.chat_template",
                "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] +"
                    + " '<|im_end|>\\n'}}{% endfor %}")
            .write(tmp.resolve("tiny.gguf"));
    try (GgufFile f = GgufFile.open(p)) {
      Tokenizer tok = Tokenizer.fromGguf(f);
      assertThat(tok.encode("abab", false, false)).containsExactly(2, 2);
      assertThat(tok.encode("<|im_start|>ab", false, true)).containsExactly(3, 2);
      assertThat(tok.isEndOfGeneration(4)).isTrue();
      assertThat(ChatTemplate.fromGguf(f, tok).family()).isEqualTo(ChatTemplate.Family.CHATML);
    }
  }

  @Test
  void modelWithoutTemplateSaysSo() {
    Path p = TokenizerTestData.file("models/stories260K.gguf");
    assertThatThrownBy(
            () -> {
              try (GgufFile f = GgufFile.open(p)) {
                ChatTemplate.fromGguf(f, Tokenizer.fromGguf(f));
              }
            })
        .isInstanceOf(ChatTemplateException.class)
        .hasMessageContaining("no tokenizer.chat_template");
  }
}
