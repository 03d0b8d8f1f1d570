package dev.sluice.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SamplerTest {
  private static final int V = 1000;

  private static float[] randomLogits(long seed) {
    Random r = new Random(seed);
    float[] l = new float[V];
    for (int i = 0; i < V; i++) {
      l[i] = (float) (r.nextGaussian() * 3);
    }
    return l;
  }

  private static int[] run(SamplingParams p, long seed, int steps) {
    Sampler s = new Sampler(V);
    SamplerState st = new SamplerState(seed);
    int[] out = new int[steps];
    for (int i = 0; i < steps; i++) {
      out[i] = s.sample(randomLogits(i), p, st);
    }
    return out;
  }

  @Test
  void sameSeedSameTokensOtherSeedOtherTokens() {
    SamplingParams p = SamplingParams.builder().temperature(1.2f).topP(0.95f).build();
    int[] a = run(p, 42, 200);
    int[] b = run(p, 42, 200);
    int[] c = run(p, 43, 200);
    assertThat(a).isEqualTo(b);
    assertThat(a).isNotEqualTo(c);
    // A fresh Sampler (buffers from other sequences) does not change the result either.
    Sampler shared = new Sampler(V);
    SamplerState st1 = new SamplerState(42);
    SamplerState st2 = new SamplerState(7);
    for (int i = 0; i < 200; i++) {
      float[] l = randomLogits(i);
      assertThat(shared.sample(l, p, st1)).isEqualTo(a[i]);
      shared.sample(l, p, st2); // interleaved sequence
    }
  }

  @Test
  void greedyIsArgmaxWithLowestIdOnTies() {
    float[] l = randomLogits(1);
    l[10] = 100;
    l[20] = 100;
    Sampler s = new Sampler(V);
    assertThat(s.sample(l, SamplingParams.greedy(1), new SamplerState(0))).isEqualTo(10);
  }

  @Test
  void topK1EqualsGreedyAtAnyTemperature() {
    Sampler s = new Sampler(V);
    SamplingParams k1 = SamplingParams.builder().temperature(2f).topK(1).build();
    for (int i = 0; i < 100; i++) {
      float[] l = randomLogits(100 + i);
      if (i % 10 == 0) {
        l[i] = l[i + 1] = 50; // a tie
      }
      int greedy = s.sample(l, SamplingParams.greedy(1), new SamplerState(0));
      assertThat(s.sample(l, k1, new SamplerState(i))).isEqualTo(greedy);
    }
  }

  @Test
  void topKOnlyDrawsFromTheKLargest() {
    float[] l = randomLogits(5);
    int[] top = {17, 230, 555, 901, 999};
    float[] values = {20f, 20.5f, 21f, 19.5f, 19.8f};
    for (int i = 0; i < top.length; i++) {
      l[top[i]] = values[i];
    }
    l[400] = 18.5f; // the sixth largest: close, but out
    Sampler s = new Sampler(V);
    SamplingParams p = SamplingParams.builder().temperature(2f).topK(5).build();
    SamplerState st = new SamplerState(3);
    Set<Integer> seen = new HashSet<>();
    for (int i = 0; i < 2000; i++) {
      seen.add(s.sample(l, p, st));
    }
    assertThat(seen).containsExactlyInAnyOrder(17, 230, 555, 901, 999);
  }

  @Test
  void topPKeepsTheSmallestSetReachingTheMass() {
    // probabilities 0.5, 0.25, 0.125, 0.0625, ... (logits ln p)
    float[] l = new float[V];
    java.util.Arrays.fill(l, -1000f);
    double[] probs = {0.5, 0.25, 0.125, 0.0625, 0.0625};
    for (int i = 0; i < probs.length; i++) {
      l[100 + i] = (float) Math.log(probs[i]);
    }
    Sampler s = new Sampler(V);
    SamplerState st = new SamplerState(11);
    SamplingParams p = SamplingParams.builder().temperature(1f).topP(0.8f).build();
    int[] hits = new int[V];
    int n = 20000;
    for (int i = 0; i < n; i++) {
      hits[s.sample(l, p, st)]++;
    }
    // 0.5 + 0.25 < 0.8 <= 0.875: exactly the three most likely survive, renormalized.
    assertThat(hits[103] + hits[104]).isZero();
    assertThat(hits[100] / (double) n).isCloseTo(0.5 / 0.875, within(0.02));
    assertThat(hits[101] / (double) n).isCloseTo(0.25 / 0.875, within(0.02));
    assertThat(hits[102] / (double) n).isCloseTo(0.125 / 0.875, within(0.02));
  }

  @Test
  void minPCutsTokensBelowTheFractionOfTheBest() {
    float[] l = new float[V];
    java.util.Arrays.fill(l, -1000f);
    l[1] = (float) Math.log(0.6);
    l[2] = (float) Math.log(0.3); // 0.5 of the best: kept
    l[3] = (float) Math.log(0.1); // 0.167 of the best: cut
    Sampler s = new Sampler(V);
    SamplerState st = new SamplerState(5);
    SamplingParams p = SamplingParams.builder().minP(0.4f).build();
    int[] hits = new int[V];
    for (int i = 0; i < 5000; i++) {
      hits[s.sample(l, p, st)]++;
    }
    assertThat(hits[3]).isZero();
    assertThat(hits[1]).isPositive();
    assertThat(hits[2]).isPositive();
    assertThat(hits[1] + hits[2]).isEqualTo(5000);
  }

  private static int countRepeats(SamplingParams p) {
    // A peaked, fixed distribution: without penalties the same few tokens come back again.
    float[] l = new float[V];
    for (int i = 0; i < V; i++) {
      l[i] = -i * 0.05f;
    }
    Sampler s = new Sampler(V);
    SamplerState st = new SamplerState(9);
    Set<Integer> distinct = new HashSet<>();
    int n = 200;
    for (int i = 0; i < n; i++) {
      distinct.add(s.sample(l, p, st));
    }
    return n - distinct.size();
  }

  @Test
  void penaltiesReduceRepetition() {
    SamplingParams base = SamplingParams.builder().temperature(1f).build();
    int none = countRepeats(base);
    int presence = countRepeats(base.toBuilder().presencePenalty(2f).build());
    int frequency = countRepeats(base.toBuilder().frequencyPenalty(2f).build());
    int repetition = countRepeats(base.toBuilder().repetitionPenalty(3f).build());
    assertThat(presence).isLessThan(none);
    assertThat(frequency).isLessThan(none);
    assertThat(repetition).isLessThan(none);
    // A negative presence penalty encourages repeats.
    assertThat(countRepeats(base.toBuilder().presencePenalty(-2f).build())).isGreaterThan(none);
  }

  @Test
  void greedyWithFrequencyPenaltyMovesOffARepeatedToken() {
    float[] l = new float[V];
    l[7] = 1.0f;
    l[8] = 0.5f;
    Sampler s = new Sampler(V);
    SamplingParams p = SamplingParams.builder().temperature(0).frequencyPenalty(0.3f).build();
    SamplerState st = new SamplerState(0);
    assertThat(s.sample(l, p, st)).isEqualTo(7); // 1.0 vs 0.5
    assertThat(s.sample(l, p, st)).isEqualTo(7); // 0.7 vs 0.5
    assertThat(s.sample(l, p, st)).isEqualTo(8); // 0.4 vs 0.5
    // The window limits what is counted: with window 1 only the last token counts.
    SamplerState w = new SamplerState(0);
    SamplingParams p1 = p.toBuilder().penaltyWindow(1).frequencyPenalty(0.6f).build();
    w.accept(7);
    w.accept(8);
    assertThat(s.sample(l, p1, w)).isEqualTo(7); // only the 8 is penalized
  }

  @Test
  void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() {
    float[] l = new float[V];
    java.util.Arrays.fill(l, -10f);
    l[1] = 2.0f;
    l[2] = 1.5f;
    Sampler s = new Sampler(V);
    SamplingParams p = SamplingParams.builder().temperature(0).repetitionPenalty(2f).build();
    SamplerState st = new SamplerState(0);
    st.accept(1);
    assertThat(s.sample(l, p, st)).isEqualTo(2); // 2.0 / 2 = 1.0 < 1.5
  }

  @Test
  void logprobsAreTheLogSoftmaxOfTheRawLogits() {
    float[] l = randomLogits(77);
    Sampler s = new Sampler(V);
    TokenLogprobs lp = new TokenLogprobs();
    SamplingParams p = SamplingParams.builder().temperature(0.7f).topK(40).logprobs(5).build();
    int t = s.sample(l, 0, p, new SamplerState(1), lp);
    assertThat(lp.token()).isEqualTo(t);
    double sum = 0;
    for (float x : l) {
      sum += Math.exp(x);
    }
    assertThat((double) lp.logprob()).isCloseTo(l[t] - Math.log(sum), within(1e-4));
    assertThat(lp.count()).isEqualTo(5);
    // The alternatives are the five largest logits, in order, and their probabilities sum to
    // less than one.
    double mass = 0;
    for (int i = 0; i < lp.count(); i++) {
      assertThat((double) lp.topLogprob(i)).isCloseTo(l[lp.topId(i)] - Math.log(sum), within(1e-4));
      if (i > 0) {
        assertThat(lp.topLogprob(i)).isLessThanOrEqualTo(lp.topLogprob(i - 1));
      }
      mass += Math.exp(lp.topLogprob(i));
    }
    assertThat(mass).isLessThan(1.0);
    assertThat(lp.topId(0))
        .isEqualTo(new Sampler(V).sample(l, SamplingParams.greedy(1), new SamplerState(0)));
  }

  @Test
  void logprobsOverTheWholeVocabularySumToOne() {
    int v = 20;
    float[] l = new float[v];
    for (int i = 0; i < v; i++) {
      l[i] = (float) Math.sin(i) * 4;
    }
    Sampler s = new Sampler(v);
    TokenLogprobs lp = new TokenLogprobs(20);
    s.sample(l, 0, SamplingParams.builder().logprobs(20).build(), new SamplerState(3), lp);
    double mass = 0;
    for (int i = 0; i < lp.count(); i++) {
      mass += Math.exp(lp.topLogprob(i));
    }
    assertThat(lp.count()).isEqualTo(20);
    assertThat(mass).isCloseTo(1.0, within(1e-5));
  }

  @Test
  void samplesFromARowOfABatch() {
    float[] rows = new float[3 * V];
    float[] row1 = randomLogits(3);
    System.arraycopy(row1, 0, rows, V, V);
    Sampler s = new Sampler(V);
    SamplingParams p = SamplingParams.builder().temperature(0.9f).build();
    assertThat(s.sample(rows, V, p, new SamplerState(4), null))
        .isEqualTo(s.sample(row1, 0, p, new SamplerState(4), null));
  }

  @Test
  void promptTokensCountForRepetitionButNotForPresenceOrFrequency() {
    float[] l = new float[V];
    l[7] = 1.0f;
    l[8] = 0.9f;
    Sampler s = new Sampler(V);
    SamplingParams presence = SamplingParams.builder().temperature(0).presencePenalty(2f).build();
    SamplerState st = new SamplerState(0);
    st.acceptPrompt(new int[] {7, 7, 7}, 0, 3);
    assertThat(s.sample(l, presence, st)).isEqualTo(7); // the prompt's 7s are not penalized
    assertThat(s.sample(l, presence, st)).isEqualTo(8); // the generated 7 is
    SamplingParams repetition =
        SamplingParams.builder().temperature(0).repetitionPenalty(2f).build();
    SamplerState st2 = new SamplerState(0);
    st2.acceptPrompt(new int[] {7}, 0, 1);
    assertThat(s.sample(l, repetition, st2)).isEqualTo(8); // 1.0 / 2 < 0.9
  }

  @Test
  void sequenceSamplerFollowsTheEngineSequence() {
    Sampler shared = new Sampler(V);
    SamplingParams p = SamplingParams.builder().temperature(0.8f).seed(99L).build();
    int[] seq = new int[40];
    seq[0] = 1;
    seq[1] = 2;
    int len = 2;
    SequenceSampler a = new SequenceSampler(shared, p, 2);
    for (int i = 0; i < 30; i++) {
      seq[len] = a.sample(randomLogits(i), 0, V, seq, len);
      len++;
    }
    // The same seed over the same logits replays the same tokens.
    SamplerState st = new SamplerState(99L);
    st.acceptPrompt(new int[] {1, 2}, 0, 2);
    for (int i = 0; i < 30; i++) {
      assertThat(shared.sample(randomLogits(i), p, st)).isEqualTo(seq[2 + i]);
    }
    assertThat(a.seed()).isEqualTo(99L);
  }
}
