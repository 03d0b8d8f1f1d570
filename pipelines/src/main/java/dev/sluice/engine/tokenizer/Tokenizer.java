package dev.sluice.engine.tokenizer;

import dev.sluice.engine.gguf.GgufFile;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The tokenizer of a GGUF model, built from its {@code tokenizer.ggml.*} metadata, that encodes and
 * decodes exactly as llama.cpp's {@code llama_vocab} does.
 *
 * <p>Two models are supported: SentencePiece ({@code tokenizer.ggml.model = llama}: score-driven
 * merges, {@code ▁} for spaces, a leading space, byte fallback through {@code <0xAB>} tokens) and
 * byte-level BPE ({@code gpt2}) with the pre-tokenizers {@code llama-bpe}, {@code qwen2}, {@code
 * deepseek-r1-qwen}, {@code deepseek-llm} and {@code deepseek-coder}. Anything else is refused at
 * construction with a {@link TokenizerException} naming the value, never tokenized wrongly.
 *
 * <p>Special tokens follow llama.cpp: user-defined tokens are always matched in the text before the
 * model runs; control tokens ({@code <|im_start|>}, {@code <｜User｜>}, ...) only when {@code
 * parseSpecial} is set, so that user text cannot forge chat markers. End-of-generation tokens (EOS,
 * EOT and the markers llama.cpp recognises by name) are reported by {@link #isEndOfGeneration}.
 *
 * <p>Instances are immutable and thread-safe (the BPE word cache is concurrent).
 */
public final class Tokenizer {
  /** The tokenizer model family. */
  public enum Kind {
    /** SentencePiece BPE with byte fallback ({@code tokenizer.ggml.model = llama}). */
    SENTENCEPIECE,
    /** GPT-2 style byte-level BPE ({@code tokenizer.ggml.model = gpt2}). */
    BYTE_LEVEL_BPE
  }

  private static final String SPACE_MARK = "\u2581"; // ▁

  private final Kind kind;
  private final String preName;
  private final String[] texts;
  private final float[] scores;
  private final TokenType[] types;
  private final Map<String, Integer> ids;
  private final byte[][] pieces; // token_to_piece(special = true)
  private final int[] specialTokens; // llama.cpp cache_special_tokens: longest text first
  private final BitSet eog = new BitSet();
  private final int bos;
  private final int eos;
  private final int eot;
  private final int unk;
  private final boolean addBos;
  private final boolean addEos;
  private final boolean addSpacePrefix;
  private final boolean cleanSpaces;
  private final int[] spmByteTokens; // SentencePiece: byte -> <0xAB> token, or -1
  private final TextIndex spmIndex; // SentencePiece: token lookup by text range
  private final PreTokenizer pre;
  private final BpeModel bpe;

  private Tokenizer(GgufFile f, String preOverride) {
    String model = f.getString("tokenizer.ggml.model", null);
    if (model == null) {
      throw new TokenizerException(f.path() + ": missing metadata key tokenizer.ggml.model");
    }
    String preKey = preOverride != null ? preOverride : f.getString("tokenizer.ggml.pre", null);
    texts = f.require("tokenizer.ggml.tokens", String[].class).clone();
    int n = texts.length;
    if (n == 0) {
      throw new TokenizerException(f.path() + ": tokenizer.ggml.tokens is empty");
    }
    Object sc = f.get("tokenizer.ggml.scores");
    scores = sc instanceof float[] s ? s : new float[n];
    Object tt = f.get("tokenizer.ggml.token_type");
    int[] rawTypes = tt instanceof int[] t ? t : null;
    if (scores.length != n || (rawTypes != null && rawTypes.length != n)) {
      throw new TokenizerException(
          f.path()
              + ": tokenizer.ggml.scores/token_type lengths do not match tokenizer.ggml.tokens ("
              + n
              + ")");
    }
    types = new TokenType[n];
    ids = HashMap.newHashMap(n);
    for (int i = 0; i < n; i++) {
      if (texts[i].isEmpty()) {
        texts[i] = "[EMPTY_" + i + "]"; // as llama.cpp, so that every id has a distinct text
      }
      ids.put(texts[i], i);
      types[i] = rawTypes == null ? TokenType.NORMAL : TokenType.fromGguf(rawTypes[i]);
    }

    boolean spaceprefix;
    boolean clean;
    boolean bosFlag;
    boolean ignoreMerges = false;
    int bosId;
    int eosId;
    int unkId;
    switch (model) {
      case "llama" -> {
        kind = Kind.SENTENCEPIECE;
        pre = null;
        preName = "default";
        spaceprefix = true;
        clean = false;
        bosFlag = true;
        bosId = 1;
        eosId = 2;
        unkId = 0;
      }
      case "gpt2" -> {
        kind = Kind.BYTE_LEVEL_BPE;
        if (preKey == null) {
          throw new TokenizerException(
              f.path()
                  + ": byte-level BPE model without tokenizer.ggml.pre; supported pre-tokenizers: "
                  + PreTokenizer.supportedNames());
        }
        pre = PreTokenizer.forName(preKey);
        if (pre == null) {
          throw new TokenizerException(
              f.path()
                  + ": unsupported pre-tokenizer tokenizer.ggml.pre = '"
                  + preKey
                  + "' (supported: "
                  + PreTokenizer.supportedNames()
                  + ")");
        }
        preName = preKey;
        spaceprefix = false;
        clean = true;
        bosFlag = false;
        switch (preKey) {
          case "llama3", "llama-v3", "llama-bpe" -> {
            ignoreMerges = true;
            bosFlag = true;
          }
          default -> clean = false; // qwen2, deepseek-*: clean_spaces = false in llama.cpp
        }
        bosId = 11;
        eosId = 11;
        unkId = -1;
      }
      default ->
          throw new TokenizerException(
              f.path()
                  + ": unsupported tokenizer tokenizer.ggml.model = '"
                  + model
                  + "' (supported: llama (SentencePiece), gpt2 (byte-level BPE))");
    }
    Object sp = f.get("tokenizer.ggml.add_space_prefix");
    if (sp instanceof Boolean b) {
      spaceprefix = b;
    }
    addSpacePrefix = spaceprefix;
    cleanSpaces = clean;

    bosId = specialId(f, "tokenizer.ggml.bos_token_id", bosId, n);
    eosId = specialId(f, "tokenizer.ggml.eos_token_id", eosId, n);
    unkId = specialId(f, "tokenizer.ggml.unknown_token_id", unkId, n);
    int eotId = specialId(f, "tokenizer.ggml.eot_token_id", -1, n);
    int eomId = specialId(f, "tokenizer.ggml.eom_token_id", -1, n);
    int fimPad = specialId(f, "tokenizer.ggml.fim_pad_token_id", -1, n);
    int fimRep = specialId(f, "tokenizer.ggml.fim_rep_token_id", -1, n);
    int fimSep = specialId(f, "tokenizer.ggml.fim_sep_token_id", -1, n);
    int fimPre = specialId(f, "tokenizer.ggml.fim_pre_token_id", -1, n);
    fimPre = specialId(f, "tokenizer.ggml.prefix_token_id", fimPre, n);
    int fimSuf = specialId(f, "tokenizer.ggml.fim_suf_token_id", -1, n);
    fimSuf = specialId(f, "tokenizer.ggml.suffix_token_id", fimSuf, n);
    int fimMid = specialId(f, "tokenizer.ggml.fim_mid_token_id", -1, n);
    fimMid = specialId(f, "tokenizer.ggml.middle_token_id", fimMid, n);
    Object ab = f.get("tokenizer.ggml.add_bos_token");
    addBos = ab instanceof Boolean b ? b : bosFlag;
    Object ae = f.get("tokenizer.ggml.add_eos_token");
    addEos = ae instanceof Boolean b && b;

    // llama.cpp recognises these markers by their text (and forces them to be control tokens).
    if (eotId < 0) {
      eotId =
          findControl(
              "<|eot_id|>",
              "<|im_end|>",
              "<|end|>",
              "<end_of_turn>",
              "<|endoftext|>",
              "<EOT>",
              "<｜end▁of▁sentence｜>");
    }
    if (eomId < 0) {
      eomId = findControl("<|eom_id|>");
    }
    if (fimPre < 0) {
      fimPre = findControl("<|fim_prefix|>", "<fim-prefix>", "<｜fim▁begin｜>", "<PRE>");
    }
    if (fimSuf < 0) {
      fimSuf = findControl("<|fim_suffix|>", "<fim-suffix>", "<｜fim▁hole｜>", "<SUF>");
    }
    if (fimMid < 0) {
      fimMid = findControl("<|fim_middle|>", "<fim-middle>", "<｜fim▁end｜>", "<MID>");
    }
    if (fimPad < 0) {
      fimPad = findControl("<|fim_pad|>", "<fim-pad>", "<PAD>");
    }
    if (fimRep < 0) {
      fimRep = findControl("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>");
    }
    if (fimSep < 0) {
      fimSep = findControl("<|file_sep|>");
    }
    for (int id : new int[] {fimPad, fimRep, fimSep, eosId, eotId, eomId}) {
      if (id >= 0 && id < n) {
        eog.set(id);
      }
    }
    for (String name :
        new String[] {
          "<|eot_id|>",
          "<|im_end|>",
          "<|end|>",
          "<end_of_turn>",
          "<|endoftext|>",
          "<|eom_id|>",
          "<EOT>"
        }) {
      int id = findControl(name);
      if (id >= 0) {
        eog.set(id);
      }
    }
    // llama.cpp's defaults (BOS/EOS 11 for byte-level BPE) may not exist in a small vocabulary.
    bos = bosId < n ? bosId : -1;
    eos = eosId < n ? eosId : -1;
    eot = eotId;
    unk = unkId < n ? unkId : -1;

    // Special tokens matched in raw text, longest (in UTF-8 bytes) first.
    List<Integer> specials = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      if (types[i] == TokenType.CONTROL
          || types[i] == TokenType.USER_DEFINED
          || types[i] == TokenType.UNKNOWN) {
        specials.add(i);
      }
    }
    int[] byteLen = new int[n];
    for (int i : specials) {
      byteLen[i] = texts[i].getBytes(StandardCharsets.UTF_8).length;
    }
    specials.sort(Comparator.<Integer>comparingInt(i -> -byteLen[i]).thenComparingInt(i -> i));
    specialTokens = specials.stream().mapToInt(Integer::intValue).toArray();

    if (kind == Kind.SENTENCEPIECE) {
      spmByteTokens = new int[256];
      for (int b = 0; b < 256; b++) {
        Integer id = ids.get(String.format("<0x%02X>", b));
        if (id == null && b < 0x80) {
          id = ids.get(String.valueOf((char) b));
        }
        spmByteTokens[b] = id == null ? -1 : id;
      }
      spmIndex = new TextIndex(texts);
      bpe = null;
    } else {
      spmByteTokens = null;
      spmIndex = null;
      String[] merges = f.require("tokenizer.ggml.merges", String[].class);
      bpe = new BpeModel(texts, ids, merges, ignoreMerges);
    }

    pieces = new byte[n][];
    for (int i = 0; i < n; i++) {
      pieces[i] = computePiece(i);
    }
  }

  /**
   * Builds the tokenizer of a GGUF file from its metadata.
   *
   * @throws TokenizerException if the tokenizer model or pre-tokenizer is not supported, or the
   *     metadata is inconsistent (the message names the key)
   */
  public static Tokenizer fromGguf(GgufFile file) {
    return new Tokenizer(file, null);
  }

  /**
   * Builds the tokenizer of {@code file} but with {@code tokenizer.ggml.pre} replaced by {@code
   * pre} (for vocabularies shared by several pre-tokenizer names, e.g. DeepSeek-R1-Distill-Qwen's
   * {@code deepseek-r1-qwen} on Qwen2's vocabulary).
   */
  public static Tokenizer fromGguf(GgufFile file, String pre) {
    return new Tokenizer(file, pre);
  }

  /**
   * Reads the tokenizer of the GGUF file at {@code path} (the tokenizer keeps no reference to the
   * file, which is closed on return).
   */
  public static Tokenizer load(java.nio.file.Path path) throws java.io.IOException {
    try (GgufFile f = GgufFile.open(path)) {
      return fromGguf(f);
    }
  }

  private static int specialId(GgufFile f, String key, int dflt, int n) {
    long v = f.getLong(key, -1);
    return v >= 0 && v < n ? (int) v : dflt;
  }

  private int findControl(String... names) {
    for (String name : names) {
      Integer id = ids.get(name);
      if (id != null) {
        types[id] = TokenType.CONTROL;
        return id;
      }
    }
    return -1;
  }

  // ---------------------------------------------------------------------------------------------
  // Vocabulary

  public Kind kind() {
    return kind;
  }

  /** The {@code tokenizer.ggml.pre} in force ({@code default} for SentencePiece). */
  public String preTokenizer() {
    return preName;
  }

  public int vocabSize() {
    return texts.length;
  }

  /** The beginning-of-sequence token id, or -1. */
  public int bosId() {
    return bos;
  }

  /** The end-of-sequence token id, or -1. */
  public int eosId() {
    return eos;
  }

  /** The end-of-turn token id ({@code <|im_end|>}, {@code <|eot_id|>}, ...), or -1. */
  public int eotId() {
    return eot;
  }

  /** The unknown token id, or -1. */
  public int unknownId() {
    return unk;
  }

  /** Whether the model asks for BOS to be prepended ({@code add_bos_token} or its default). */
  public boolean addsBos() {
    return addBos;
  }

  /** Whether {@code id} ends generation (EOS, EOT, EOM and the end markers llama.cpp knows). */
  public boolean isEndOfGeneration(int id) {
    return id >= 0 && eog.get(id);
  }

  /** All end-of-generation ids, ascending. */
  public int[] endOfGenerationIds() {
    return eog.stream().toArray();
  }

  /** The vocabulary text of {@code id} (byte-level or {@code ▁}-escaped, as stored). */
  public String tokenText(int id) {
    return texts[checkId(id)];
  }

  public TokenType tokenType(int id) {
    return types[checkId(id)];
  }

  /** Whether {@code id} is a control or unknown token (hidden when decoding without specials). */
  public boolean isControl(int id) {
    TokenType t = types[checkId(id)];
    return t == TokenType.CONTROL || t == TokenType.UNKNOWN;
  }

  /** The id of the token whose vocabulary text is exactly {@code text}, or -1. */
  public int tokenId(String text) {
    Integer id = ids.get(text);
    return id == null ? -1 : id;
  }

  /**
   * The bytes {@code id} stands for when decoded with special tokens rendered (llama.cpp's {@code
   * token_to_piece(special = true)}). The array is shared: do not modify it.
   */
  public byte[] tokenBytes(int id) {
    return pieces[checkId(id)];
  }

  /** The bytes of {@code id}, empty for control/unknown tokens unless {@code special}. */
  byte[] piece(int id, boolean special) {
    checkId(id);
    if (!special && (types[id] == TokenType.CONTROL || types[id] == TokenType.UNKNOWN)) {
      return EMPTY;
    }
    return pieces[id];
  }

  private static final byte[] EMPTY = new byte[0];

  private int checkId(int id) {
    if (id < 0 || id >= texts.length) {
      throw new IllegalArgumentException(
          "token id " + id + " out of range [0, " + texts.length + ")");
    }
    return id;
  }

  private byte[] computePiece(int id) {
    TokenType t = types[id];
    String text = texts[id];
    if (t == TokenType.CONTROL || t == TokenType.UNKNOWN || t == TokenType.USER_DEFINED) {
      return text.getBytes(StandardCharsets.UTF_8);
    }
    if (kind == Kind.SENTENCEPIECE) {
      if (t == TokenType.NORMAL) {
        return text.replace(SPACE_MARK, " ").getBytes(StandardCharsets.UTF_8);
      }
      if (t == TokenType.BYTE && text.length() == 6 && text.startsWith("<0x")) {
        return new byte[] {(byte) Integer.parseInt(text.substring(3, 5), 16)};
      }
      return EMPTY;
    }
    if (t != TokenType.NORMAL) {
      return EMPTY;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(text.length());
    for (int i = 0; i < text.length(); ) {
      int cp = text.codePointAt(i);
      i += Character.charCount(cp);
      int b = ByteLevel.charToByte(cp);
      if (b >= 0) {
        out.write(b);
      } else {
        // llama.cpp's llama_decode_text marks characters outside the byte alphabet this way.
        byte[] u = new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8);
        StringBuilder sb = new StringBuilder("[UNK_BYTE_0x");
        for (byte x : u) {
          sb.append(String.format("%02x", x & 0xff));
        }
        sb.append(text).append(']');
        out.writeBytes(sb.toString().getBytes(StandardCharsets.UTF_8));
      }
    }
    return out.toByteArray();
  }

  // ---------------------------------------------------------------------------------------------
  // Encoding

  /**
   * Tokenizes {@code text} as llama.cpp's {@code llama_tokenize(text, add_special, parse_special)}.
   *
   * @param addBos prepend BOS (and append EOS) where the model's metadata asks for it ({@code
   *     add_bos_token}, or llama.cpp's default for the tokenizer type); {@code false} gives the raw
   *     tokens of the text, as llama.cpp's test vectors are produced
   * @param parseSpecial recognise control tokens written in the text ({@code <|im_start|>}); leave
   *     {@code false} for user-supplied text
   */
  public int[] encode(String text, boolean addBos, boolean parseSpecial) {
    IntList out = new IntList(Math.max(8, text.length() / 3));
    List<Object> fragments = partition(text, parseSpecial);
    if (kind == Kind.SENTENCEPIECE) {
      boolean prevSpecial = true; // a space prefix goes before the first text
      if (addBos && this.addBos && bos >= 0) {
        out.add(bos);
      }
      for (Object fr : fragments) {
        if (fr instanceof String s) {
          String t = addSpacePrefix && prevSpecial ? " " + s : s;
          encodeSpm(t.replace(" ", SPACE_MARK), out);
          prevSpecial = false;
        } else {
          out.add((Integer) fr);
          prevSpecial = true;
        }
      }
    } else {
      if (addBos && this.addBos && bos >= 0) {
        out.add(bos);
      }
      for (Object fr : fragments) {
        if (fr instanceof String s) {
          for (String word : pre.split(s)) {
            bpe.encodeWord(word.getBytes(StandardCharsets.UTF_8), out);
          }
        } else {
          out.add((Integer) fr);
        }
      }
    }
    if (addBos && addEos && eos >= 0) {
      out.add(eos);
    }
    return out.toArray();
  }

  /** Splits {@code text} around special tokens (llama.cpp's tokenizer_st_partition). */
  private List<Object> partition(String text, boolean parseSpecial) {
    List<Object> frags = new ArrayList<>();
    if (text.isEmpty()) {
      return frags;
    }
    frags.add(text);
    for (int id : specialTokens) {
      TokenType t = types[id];
      if (!parseSpecial && (t == TokenType.CONTROL || t == TokenType.UNKNOWN)) {
        continue;
      }
      String st = texts[id];
      List<Object> next = null;
      for (int k = 0; k < frags.size(); k++) {
        Object fr = frags.get(k);
        int at = fr instanceof String s ? s.indexOf(st) : -1;
        if (at < 0) {
          if (next != null) {
            next.add(fr);
          }
          continue;
        }
        if (next == null) {
          next = new ArrayList<>(frags.subList(0, k));
        }
        String s = (String) fr;
        int from = 0;
        while (at >= 0) {
          if (at > from) {
            next.add(s.substring(from, at));
          }
          next.add(id);
          from = at + st.length();
          at = s.indexOf(st, from);
        }
        if (from < s.length()) {
          next.add(s.substring(from));
        }
      }
      if (next != null) {
        frags = next;
      }
    }
    return frags;
  }

  /** SentencePiece BPE of one fragment (spaces already escaped), llama.cpp's llm_tokenizer_spm. */
  private void encodeSpm(String text, IntList out) {
    int n = text.codePointCount(0, text.length());
    int[] start = new int[n];
    int[] len = new int[n];
    int[] prev = new int[n];
    int[] next = new int[n];
    for (int i = 0, off = 0; i < n; i++) {
      int cl = Character.charCount(text.codePointAt(off));
      start[i] = off;
      len[i] = cl;
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
      off += cl;
    }
    SpmQueue queue = new SpmQueue(Math.max(4, n));
    for (int i = 1; i < n; i++) {
      addSpmBigram(text, start, len, i - 1, i, queue);
    }
    while (!queue.isEmpty()) {
      int size = queue.topSize();
      int left = queue.pop();
      int right = next[left];
      // Stale: a side was merged since (llama.cpp compares the combined length; lengths only
      // grow, and while both sides live they stay neighbours).
      if (len[left] == 0 || right < 0 || len[right] == 0 || len[left] + len[right] != size) {
        continue;
      }
      len[left] += len[right];
      len[right] = 0;
      next[left] = next[right];
      if (next[right] >= 0) {
        prev[next[right]] = left;
      }
      addSpmBigram(text, start, len, prev[left], left, queue);
      addSpmBigram(text, start, len, left, next[left], queue);
    }
    for (int i = 0; i >= 0 && n > 0; i = next[i]) {
      int id = spmIndex.find(text, start[i], len[i]);
      if (id >= 0) {
        out.add(id);
      } else {
        // Merged symbols are always tokens, so only single characters get here: byte fallback.
        String piece = text.substring(start[i], start[i] + len[i]);
        for (byte b : piece.getBytes(StandardCharsets.UTF_8)) {
          int bt = spmByteTokens[b & 0xff];
          out.add(bt >= 0 ? bt : unk);
        }
      }
    }
  }

  private void addSpmBigram(String text, int[] start, int[] len, int left, int right, SpmQueue q) {
    if (left < 0 || right < 0) {
      return;
    }
    int size = len[left] + len[right];
    int id = spmIndex.find(text, start[left], size);
    if (id >= 0) {
      q.push(scores[id], left, size);
    }
  }

  /**
   * Max-heap of SentencePiece bigrams: highest score first, then the leftmost (llama.cpp's
   * comparator); each entry carries the combined length used for the staleness check.
   */
  private static final class SpmQueue {
    private long[] keys; // (inverted sortable score) << 32 | left: smallest first
    private int[] sizes;
    private int n;

    SpmQueue(int cap) {
      keys = new long[cap];
      sizes = new int[cap];
    }

    boolean isEmpty() {
      return n == 0;
    }

    void push(float score, int left, int size) {
      int bits = Float.floatToIntBits(score == 0f ? 0f : score); // -0.0 ties with 0.0
      int sortable = bits >= 0 ? bits : bits ^ 0x7fffffff; // ascending with the float value
      long key = ((long) ~sortable << 32) | left; // descending score, then ascending left
      if (n == keys.length) {
        keys = Arrays.copyOf(keys, n * 2);
        sizes = Arrays.copyOf(sizes, n * 2);
      }
      int i = n++;
      while (i > 0) {
        int p = (i - 1) >>> 1;
        if (keys[p] <= key) {
          break;
        }
        keys[i] = keys[p];
        sizes[i] = sizes[p];
        i = p;
      }
      keys[i] = key;
      sizes[i] = size;
    }

    int topSize() {
      return sizes[0];
    }

    /** Removes the top entry and returns its left index. */
    int pop() {
      int left = (int) keys[0];
      long key = keys[--n];
      int size = sizes[n];
      int i = 0;
      while (true) {
        int c = 2 * i + 1;
        if (c >= n) {
          break;
        }
        if (c + 1 < n && keys[c + 1] < keys[c]) {
          c++;
        }
        if (key <= keys[c]) {
          break;
        }
        keys[i] = keys[c];
        sizes[i] = sizes[c];
        i = c;
      }
      if (n > 0) {
        keys[i] = key;
        sizes[i] = size;
      }
      return left;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Decoding

  /** Decodes {@code ids} to text, hiding control tokens (see {@link #decode(int[], boolean)}). */
  public String decode(int[] ids) {
    return decode(ids, false);
  }

  /**
   * Decodes {@code ids} as llama.cpp's {@code llama_detokenize(remove_special = false,
   * unparse_special = renderSpecial)}: SentencePiece drops the space its encoder put before the
   * first piece, and the BPE tokenizers that clean up spaces ({@code llama-bpe}) remove a space
   * before {@code ? ! . ,} and in some contractions. Invalid UTF-8 becomes U+FFFD.
   */
  public String decode(int[] ids, boolean renderSpecial) {
    return new String(decodeBytes(ids, renderSpecial), StandardCharsets.UTF_8);
  }

  /** The raw bytes of {@link #decode(int[], boolean)} (may end inside a UTF-8 character). */
  public byte[] decodeBytes(int[] ids, boolean renderSpecial) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(ids.length * 4);
    boolean removeSpace = addSpacePrefix;
    for (int id : ids) {
      byte[] p = piece(id, renderSpecial);
      int off = removeSpace && p.length > 0 && p[0] == ' ' ? 1 : 0;
      out.write(p, off, p.length - off);
      removeSpace = false;
    }
    byte[] text = out.toByteArray();
    return cleanSpaces ? cleanUpSpaces(text) : text;
  }

  /** llama.cpp's clean_spaces passes, byte for byte. */
  static byte[] cleanUpSpaces(byte[] text) {
    int total = text.length;
    // " ?", " !", " .", " ,"
    int t1 = total;
    total = total > 0 ? 1 : 0;
    for (int i = 1; i < t1; i++) {
      byte x = text[i];
      if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) {
        total--;
      }
      text[total++] = x;
    }
    // " ' " -> "'"
    int t2 = total;
    total = total > 0 ? 1 : 0;
    for (int i = 1; i < t2; i++) {
      byte x = text[i];
      if (x == '\'' && i + 1 < t2 && text[i - 1] == ' ' && text[i + 1] == ' ') {
        total--;
        text[++i] = 0;
      }
      text[total++] = x;
    }
    // " 's", " 'm", " 're", " 've"
    int t3 = total;
    total = total > 0 ? 1 : 0;
    for (int i = 1; i < t3; i++) {
      byte x = text[i];
      if (text[i - 1] == ' ' && x == '\'' && i + 1 < t3) {
        byte x1 = text[i + 1];
        if (x1 == 's' || x1 == 'm') {
          total--;
        } else if (x1 != 't' && x1 != 'd' && i + 2 < t3) {
          byte x2 = text[i + 2];
          if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) {
            total--;
          }
        }
      }
      text[total++] = x;
    }
    return Arrays.copyOf(text, total);
  }

  /** Whether decoding removes spaces before punctuation (llama.cpp's clean_spaces). */
  public boolean cleansSpaces() {
    return cleanSpaces;
  }

  /**
   * A detokenizer for a stream of generated tokens that never splits a UTF-8 character.
   *
   * @param renderSpecial include the text of control tokens
   */
  public StreamingDetokenizer newStreamingDetokenizer(boolean renderSpecial) {
    return new StreamingDetokenizer(this, renderSpecial, false);
  }

  /**
   * A streaming detokenizer whose output, concatenated, equals {@link #decode(int[], boolean)} of
   * all the tokens fed (without the space clean-up): it drops SentencePiece's leading space.
   */
  public StreamingDetokenizer newStreamingDetokenizerFromStart(boolean renderSpecial) {
    return new StreamingDetokenizer(this, renderSpecial, addSpacePrefix);
  }
}
