package dev.sluice.engine.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits text into words before byte-level BPE, exactly as llama.cpp's {@code unicode_regex_split}
 * does for the supported {@code tokenizer.ggml.pre} values.
 *
 * <p>Each pre-tokenizer is a list of regular expressions applied in turn: every expression splits
 * every piece produced by the previous one into its matches and the text between them (both are
 * kept, HF's "Isolated" behaviour). The patterns are llama.cpp's, translated to {@code
 * java.util.regex} with three deliberate changes that keep the behaviour identical:
 *
 * <ul>
 *   <li>{@code \s} and {@code \S} are spelled as the Unicode White_Space set, because llama.cpp
 *       treats every White_Space code point as {@code \s} (it collapses non-ASCII spaces to U+000B
 *       before running std::regex), while Java's {@code \s} is ASCII only;
 *   <li>{@code $} becomes {@code \z}: in ECMAScript (std::regex) {@code $} is the end of input, in
 *       Java it would also match before a final line break;
 *   <li>the case-insensitive contractions {@code (?i:'s|...)} are written with explicit classes, as
 *       llama.cpp does, so that Unicode case folding cannot widen them.
 * </ul>
 *
 * Java's {@code \p{L}}, {@code \p{N}}, {@code \p{P}} are the Unicode general categories, as in
 * llama.cpp's generated tables (both follow the Unicode Character Database; they can differ only on
 * code points assigned after llama.cpp's table was generated).
 */
final class PreTokenizer {
  // Unicode White_Space, for use inside a character class.
  private static final String WS =
      "\\t\\n\\x0B\\f\\r\\x20\\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";
  private static final String S = "[" + WS + "]";
  private static final String NS = "[^" + WS + "]";

  private static final String CONTRACTIONS =
      "'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]";

  // llama.cpp LLAMA_VOCAB_PRE_TYPE_LLAMA3 (tokenizer.json of Llama 3).
  private static final String LLAMA3 =
      CONTRACTIONS
          + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^"
          + WS
          + "\\p{L}\\p{N}]+[\\r\\n]*|"
          + S
          + "*[\\r\\n]+|"
          + S
          + "+(?!"
          + NS
          + ")|"
          + S
          + "+";

  // llama.cpp LLAMA_VOCAB_PRE_TYPE_QWEN2: Llama 3's with single digits.
  private static final String QWEN2 =
      CONTRACTIONS
          + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^"
          + WS
          + "\\p{L}\\p{N}]+[\\r\\n]*|"
          + S
          + "*[\\r\\n]+|"
          + S
          + "+(?!"
          + NS
          + ")|"
          + S
          + "+";

  // Letters of the cased scripts, from DeepSeek LLM's tokenizer.json (as in llama.cpp).
  private static final String DEEPSEEK_LETTERS =
      "A-Za-z\\u00B5\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u01BA\\u01BC-\\u01BF\\u01C4-\\u0293"
          + "\\u0295-\\u02AF\\u0370-\\u0373\\u0376\\u0377\\u037B-\\u037D\\u037F\\u0386"
          + "\\u0388-\\u038A\\u038C\\u038E-\\u03A1\\u03A3-\\u03F5\\u03F7-\\u0481\\u048A-\\u052F"
          + "\\u0531-\\u0556\\u10A0-\\u10C5\\u13A0-\\u13F5\\u13F8-\\u13FD\\u1C90-\\u1CBA"
          + "\\u1CBD-\\u1CBF\\u1D00-\\u1D2B\\u1D6B-\\u1D77\\u1D79-\\u1D9A\\u1E00-\\u1F15"
          + "\\u1F18-\\u1F1D\\u1F20-\\u1F45\\u1F48-\\u1F4D\\u1F50-\\u1F57\\u1F59\\u1F5B\\u1F5D"
          + "\\u1F5F-\\u1F7D\\u1F80-\\u1FB4\\u1FB6-\\u1FBC\\u1FBE\\u1FC2-\\u1FC4\\u1FC6-\\u1FCC"
          + "\\u1FD0-\\u1FD3\\u1FD6-\\u1FDB\\u1FE0-\\u1FEC\\u1FF2-\\u1FF4\\u1FF6-\\u1FFC\\u2102"
          + "\\u2107\\u210A-\\u2113\\u2115\\u2119-\\u211D\\u2124\\u2126\\u2128\\u212A-\\u212D"
          + "\\u212F-\\u2134\\u2139\\u213C-\\u213F\\u2145-\\u2149\\u214E\\u2183\\u2184"
          + "\\u2C00-\\u2C7B\\u2C7E-\\u2CE4\\u2CEB-\\u2CEE\\u2CF2\\u2CF3\\uA640-\\uA66D"
          + "\\uA680-\\uA69B\\uA722-\\uA76F\\uA771-\\uA787\\uA78B-\\uA78E\\uAB70-\\uABBF"
          + "\\uFB00-\\uFB06\\uFB13-\\uFB17\\uFF21-\\uFF3A\\uFF41-\\uFF5A\\x{10400}-\\x{1044F}"
          + "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"
          + "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}";

  // CJK ideographs, U+0800..U+4E00 and Hangul, as in DeepSeek's tokenizer.json.
  private static final String DEEPSEEK_CJK = "[\\u4E00-\\u9FA5\\u0800-\\u4E00\\uAC00-\\uD7FF]+";

  private final String name;
  private final Pattern[] patterns;

  private PreTokenizer(String name, String... regexes) {
    this.name = name;
    this.patterns = new Pattern[regexes.length];
    for (int i = 0; i < regexes.length; i++) {
      patterns[i] = Pattern.compile(regexes[i]);
    }
  }

  /**
   * The pre-tokenizer named by {@code tokenizer.ggml.pre}; {@code null} for the names this engine
   * does not implement.
   */
  static PreTokenizer forName(String pre) {
    return switch (pre) {
      case "llama3", "llama-v3", "llama-bpe" -> new PreTokenizer(pre, LLAMA3);
      case "qwen2", "deepseek-r1-qwen" -> new PreTokenizer(pre, QWEN2);
      case "deepseek-llm" ->
          new PreTokenizer(
              pre,
              "[\\r\\n]",
              S + "?[" + DEEPSEEK_LETTERS + "]+",
              S + "?[!-/:-~\\uFF01-\\uFF0F\\uFF1A-\\uFF5E\\u2018-\\u201F\\u3000-\\u3002]+",
              S + "+\\z",
              DEEPSEEK_CJK,
              "\\p{N}+");
      case "deepseek-coder" ->
          new PreTokenizer(pre, "[\\r\\n]", S + "?\\p{L}+", S + "?\\p{P}+", DEEPSEEK_CJK, "\\p{N}");
      default -> null;
    };
  }

  /** The supported names, for error messages. */
  static String supportedNames() {
    return "llama-bpe (llama3, llama-v3), qwen2, deepseek-r1-qwen, deepseek-llm, deepseek-coder";
  }

  String name() {
    return name;
  }

  /** Splits {@code text} into words; the words concatenate back to {@code text}. */
  List<String> split(String text) {
    List<String> pieces = new ArrayList<>();
    pieces.add(text);
    for (Pattern p : patterns) {
      List<String> next = new ArrayList<>(pieces.size() * 2);
      for (String piece : pieces) {
        Matcher m = p.matcher(piece);
        int last = 0;
        while (m.find()) {
          if (m.start() > last) {
            next.add(piece.substring(last, m.start()));
          }
          if (m.end() > m.start()) {
            next.add(piece.substring(m.start(), m.end()));
          }
          last = m.end();
        }
        if (last < piece.length()) {
          next.add(piece.substring(last));
        }
      }
      pieces = next;
    }
    return pieces;
  }
}
