package dev.sluice.engine;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Throwaway generation that runs a freshly loaded model's kernels before real requests do.
 *
 * <p>Why: on the JVM the CPU kernels start in the interpreter, where Vector API code is 10-100x
 * slower than once C2 has compiled it, and the batched kernels (two or more sequences) compile only
 * when a batch first runs. Without a warm-up the first real batch crawls, and the rate the worker
 * reports to the gateways' admission model from those steps makes admission refuse work a warm
 * device would finish in time. The warm-up runs rounds of batch sizes 1, 2, 4, ... up to {@code
 * maxSeqs} (each a short prompt, prefilled in one step, then a few decode steps) until a round no
 * longer gets faster (at least {@value #MIN_ROUNDS} rounds, the last one taking at least 90% of the
 * one before: the compiled code is in) or its time budget is spent, whichever comes first.
 *
 * <p>It runs on a sibling engine over the same runner (weights and KV memory) with its own block
 * pool, so the real engine's counters, which feed metrics and the admission rates, never see it;
 * hence the real engine must hold no sequence meanwhile. Call it on the device's owner thread.
 */
public final class Warmup {
  private static final int PROMPT_TOKENS = 8;
  private static final int DECODE_TOKENS = 8;
  private static final int MIN_ROUNDS = 3;

  /**
   * What the warm-up did.
   *
   * @param rounds complete rounds of every batch size
   * @param steps forward steps run
   * @param tokens tokens processed (prompt and generated)
   * @param nanos time spent
   */
  public record Report(int rounds, long steps, long tokens, long nanos) {}

  private Warmup() {}

  /**
   * Warms up {@code engine}'s runner for at most {@code budget} (a step in progress finishes; a
   * round cut short is cancelled). {@link Duration#ZERO} does nothing.
   *
   * @throws IllegalStateException when {@code engine} holds sequences
   */
  public static Report run(BatchEngine engine, Duration budget) {
    if (budget.isNegative()) {
      throw new IllegalArgumentException("warm-up budget must be >= 0, got " + budget);
    }
    if (!engine.idle() || engine.pool().usedBlocks() != 0) {
      throw new IllegalStateException("warm-up needs an idle engine (it shares the KV memory)");
    }
    long start = System.nanoTime();
    if (budget.isZero()) {
      return new Report(0, 0, 0, 0);
    }
    long end = start + budget.toNanos();
    BatchEngine.Settings s = engine.settings();
    ModelRunner runner = engine.runner();
    BatchEngine sibling = new BatchEngine(runner, new KvBlockPool(runner.kvCache()), s);
    int vocab = runner.config().vocabSize();
    int prompt = Math.max(1, Math.min(PROMPT_TOKENS, s.maxSeqLen() / 2));
    int decode = Math.max(1, Math.min(DECODE_TOKENS, s.maxSeqLen() - prompt - 1));
    TokenSink sink =
        new TokenSink() {
          @Override
          public boolean onToken(SequenceHandle seq, int token) {
            return true;
          }

          @Override
          public void onFinish(SequenceHandle seq, FinishReason reason, Throwable error) {}
        };
    List<Integer> sizes = batchSizes(s.maxSeqs());
    int rounds = 0;
    List<SequenceHandle> submitted = new ArrayList<>();
    long lastRound = Long.MAX_VALUE;
    rounds:
    while (true) {
      long roundStart = System.nanoTime();
      for (int b : sizes) {
        submitted.clear();
        for (int i = 0; i < b; i++) {
          int[] p = new int[prompt];
          for (int t = 0; t < prompt; t++) {
            // Spread over the vocabulary; any id is a valid input.
            p[t] = (int) ((1L + 7919L * (i * prompt + t)) % vocab);
          }
          submitted.add(
              sibling.submit(new GenerationRequest(p, decode, null, TokenSampler.greedy(), sink)));
        }
        while (!sibling.idle()) {
          if (System.nanoTime() >= end) {
            for (SequenceHandle h : submitted) {
              sibling.cancel(h.id());
            }
            break rounds;
          }
          sibling.step();
        }
      }
      rounds++;
      long now = System.nanoTime();
      long took = now - roundStart;
      if (now >= end || (rounds >= MIN_ROUNDS && took >= 0.9 * lastRound)) {
        break;
      }
      lastRound = took;
    }
    return new Report(
        rounds,
        sibling.steps(),
        sibling.promptTokensProcessed() + sibling.decodeTokensProcessed(),
        System.nanoTime() - start);
  }

  /** 1, 2, 4, ... below {@code maxSeqs}, then {@code maxSeqs} itself. */
  static List<Integer> batchSizes(int maxSeqs) {
    List<Integer> sizes = new ArrayList<>();
    for (int b = 1; b < maxSeqs; b *= 2) {
      sizes.add(b);
    }
    sizes.add(maxSeqs);
    return sizes;
  }
}
