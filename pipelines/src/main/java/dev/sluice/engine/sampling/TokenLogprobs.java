package dev.sluice.engine.sampling;

/**
 * The log-probabilities of one sampled position: the chosen token's and the most likely tokens',
 * from the model's distribution (log-softmax of the raw logits, before penalties, temperature and
 * filters, as vLLM and OpenAI report them). A reusable buffer: {@link Sampler#sample} overwrites it
 * at every call.
 */
public final class TokenLogprobs {
  private final int[] topIds;
  private final float[] topLogprobs;
  private int count;
  private int token = -1;
  private float logprob;

  /** A buffer for up to {@code maxTop} alternatives. */
  public TokenLogprobs(int maxTop) {
    topIds = new int[maxTop];
    topLogprobs = new float[maxTop];
  }

  public TokenLogprobs() {
    this(SamplingParams.MAX_LOGPROBS);
  }

  /** The sampled token. */
  public int token() {
    return token;
  }

  /** Its natural-log probability. */
  public float logprob() {
    return logprob;
  }

  /** How many alternatives were filled (most likely first). */
  public int count() {
    return count;
  }

  public int topId(int i) {
    return topIds[i];
  }

  public float topLogprob(int i) {
    return topLogprobs[i];
  }

  int capacity() {
    return topIds.length;
  }

  void set(int token, float logprob) {
    this.token = token;
    this.logprob = logprob;
  }

  void clearTop() {
    count = 0;
  }

  /** Inserts {@code (id, value)} keeping the list sorted by value (desc), then id (asc). */
  void offer(int limit, int id, float value) {
    int n = count;
    if (n == limit && !(value > topLogprobs[n - 1])) {
      return;
    }
    int i = n == limit ? n - 1 : n;
    while (i > 0 && value > topLogprobs[i - 1]) {
      topIds[i] = topIds[i - 1];
      topLogprobs[i] = topLogprobs[i - 1];
      i--;
    }
    topIds[i] = id;
    topLogprobs[i] = value;
    if (n < limit) {
      count++;
    }
  }

  void shift(float logSumExp) {
    for (int i = 0; i < count; i++) {
      topLogprobs[i] -= logSumExp;
    }
  }
}
