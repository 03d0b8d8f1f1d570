package dev.sluice.engine;

import java.util.Arrays;

/**
 * The input of one batched forward step, in flat arrays reused from step to step (no allocation per
 * step). Decoding sequences contribute one token, prefilling ones a chunk of their prompt.
 */
public final class StepBatch {
  public final int maxSeqs;
  public final int maxTokens;
  public final int maxBlocksPerSeq;

  /** Sequences in this step. */
  public int numSeqs;

  /** (maxTokens) the new tokens of all sequences, sequence after sequence. */
  public final int[] tokens;

  /** (maxSeqs + 1) sequence {@code s} owns {@code tokens[seqStart[s] .. seqStart[s+1])}. */
  public final int[] seqStart;

  /** (maxSeqs) position of the first new token of each sequence (= tokens already cached). */
  public final int[] seqPos;

  /** (maxSeqs * maxBlocksPerSeq) KV block ids of each sequence, in position order. */
  public final int[] blockTable;

  /** When true, logits come out for every token (tests, log-probabilities of prompts). */
  public boolean allLogits;

  public StepBatch(int maxSeqs, int maxTokens, int maxBlocksPerSeq) {
    this.maxSeqs = maxSeqs;
    this.maxTokens = maxTokens;
    this.maxBlocksPerSeq = maxBlocksPerSeq;
    this.tokens = new int[maxTokens];
    this.seqStart = new int[maxSeqs + 1];
    this.seqPos = new int[maxSeqs];
    this.blockTable = new int[maxSeqs * maxBlocksPerSeq];
  }

  public void clear() {
    numSeqs = 0;
    seqStart[0] = 0;
    allLogits = false;
  }

  /**
   * Appends a sequence: {@code len} tokens from {@code toks[off..]} at positions {@code pos..},
   * stored in {@code blocks[0..numBlocks)}.
   */
  public void add(int[] toks, int off, int len, int pos, int[] blocks, int numBlocks) {
    if (numSeqs == maxSeqs) {
      throw new IllegalStateException("batch full: " + maxSeqs + " sequences");
    }
    int start = seqStart[numSeqs];
    if (start + len > maxTokens) {
      throw new IllegalStateException("batch full: " + maxTokens + " tokens");
    }
    if (numBlocks > maxBlocksPerSeq) {
      throw new IllegalArgumentException(
          numBlocks + " blocks > maxBlocksPerSeq " + maxBlocksPerSeq);
    }
    System.arraycopy(toks, off, tokens, start, len);
    System.arraycopy(blocks, 0, blockTable, numSeqs * maxBlocksPerSeq, numBlocks);
    Arrays.fill(
        blockTable, numSeqs * maxBlocksPerSeq + numBlocks, (numSeqs + 1) * maxBlocksPerSeq, -1);
    seqPos[numSeqs] = pos;
    numSeqs++;
    seqStart[numSeqs] = start + len;
  }

  public int totalTokens() {
    return seqStart[numSeqs];
  }

  public int seqLen(int s) {
    return seqStart[s + 1] - seqStart[s];
  }

  /** Rows of logits that {@link ModelRunner#forward} writes. */
  public int logitRows() {
    return allLogits ? totalTokens() : numSeqs;
  }
}
