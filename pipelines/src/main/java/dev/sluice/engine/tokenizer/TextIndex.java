package dev.sluice.engine.tokenizer;

/**
 * Token texts indexed for lookup by a range of another string, without creating substrings: open
 * addressing over {@link String#hashCode()}-compatible range hashes.
 */
final class TextIndex {
  private final String[] texts;
  private final int[] slots; // token id + 1, 0 = empty
  private final int mask;

  TextIndex(String[] texts) {
    this.texts = texts;
    int cap = Integer.highestOneBit(Math.max(4, texts.length * 2 - 1)) << 1;
    slots = new int[cap];
    mask = cap - 1;
    for (int id = 0; id < texts.length; id++) {
      String t = texts[id];
      int i = mix(t.hashCode()) & mask;
      while (slots[i] != 0 && !texts[slots[i] - 1].equals(t)) {
        i = (i + 1) & mask;
      }
      slots[i] = id + 1; // a repeated text keeps the last id, like the HashMap it mirrors
    }
  }

  private static int mix(int h) {
    return h ^ (h >>> 16) * 0x45d9f3b;
  }

  /** The id of the token whose text is {@code s[start, start+len)}, or -1. */
  int find(String s, int start, int len) {
    int h = 0;
    for (int k = 0; k < len; k++) {
      h = 31 * h + s.charAt(start + k);
    }
    int i = mix(h) & mask;
    while (true) {
      int v = slots[i];
      if (v == 0) {
        return -1;
      }
      String t = texts[v - 1];
      if (t.length() == len && t.regionMatches(0, s, start, len)) {
        return v - 1;
      }
      i = (i + 1) & mask;
    }
  }
}
