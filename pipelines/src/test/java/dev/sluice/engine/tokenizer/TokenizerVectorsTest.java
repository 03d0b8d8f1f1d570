package dev.sluice.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * llama.cpp's tokenizer test vectors (tests/test-tokenizer-0 with models/ggml-vocab-*.gguf.inp and
 * .out): every string must encode to exactly the expected ids, without BOS, special tokens not
 * parsed, and decode back as llama.cpp's detokenizer does.
 */
class TokenizerVectorsTest {
  private static final String SEP = "\n__ggml_vocab_test__\n";

  static Stream<Arguments> vocabularies() {
    return Stream.of(
        Arguments.of("llama-spm", "ggml-vocab-llama-spm.gguf", null),
        Arguments.of("llama-bpe", "ggml-vocab-llama-bpe.gguf", null),
        Arguments.of("qwen2", "ggml-vocab-qwen2.gguf", null),
        Arguments.of("deepseek-r1-qwen", "ggml-vocab-qwen2.gguf", "deepseek-r1-qwen"),
        Arguments.of("deepseek-llm", "ggml-vocab-deepseek-llm.gguf", null),
        Arguments.of("deepseek-coder", "ggml-vocab-deepseek-coder.gguf", null));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("vocabularies")
  void encodesAndDecodesEveryVector(String name, String gguf, String pre) throws Exception {
    Tokenizer tok = TokenizerTestData.tokenizer("tokenizers/" + gguf, pre);
    String inp =
        Files.readString(
            TokenizerTestData.file("tokenizers/ggml-vocab-" + name + ".gguf.inp"),
            StandardCharsets.UTF_8);
    String out =
        Files.readString(
            TokenizerTestData.file("tokenizers/ggml-vocab-" + name + ".gguf.out"),
            StandardCharsets.UTF_8);
    List<String> tests = new ArrayList<>(Arrays.asList(inp.split(SEP, -1)));
    assertThat(tests.removeLast()).isEmpty(); // the file ends with a separator
    String[] lines = out.split("\n", -1);
    assertThat(lines.length - 1).isEqualTo(tests.size());

    List<String> failures = new ArrayList<>();
    for (int i = 0; i < tests.size(); i++) {
      String text = tests.get(i);
      String line = lines[i].trim();
      int[] expected =
          line.isEmpty()
              ? new int[0]
              : Arrays.stream(line.split(" ")).mapToInt(Integer::parseInt).toArray();
      int[] actual = tok.encode(text, false, false);
      if (!Arrays.equals(actual, expected)) {
        failures.add(
            "encode #"
                + i
                + " "
                + quote(text)
                + "\n  expected "
                + Arrays.toString(expected)
                + "\n  actual   "
                + Arrays.toString(actual));
      }
      // Byte-level BPE and SentencePiece with byte fallback are lossless; llama-bpe's decoder
      // cleans spaces before punctuation, exactly as llama.cpp's detokenizer does.
      byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
      String expectedText =
          tok.cleansSpaces()
              ? new String(Tokenizer.cleanUpSpaces(utf8), StandardCharsets.UTF_8)
              : text;
      String decoded = tok.decode(expected, true);
      if (!decoded.equals(expectedText)) {
        failures.add("decode #" + i + " " + quote(text) + " -> " + quote(decoded));
      }
    }
    assertThat(failures).as(name).isEmpty();
  }

  private static String quote(String s) {
    StringBuilder sb = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c < 0x20) {
        sb.append(String.format("\\x%02x", (int) c));
      } else {
        sb.append(c);
      }
    }
    return sb.append('"').toString();
  }
}
