package dev.sluice.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Random multi-script strings (contractions, digits, every kind of space, line breaks, combining
 * marks, emoji, CJK, control characters, chat markers) tokenized by Sluice from the GGUF vocabulary
 * and by Hugging Face's Rust tokenizers from the model's tokenizer.json must give the same ids.
 *
 * <p>Two known, deliberate differences are factored out: Qwen's tokenizer.json NFC-normalizes its
 * input and llama.cpp does not (so the strings are NFC already), and Hugging Face always matches
 * special tokens (so Sluice runs with {@code parseSpecial = true}).
 */
class HfTokenizerDifferentialTest {
  private static final String[] POOL = {
    "a",
    "b",
    "Z",
    "e",
    "s",
    "t",
    " ",
    "  ",
    "\n",
    "\r\n",
    "\t",
    "'s",
    "'T",
    "'re",
    "'LL",
    " '",
    "1",
    "23",
    "456",
    "7890",
    ".",
    ",",
    "!",
    "?",
    "...",
    "-",
    "_",
    "(",
    ")",
    "$",
    "€",
    "é",
    "ñ",
    "ü",
    "ß",
    "Ω",
    "я",
    "Ж",
    "ا",
    "ש",
    "中",
    "文",
    "日本",
    "한국어",
    "ไทย",
    "🦙",
    "👍🏽",
    "😀",
    "\u00A0",
    "\u2003",
    "\u3000",
    "\u0301",
    "\u200B",
    "\u2028",
    "\uFEFF",
    "©",
    "½",
    "²",
    "Ⅻ",
    "٣",
    "¹",
    "ǅ",
    "ﬁ",
    "𝔘",
    "\u0085",
    "\u000B",
    "\u001F",
    "<|im_end|>",
    "<think>",
    "  \n ",
    "\n\n\n",
    "ab cd"
  };

  @ParameterizedTest(name = "{0} vs {1}")
  @CsvSource({
    "ggml-vocab-qwen2.gguf, qwen3/tokenizer.json",
    "ggml-vocab-llama-bpe.gguf, llama3/tokenizer.json"
  })
  void sameIdsAsHuggingFace(String gguf, String tokenizerJson) throws Exception {
    Tokenizer tok = TokenizerTestData.tokenizer("tokenizers/" + gguf, null);
    Path json = TokenizerTestData.file("tokenizers/" + tokenizerJson);
    List<String> failures = new ArrayList<>();
    System.setProperty("OPT_OUT_TRACKING", "true"); // DJL: no EC2 metadata probe
    try (HuggingFaceTokenizer hf =
        HuggingFaceTokenizer.builder().optTokenizerPath(json).optAddSpecialTokens(false).build()) {
      Random r = new Random(20261128);
      for (int i = 0; i < 2000; i++) {
        StringBuilder sb = new StringBuilder();
        int len = 1 + r.nextInt(12);
        for (int j = 0; j < len; j++) {
          sb.append(POOL[r.nextInt(POOL.length)]);
        }
        String s = Normalizer.normalize(sb.toString(), Normalizer.Form.NFC);
        int[] mine = tok.encode(s, false, true);
        int[] theirs =
            Arrays.stream(hf.encode(s, false, false).getIds()).mapToInt(x -> (int) x).toArray();
        if (!Arrays.equals(mine, theirs) && failures.size() < 10) {
          failures.add(
              s + "\n  sluice " + Arrays.toString(mine) + "\n  hf     " + Arrays.toString(theirs));
        }
      }
    }
    assertThat(failures).isEmpty();
  }
}
