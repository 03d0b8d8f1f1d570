package dev.sluice.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Turns generated token ids into text incrementally, one token at a time, without ever emitting
 * half a UTF-8 character: bytes of an incomplete character (byte-fallback tokens, byte-level BPE
 * pieces that split an emoji) are held back until the character completes. Invalid bytes are not
 * held: they are emitted as U+FFFD, as a full decode would.
 *
 * <p>Each token contributes its llama.cpp piece ({@code token_to_piece}); control tokens are empty
 * unless {@code renderSpecial}. A detokenizer made by {@link
 * Tokenizer#newStreamingDetokenizerFromStart} also drops the single leading space that
 * SentencePiece puts before the first piece, so that its output equals {@link
 * Tokenizer#decode(int[], boolean)} of the same tokens; one made by {@link
 * Tokenizer#newStreamingDetokenizer} (for a continuation of a prompt) keeps it, because there the
 * space separates the new text from the prompt. The space clean-up of {@code llama-bpe} decoding is
 * not applied to streams (llama.cpp's server streams raw pieces too).
 *
 * <p>One instance per sequence; not thread-safe. The pending buffer is reused (at most 3 bytes are
 * ever held back); the only per-token allocation is the returned String.
 */
public final class StreamingDetokenizer {
  private final Tokenizer tokenizer;
  private final boolean renderSpecial;
  private boolean stripSpace;
  private byte[] buf = new byte[64];
  private int len;

  StreamingDetokenizer(Tokenizer tokenizer, boolean renderSpecial, boolean stripLeadingSpace) {
    this.tokenizer = tokenizer;
    this.renderSpecial = renderSpecial;
    this.stripSpace = stripLeadingSpace;
  }

  /**
   * Adds one token and returns the text that is now complete (often empty while a multi-byte
   * character is being assembled).
   */
  public String push(int tokenId) {
    byte[] p = tokenizer.piece(tokenId, renderSpecial);
    int off = 0;
    if (stripSpace) {
      off = p.length > 0 && p[0] == ' ' ? 1 : 0;
      stripSpace = false;
    }
    int add = p.length - off;
    if (len + add > buf.length) {
      buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + add));
    }
    System.arraycopy(p, off, buf, len, add);
    len += add;
    int complete = completePrefix(buf, len);
    if (complete == 0) {
      return "";
    }
    String s = new String(buf, 0, complete, StandardCharsets.UTF_8);
    System.arraycopy(buf, complete, buf, 0, len - complete);
    len -= complete;
    return s;
  }

  /** Returns whatever is held back (an incomplete character decodes to U+FFFD) and resets. */
  public String flush() {
    String s = len == 0 ? "" : new String(buf, 0, len, StandardCharsets.UTF_8);
    len = 0;
    return s;
  }

  /** Bytes held back, waiting for the rest of a character. */
  public int pendingBytes() {
    return len;
  }

  /**
   * The length of the longest prefix of {@code b[0..n)} that does not end inside a UTF-8 character
   * which could still be completed by more bytes.
   */
  static int completePrefix(byte[] b, int n) {
    // Find the start of the last character: at most 3 continuation bytes back.
    int i = n - 1;
    int cont = 0;
    while (i >= 0 && cont < 3 && (b[i] & 0xC0) == 0x80) {
      i--;
      cont++;
    }
    if (i < 0) {
      return n; // only continuation bytes: invalid, nothing to wait for
    }
    int lead = b[i] & 0xff;
    int need;
    if (lead >= 0xC2 && lead <= 0xDF) {
      need = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      need = 3;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      need = 4;
    } else {
      return n; // ASCII or an invalid lead byte: complete as it stands
    }
    int have = n - i;
    return have < need ? i : n;
  }
}
