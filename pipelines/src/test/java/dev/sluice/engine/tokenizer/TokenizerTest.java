package dev.sluice.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class TokenizerTest {

  private static Tokenizer stories() {
    return TokenizerTestData.tokenizer("models/stories260K.gguf", null);
  }

  private static Tokenizer qwen2() {
    return TokenizerTestData.tokenizer("tokenizers/ggml-vocab-qwen2.gguf", null);
  }

  @Test
  void stories260kPromptWithBos() {
    Tokenizer tok = stories();
    assertThat(tok.kind()).isEqualTo(Tokenizer.Kind.SENTENCEPIECE);
    assertThat(tok.encode("Once upon a time", true, false)).containsExactly(1, 403, 407, 261, 378);
    assertThat(tok.encode("Once upon a time", false, false)).containsExactly(403, 407, 261, 378);
    assertThat(tok.bosId()).isEqualTo(1);
    assertThat(tok.eosId()).isEqualTo(2);
    assertThat(tok.isEndOfGeneration(2)).isTrue();
    assertThat(tok.decode(new int[] {1, 403, 407, 261, 378})).isEqualTo(" Once upon a time");
    assertThat(tok.decode(new int[] {403, 407, 261, 378})).isEqualTo("Once upon a time");
  }

  @Test
  void stories260kByteFallbackRoundTrips() {
    Tokenizer tok = stories();
    String text = "Grüße, 世界! 🦙";
    int[] ids = tok.encode(text, false, false);
    assertThat(Arrays.stream(ids).anyMatch(id -> tok.tokenType(id) == TokenType.BYTE)).isTrue();
    assertThat(tok.decode(ids)).isEqualTo(text);
  }

  @Test
  void controlTokensAreParsedOnlyWhenAsked() {
    Tokenizer tok = qwen2();
    int imStart = tok.tokenId("<|im_start|>");
    assertThat(imStart).isEqualTo(151644);
    assertThat(tok.encode("<|im_start|>user", false, true)).startsWith(imStart);
    assertThat(tok.encode("<|im_start|>user", false, false)).doesNotContain(imStart);
    // Rendering: hidden by default, shown with renderSpecial.
    int[] ids = tok.encode("<|im_start|>user\nhi<|im_end|>", false, true);
    assertThat(tok.decode(ids, true)).isEqualTo("<|im_start|>user\nhi<|im_end|>");
    assertThat(tok.decode(ids, false)).isEqualTo("user\nhi");
    assertThat(tok.isEndOfGeneration(tok.tokenId("<|im_end|>"))).isTrue();
    assertThat(tok.isEndOfGeneration(tok.tokenId("<|endoftext|>"))).isTrue();
    assertThat(tok.eotId()).isEqualTo(tok.tokenId("<|im_end|>"));
    assertThat(tok.addsBos()).isFalse();
    assertThat(tok.encode("hi", true, false)).containsExactly(6023); // no BOS for Qwen2
  }

  @Test
  void userDefinedTokensMatchEvenWithoutParseSpecial() {
    Tokenizer tok = qwen2();
    int think = tok.tokenId("<think>");
    assertThat(tok.tokenType(think)).isEqualTo(TokenType.USER_DEFINED);
    assertThat(tok.encode("<think>\nok", false, false)).startsWith(think);
  }

  @Test
  void llama3AddsBegin() {
    Tokenizer tok = TokenizerTestData.tokenizer("tokenizers/ggml-vocab-llama-bpe.gguf", null);
    assertThat(tok.encode("Hello", true, false)).startsWith(128000);
    assertThat(tok.isEndOfGeneration(tok.tokenId("<|eot_id|>"))).isTrue();
  }

  @Test
  void unknownPreTokenizerIsRefusedByName() {
    TokenizerTestData.file("tokenizers/ggml-vocab-qwen2.gguf");
    assertThatThrownBy(
            () -> TokenizerTestData.tokenizer("tokenizers/ggml-vocab-qwen2.gguf", "falcon"))
        .isInstanceOf(TokenizerException.class)
        .hasMessageContaining("'falcon'")
        .hasMessageContaining("tokenizer.ggml.pre");
  }

  @Test
  void streamingNeverSplitsACharacter() {
    for (Tokenizer tok :
        List.of(
            stories(),
            qwen2(),
            TokenizerTestData.tokenizer("tokenizers/ggml-vocab-llama-spm.gguf", null))) {
      String text = "Hi 🦙 — naïve 世界!\n\tdone ✓";
      int[] ids = tok.encode(text, false, false);
      StreamingDetokenizer d = tok.newStreamingDetokenizerFromStart(false);
      StringBuilder sb = new StringBuilder();
      List<String> chunks = new ArrayList<>();
      for (int id : ids) {
        String s = d.push(id);
        assertThat(s).doesNotContain("\uFFFD");
        chunks.add(s);
        sb.append(s);
      }
      sb.append(d.flush());
      assertThat(sb.toString()).isEqualTo(text);
      assertThat(sb.toString()).isEqualTo(tok.decode(ids));
    }
  }

  @Test
  void streamingContinuationKeepsTheSentencePieceSpace() {
    Tokenizer tok = stories();
    int[] ids = tok.encode("Once upon a time", true, false);
    StreamingDetokenizer d = tok.newStreamingDetokenizer(false);
    StringBuilder sb = new StringBuilder();
    for (int i = 2; i < ids.length; i++) {
      sb.append(d.push(ids[i]));
    }
    assertThat(sb.toString()).isEqualTo(" upon a time");
  }

  @Test
  void completePrefixHoldsBackOnlyIncompleteCharacters() {
    byte[] euro = "€".getBytes(StandardCharsets.UTF_8); // E2 82 AC
    assertThat(StreamingDetokenizer.completePrefix(new byte[] {'a', euro[0]}, 2)).isEqualTo(1);
    assertThat(StreamingDetokenizer.completePrefix(new byte[] {'a', euro[0], euro[1]}, 3))
        .isEqualTo(1);
    assertThat(StreamingDetokenizer.completePrefix(euro, 3)).isEqualTo(3);
    // An invalid byte is not waited for.
    assertThat(StreamingDetokenizer.completePrefix(new byte[] {'a', (byte) 0xFF}, 2)).isEqualTo(2);
    assertThat(StreamingDetokenizer.completePrefix(new byte[] {(byte) 0x82, (byte) 0x82}, 2))
        .isEqualTo(2);
  }
}
