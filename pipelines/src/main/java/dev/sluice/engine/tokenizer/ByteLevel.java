package dev.sluice.engine.tokenizer;

/**
 * GPT-2's byte-level alphabet: every byte value is mapped to one printable Unicode character, so
 * that a byte-level BPE vocabulary can be written as text. Bytes {@code !..~}, {@code ¡..¬} and
 * {@code ®..ÿ} map to themselves; the remaining 68 bytes map to U+0100 onwards in byte order.
 */
final class ByteLevel {
  private static final char[] BYTE_TO_CHAR = new char[256];
  private static final short[] CHAR_TO_BYTE = new short[512];

  static {
    java.util.Arrays.fill(CHAR_TO_BYTE, (short) -1);
    boolean[] direct = new boolean[256];
    for (int b = 0x21; b <= 0x7E; b++) {
      direct[b] = true;
    }
    for (int b = 0xA1; b <= 0xAC; b++) {
      direct[b] = true;
    }
    for (int b = 0xAE; b <= 0xFF; b++) {
      direct[b] = true;
    }
    int n = 0;
    for (int b = 0; b < 256; b++) {
      char c = direct[b] ? (char) b : (char) (256 + n++);
      BYTE_TO_CHAR[b] = c;
      CHAR_TO_BYTE[c] = (short) b;
    }
  }

  private ByteLevel() {}

  static char byteToChar(int b) {
    return BYTE_TO_CHAR[b & 0xff];
  }

  /** The byte a character of the byte-level alphabet stands for, or -1 if it is not one. */
  static int charToByte(int c) {
    return c >= 0 && c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
  }

  /** Maps UTF-8 bytes to their byte-level characters. */
  static String encode(byte[] utf8) {
    char[] out = new char[utf8.length];
    for (int i = 0; i < utf8.length; i++) {
      out[i] = BYTE_TO_CHAR[utf8[i] & 0xff];
    }
    return new String(out);
  }
}
