package dev.sluice.engine.sampling;

/**
 * Picks the next token from a row of logits: greedy at temperature 0, otherwise penalties, then
 * temperature, top-k, top-p, min-p, and a draw from the per-sequence random stream.
 *
 * <ul>
 *   <li>Penalties look at the last {@code penaltyWindow} tokens of the {@link SamplerState}: a
 *       token seen {@code c} times gets the repetition penalty (positive logit divided, negative
 *       multiplied), then {@code - c * frequency - presence}.
 *   <li>Top-k keeps the k largest logits by partial selection (quickselect, O(V)), never a sort of
 *       the vocabulary.
 *   <li>Top-p keeps the smallest most-likely set whose probability reaches p, extracted from a heap
 *       (O(V + m log V) for m kept tokens).
 *   <li>Min-p keeps tokens whose probability is at least {@code minP} times the largest.
 * </ul>
 *
 * Ties are broken towards the lower token id everywhere, so top-k = 1 is exactly greedy and the
 * result depends only on the logits, the parameters and the seed.
 *
 * <p>A Sampler owns reusable vocabulary-sized buffers: no allocation per token. Not thread-safe:
 * one per thread that samples (the device's owner thread), shared by all its sequences.
 */
public final class Sampler {
  private final int vocab;
  private final float[] work; // (vocab) logits after penalties and temperature
  private final int[] idx; // (vocab) candidate ids
  private final float[] val; // (vocab) candidate logits, then probabilities
  private final int[] outIdx; // (vocab) top-p output
  private final float[] outVal;
  private final int[] counts; // (vocab) penalty scratch, all zero between calls

  public Sampler(int vocabSize) {
    if (vocabSize <= 0) {
      throw new IllegalArgumentException("vocabulary size must be positive, got " + vocabSize);
    }
    vocab = vocabSize;
    work = new float[vocabSize];
    idx = new int[vocabSize];
    val = new float[vocabSize];
    outIdx = new int[vocabSize];
    outVal = new float[vocabSize];
    counts = new int[vocabSize];
  }

  public int vocabSize() {
    return vocab;
  }

  /**
   * Samples from {@code logits[0 .. vocab)}; see {@link #sample(float[], int, SamplingParams,
   * SamplerState, TokenLogprobs)}.
   */
  public int sample(float[] logits, SamplingParams p, SamplerState state) {
    return sample(logits, 0, p, state, null);
  }

  /**
   * Samples the next token from {@code logits[offset .. offset + vocab)} (not modified), records it
   * in {@code state}, and, when {@code p.logprobs() >= 0} and {@code logprobs} is given, fills it
   * with the chosen token's log-probability and the {@code p.logprobs()} most likely tokens'.
   */
  public int sample(
      float[] logits, int offset, SamplingParams p, SamplerState state, TokenLogprobs logprobs) {
    int chosen;
    boolean penalties = p.hasPenalties() && state.size() > 0;
    if (p.greedy() && !penalties) {
      chosen = SamplerMath.argmax(logits, offset, vocab);
    } else {
      System.arraycopy(logits, offset, work, 0, vocab);
      if (penalties) {
        applyPenalties(p, state);
      }
      chosen = p.greedy() ? SamplerMath.argmax(work, 0, vocab) : draw(p, state);
    }
    state.accept(chosen);
    if (logprobs != null && p.logprobs() >= 0) {
      fillLogprobs(logits, offset, chosen, Math.min(p.logprobs(), logprobs.capacity()), logprobs);
    }
    return chosen;
  }

  private static final int SEEN = 1 << 30;

  /**
   * Penalizes the tokens of the last {@code penaltyWindow} recorded: the repetition penalty for any
   * token seen there (prompt included), presence and frequency for generated occurrences.
   */
  private void applyPenalties(SamplingParams p, SamplerState state) {
    int[] hist = state.history();
    int end = state.size();
    int from = p.penaltyWindow() < 0 ? 0 : Math.max(0, end - p.penaltyWindow());
    int generatedFrom = state.promptLength();
    for (int i = from; i < end; i++) {
      int t = hist[i];
      if (t >= 0 && t < vocab) {
        counts[t] = (counts[t] | SEEN) + (i >= generatedFrom ? 1 : 0);
      }
    }
    float rep = p.repetitionPenalty();
    float freq = p.frequencyPenalty();
    float pres = p.presencePenalty();
    for (int i = from; i < end; i++) {
      int t = hist[i];
      if (t < 0 || t >= vocab || counts[t] == 0) {
        continue; // out of range, or already penalized
      }
      int c = counts[t] & (SEEN - 1);
      counts[t] = 0;
      float l = work[t];
      l = l <= 0 ? l * rep : l / rep;
      work[t] = c > 0 ? l - c * freq - pres : l;
    }
  }

  private int draw(SamplingParams p, SamplerState state) {
    float inv = 1f / p.temperature();
    int k = p.topK();
    int n;
    boolean ids; // whether idx[] holds the ids (else position i is token i)
    float max;
    if (k > 0 && k < vocab) {
      // Top-k is invariant under temperature: select on the logits, scale only the k kept.
      if (k <= HEAP_TOP_K) {
        heapTopK(k);
      } else {
        for (int i = 0; i < vocab; i++) {
          float v = work[i];
          idx[i] = i;
          val[i] = v != v ? Float.NEGATIVE_INFINITY : v;
        }
        selectTop(vocab, k);
      }
      n = k;
      ids = true;
      max = Float.NEGATIVE_INFINITY;
      for (int i = 0; i < n; i++) {
        val[i] *= inv;
        max = Math.max(max, val[i]);
      }
    } else {
      n = vocab;
      ids = false;
      max = SamplerMath.scaleAndMax(work, 0, val, n, inv);
    }
    if (max == Float.NEGATIVE_INFINITY) {
      return ids ? lowestId(n) : 0; // every candidate masked: no distribution to draw from
    }
    double sum = SamplerMath.expAndSum(val, n, max); // unnormalized probabilities
    boolean topP = p.topP() < 1f;
    if (topP || p.minP() > 0f) {
      // Min-p keeps a most-likely prefix, and so does top-p: apply min-p's threshold first, and a
      // bound below which no token can be in the nucleus (all tokens at or below e < (1-p)*sum/V
      // weigh less than the tail top-p cuts), then run the nucleus on what is left.
      float threshold = 0f;
      if (p.minP() > 0f) {
        float emax = 0f; // exp(max - max): 1, up to the exp implementation's rounding
        for (int i = 0; i < n; i++) {
          emax = Math.max(emax, val[i]);
        }
        threshold = p.minP() * emax;
      }
      if (topP) {
        threshold = Math.max(threshold, (float) ((1.0 - p.topP()) * sum / n));
      }
      int m = 0;
      for (int i = 0; i < n; i++) {
        if (val[i] >= threshold) {
          idx[m] = ids ? idx[i] : i;
          val[m] = val[i];
          m++;
        }
      }
      n = m;
      ids = true;
      if (topP) {
        n = nucleus(n, p.topP() * sum);
      }
    }
    double total = 0;
    for (int i = 0; i < n; i++) {
      total += val[i];
    }
    double r = state.nextDouble() * total;
    double acc = 0;
    for (int i = 0; i < n; i++) {
      acc += val[i];
      if (r < acc) {
        return ids ? idx[i] : i;
      }
    }
    return ids ? idx[n - 1] : n - 1; // rounding at the very end of the range
  }

  /** Above this k, quickselect over a copy of the vocabulary beats the bounded heap scan. */
  private static final int HEAP_TOP_K = 512;

  /**
   * The k best logits of {@code work} into idx/val[0..k), by one scan with a bounded min-heap (the
   * worst kept at the root; most tokens are rejected by one comparison).
   */
  private void heapTopK(int k) {
    int size = 0;
    for (int i = 0; i < vocab; i++) {
      float v = work[i];
      if (v != v) {
        v = Float.NEGATIVE_INFINITY;
      }
      if (size < k) {
        // sift up: parent must be worse than (or equal to) child
        int c = size++;
        while (c > 0) {
          int pa = (c - 1) >>> 1;
          if (v > val[pa]) { // the new entry (highest id so far) is worse unless strictly larger
            break;
          }
          idx[c] = idx[pa];
          val[c] = val[pa];
          c = pa;
        }
        idx[c] = i;
        val[c] = v;
      } else if (v > val[0]) { // ties keep the earlier (lower) id
        int c = 0;
        while (true) {
          int l = 2 * c + 1;
          if (l >= size) {
            break;
          }
          int w = l;
          if (l + 1 < size && worse(l + 1, l)) {
            w = l + 1;
          }
          if (!(val[w] < v)) { // w is not worse than the new entry (equal: w has lower id)
            break;
          }
          idx[c] = idx[w];
          val[c] = val[w];
          c = w;
        }
        idx[c] = i;
        val[c] = v;
      }
    }
  }

  /** a worse than b: smaller value, then higher id. */
  private boolean worse(int a, int b) {
    return val[a] < val[b] || (val[a] == val[b] && idx[a] > idx[b]);
  }

  private int lowestId(int n) {
    int best = Integer.MAX_VALUE;
    for (int i = 0; i < n; i++) {
      best = Math.min(best, idx[i]);
    }
    return best;
  }

  /** a better than b: larger value, then lower id. */
  private boolean better(int a, int b) {
    return val[a] > val[b] || (val[a] == val[b] && idx[a] < idx[b]);
  }

  private void swap(int a, int b) {
    int ti = idx[a];
    idx[a] = idx[b];
    idx[b] = ti;
    float tv = val[a];
    val[a] = val[b];
    val[b] = tv;
  }

  /** Moves the k best of the first n candidates to positions [0, k) (quickselect). */
  private void selectTop(int n, int k) {
    int lo = 0;
    int hi = n - 1;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      // median of three as pivot, moved to hi
      if (better(mid, lo)) {
        swap(mid, lo);
      }
      if (better(hi, lo)) {
        swap(hi, lo);
      }
      if (better(mid, hi)) {
        swap(mid, hi);
      }
      int store = lo;
      for (int i = lo; i < hi; i++) {
        if (better(i, hi)) {
          swap(i, store++);
        }
      }
      swap(store, hi);
      if (store == k - 1 || store == k) {
        return;
      }
      if (store < k) {
        lo = store + 1;
      } else {
        hi = store - 1;
      }
    }
  }

  /**
   * Keeps the most likely candidates until their mass reaches {@code target}; returns how many,
   * moved to the front in descending order.
   */
  private int nucleus(int n, double target) {
    for (int i = (n >>> 1) - 1; i >= 0; i--) {
      siftDown(i, n);
    }
    int m = 0;
    double acc = 0;
    int size = n;
    while (size > 0) {
      outIdx[m] = idx[0];
      outVal[m] = val[0];
      acc += val[0];
      m++;
      if (acc >= target) {
        break;
      }
      size--;
      idx[0] = idx[size];
      val[0] = val[size];
      siftDown(0, size);
    }
    System.arraycopy(outIdx, 0, idx, 0, m);
    System.arraycopy(outVal, 0, val, 0, m);
    return m;
  }

  private void siftDown(int i, int size) {
    while (true) {
      int c = 2 * i + 1;
      if (c >= size) {
        return;
      }
      if (c + 1 < size && better(c + 1, c)) {
        c++;
      }
      if (!better(c, i)) {
        return;
      }
      swap(c, i);
      i = c;
    }
  }

  private void fillLogprobs(float[] logits, int off, int chosen, int top, TokenLogprobs out) {
    // val[] is free once the token is drawn: use it for the vectorized log-sum-exp.
    float max = SamplerMath.scaleAndMax(logits, off, val, vocab, 1f);
    double sum = SamplerMath.expAndSum(val, vocab, max);
    float lse = (float) (max + Math.log(sum));
    out.set(chosen, logits[off + chosen] - lse);
    out.clearTop();
    if (top > 0) {
      for (int i = 0; i < vocab; i++) {
        out.offer(top, i, logits[off + i]);
      }
      out.shift(lse);
    }
  }
}
