package dev.sluice.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Byte-level BPE over token ids: merges are a rank table keyed by the pair of symbol ids, and each
 * word is merged lowest rank first (ties: leftmost) with a binary heap, as llama.cpp's {@code
 * llm_tokenizer_bpe_session} does with strings.
 *
 * <p>Strings that take part in merges but are not vocabulary entries get "virtual" ids above the
 * vocabulary, so odd vocabularies behave like llama.cpp (which merges strings): a virtual symbol
 * left at the end is emitted as the single-byte tokens of its text, the others dropped.
 *
 * <p>Thread-safe: the tables are immutable after construction; the word cache is concurrent and
 * bounded (it is cleared when full, which keeps the common words of the current traffic).
 */
final class BpeModel {
  private static final int CACHE_LIMIT = 1 << 16;
  private static final int CACHE_MAX_WORD = 64;

  private final int nVocab;
  private final Map<String, Integer> ids;
  private final boolean ignoreMerges;
  private final LongIntMap ranks;
  private final int[] mergeResult; // rank -> id of the merged string
  private final int[] byteIds = new int[256]; // byte -> id of its byte-level character
  private final String[] virtualTexts; // id - nVocab -> text
  private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

  BpeModel(String[] tokens, Map<String, Integer> ids, String[] merges, boolean ignoreMerges) {
    this.nVocab = tokens.length;
    this.ids = ids;
    this.ignoreMerges = ignoreMerges;
    Map<String, Integer> virtualIds = new HashMap<>();
    List<String> virtualList = new ArrayList<>();
    ranks = new LongIntMap(merges.length);
    mergeResult = new int[merges.length];
    for (int r = 0; r < merges.length; r++) {
      String m = merges[r];
      int sp = m.indexOf(' ', 1);
      String first = sp < 0 ? "" : m.substring(0, sp);
      String second = sp < 0 ? "" : m.substring(sp + 1);
      int a = intern(first, virtualIds, virtualList);
      int b = intern(second, virtualIds, virtualList);
      mergeResult[r] = intern(first + second, virtualIds, virtualList);
      ranks.putIfAbsent(pair(a, b), r);
    }
    for (int b = 0; b < 256; b++) {
      byteIds[b] = intern(String.valueOf(ByteLevel.byteToChar(b)), virtualIds, virtualList);
    }
    virtualTexts = virtualList.toArray(new String[0]);
  }

  private int intern(String s, Map<String, Integer> virtualIds, List<String> virtualList) {
    Integer id = ids.get(s);
    if (id != null) {
      return id;
    }
    return virtualIds.computeIfAbsent(
        s,
        k -> {
          virtualList.add(k);
          return nVocab + virtualList.size() - 1;
        });
  }

  private static long pair(int a, int b) {
    return ((long) a << 32) | (b & 0xffffffffL);
  }

  private int rank(int a, int b) {
    return ranks.get(pair(a, b), -1);
  }

  /** Appends the tokens of one pre-tokenized word (its UTF-8 bytes) to {@code out}. */
  void encodeWord(byte[] utf8, IntList out) {
    String key = ByteLevel.encode(utf8);
    int[] cached = cache.get(key);
    if (cached != null) {
      out.addAll(cached);
      return;
    }
    int[] result = merge(key, utf8);
    if (key.length() <= CACHE_MAX_WORD) {
      if (cache.size() >= CACHE_LIMIT) {
        cache.clear();
      }
      cache.put(key, result);
    }
    out.addAll(result);
  }

  private int[] merge(String key, byte[] utf8) {
    if (ignoreMerges) {
      Integer whole = ids.get(key);
      if (whole != null) {
        return new int[] {whole};
      }
    }
    int n = utf8.length;
    int[] sym = new int[n];
    int[] prev = new int[n];
    int[] next = new int[n];
    for (int i = 0; i < n; i++) {
      sym[i] = byteIds[utf8[i] & 0xff];
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    LongHeap heap = new LongHeap(Math.max(4, n));
    for (int i = 0; i + 1 < n; i++) {
      push(heap, sym, i, i + 1);
    }
    while (!heap.isEmpty()) {
      long e = heap.pop();
      int left = (int) e;
      int r = (int) (e >>> 32);
      if (sym[left] < 0) {
        continue;
      }
      int right = next[left];
      // Stale entry: one side was merged since it was queued (llama.cpp compares the texts).
      if (right < 0 || rank(sym[left], sym[right]) != r) {
        continue;
      }
      sym[left] = mergeResult[r];
      sym[right] = -1;
      next[left] = next[right];
      if (next[right] >= 0) {
        prev[next[right]] = left;
      }
      if (prev[left] >= 0) {
        push(heap, sym, prev[left], left);
      }
      if (next[left] >= 0) {
        push(heap, sym, left, next[left]);
      }
    }
    IntList out = new IntList(n);
    for (int i = 0; i >= 0; i = next[i]) {
      int id = sym[i];
      if (id < nVocab) {
        out.add(id);
      } else {
        // llama.cpp: a symbol that is no token is emitted as the tokens of its single bytes.
        for (byte b : virtualTexts[id - nVocab].getBytes(StandardCharsets.UTF_8)) {
          Integer single = b >= 0 ? ids.get(String.valueOf((char) b)) : null;
          if (single != null) {
            out.add(single);
          }
        }
      }
    }
    return out.toArray();
  }

  private void push(LongHeap heap, int[] sym, int left, int right) {
    int r = rank(sym[left], sym[right]);
    if (r >= 0) {
      heap.push(((long) r << 32) | left);
    }
  }

  /** A binary min-heap of longs (rank in the high half, left index in the low half). */
  private static final class LongHeap {
    private long[] a;
    private int size;

    LongHeap(int cap) {
      a = new long[cap];
    }

    boolean isEmpty() {
      return size == 0;
    }

    void push(long v) {
      if (size == a.length) {
        a = Arrays.copyOf(a, size * 2);
      }
      int i = size++;
      while (i > 0) {
        int p = (i - 1) >>> 1;
        if (a[p] <= v) {
          break;
        }
        a[i] = a[p];
        i = p;
      }
      a[i] = v;
    }

    long pop() {
      long top = a[0];
      long last = a[--size];
      int i = 0;
      int half = size >>> 1;
      while (i < half) {
        int c = 2 * i + 1;
        if (c + 1 < size && a[c + 1] < a[c]) {
          c++;
        }
        if (last <= a[c]) {
          break;
        }
        a[i] = a[c];
        i = c;
      }
      if (size > 0) {
        a[i] = last;
      }
      return top;
    }
  }
}
