package dev.sluice.engine;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * The continuous-batching core: one {@link #step} runs one forward pass over every active sequence
 * of a {@link ModelRunner}, decoding one token for each generating sequence and prefilling the
 * prompts of new ones in chunks, within a per-step token budget. Sequences join ({@link #submit})
 * and leave (finish, {@link #cancel}) between steps.
 *
 * <p>Scheduling: requests wait in FIFO order until a sequence slot and the KV blocks for their
 * whole length (prompt + max tokens, capped at the context) are free; the blocks are taken at
 * admission, so a running sequence never runs out of cache mid-way and no preemption is needed. In
 * each step, decoding sequences go first (one token each, for steady inter-token latency), then
 * prefilling ones take chunks of at most {@code prefillChunk} tokens from what is left of the
 * budget, oldest first. A sequence paused by its consumer ({@link #setPaused}) keeps its slot and
 * blocks but is left out of the batch until resumed.
 *
 * <p>Threading: not thread-safe; one owner thread (the device's) calls every method. Sinks and
 * samplers run on that thread, inside {@link #step}; a sink may call {@link #cancel}, which then
 * takes effect at the end of the step. Failure semantics: a request that can never fit (prompt
 * longer than the context, more blocks than the pool holds) is refused by {@link #submit}; a failed
 * forward pass finishes the sequences of that batch with {@link FinishReason#ERROR} and frees their
 * blocks, leaving the others running; a sampler or sink that throws finishes only its own sequence.
 * Every submitted request gets exactly one {@link TokenSink#onFinish}. A steady stream of steps
 * allocates nothing.
 */
public final class BatchEngine {

  /**
   * Limits of the engine.
   *
   * @param maxSeqs sequences running at once (batch size)
   * @param stepTokenBudget most tokens of one forward pass, decode and prefill together; at least
   *     {@code maxSeqs} so that every decoding sequence advances every step
   * @param prefillChunk most prompt tokens one sequence prefills in one step
   * @param maxSeqLen most positions of one sequence (prompt and output), at most the model context
   */
  public record Settings(int maxSeqs, int stepTokenBudget, int prefillChunk, int maxSeqLen) {
    public Settings {
      if (maxSeqs < 1) {
        throw new IllegalArgumentException("maxSeqs must be >= 1, got " + maxSeqs);
      }
      if (stepTokenBudget < maxSeqs) {
        throw new IllegalArgumentException(
            "stepTokenBudget (" + stepTokenBudget + ") must be >= maxSeqs (" + maxSeqs + ")");
      }
      if (prefillChunk < 1) {
        throw new IllegalArgumentException("prefillChunk must be >= 1, got " + prefillChunk);
      }
      if (maxSeqLen < 2) {
        throw new IllegalArgumentException("maxSeqLen must be >= 2, got " + maxSeqLen);
      }
    }
  }

  private final ModelRunner runner;
  private final KvBlockPool pool;
  private final Settings settings;
  private final int vocab;
  private final int maxBlocksPerSeq;
  private final ArrayDeque<SequenceHandle> waiting = new ArrayDeque<>();
  private final SequenceHandle[] running; // (maxSeqs) admitted, in admission order
  private int numRunning;
  private final Map<Long, SequenceHandle> byId = new HashMap<>();
  private final StepBatch batch;
  private final SequenceHandle[] inBatch; // (maxSeqs) sequence of each batch row
  private final float[] logits; // (maxSeqs, vocab)
  private boolean inStep;
  private boolean cancelPending;
  private long nextId = 1;
  private long promptTokens;
  private long decodeTokens;
  private long steps;
  private int lastStepSequences;

  public BatchEngine(ModelRunner runner, KvBlockPool pool, Settings settings) {
    if (pool.blockSize() != runner.kvCache().blockSize()
        || pool.numBlocks() != runner.kvCache().numBlocks()) {
      throw new IllegalArgumentException(
          "block pool "
              + pool.numBlocks()
              + "x"
              + pool.blockSize()
              + " does not match the runner's KV cache "
              + runner.kvCache());
    }
    if (settings.maxSeqLen() > runner.config().contextLength()) {
      throw new IllegalArgumentException(
          "maxSeqLen "
              + settings.maxSeqLen()
              + " exceeds the model's context length "
              + runner.config().contextLength());
    }
    this.runner = runner;
    this.pool = pool;
    this.settings = settings;
    this.vocab = runner.config().vocabSize();
    this.maxBlocksPerSeq = pool.blocksFor(settings.maxSeqLen());
    this.running = new SequenceHandle[settings.maxSeqs()];
    this.inBatch = new SequenceHandle[settings.maxSeqs()];
    this.batch = new StepBatch(settings.maxSeqs(), settings.stepTokenBudget(), maxBlocksPerSeq);
    this.logits = new float[settings.maxSeqs() * vocab];
  }

  public Settings settings() {
    return settings;
  }

  public KvBlockPool pool() {
    return pool;
  }

  /** The runner this engine drives (for {@link Warmup}). */
  ModelRunner runner() {
    return runner;
  }

  /** Queues a request; it joins the batch at a following step when slots and blocks allow. */
  public SequenceHandle submit(GenerationRequest request) {
    int promptLen = request.prompt().length;
    if (promptLen >= settings.maxSeqLen()) {
      throw new IllegalArgumentException(
          "prompt of "
              + promptLen
              + " tokens does not fit the context of "
              + settings.maxSeqLen()
              + " tokens");
    }
    for (int t : request.prompt()) {
      if (t < 0 || t >= vocab) {
        throw new IllegalArgumentException(
            "prompt token id " + t + " is not in the vocabulary [0, " + vocab + ")");
      }
    }
    int blocks = blocksNeeded(request);
    if (blocks > pool.numBlocks()) {
      throw new KvCacheExhaustedException(
          "request needs "
              + blocks
              + " KV blocks but the pool holds only "
              + pool.numBlocks()
              + "; lower max tokens or enlarge the cache");
    }
    SequenceHandle seq =
        new SequenceHandle(
            nextId++,
            request,
            (int) Math.min((long) promptLen + request.maxTokens(), settings.maxSeqLen() + 1L));
    seq.blocks = new int[maxBlocksPerSeq];
    if (request.maxTokens() == 0) {
      seq.finishReason = FinishReason.LENGTH;
      notifyFinish(seq, null);
      return seq;
    }
    waiting.addLast(seq);
    byId.put(seq.id(), seq);
    return seq;
  }

  /**
   * Cancels a waiting or running sequence; its KV blocks are freed at once (at the end of the
   * current step when called from a sink). Returns false when no such sequence is active.
   */
  public boolean cancel(long id) {
    SequenceHandle seq = byId.get(id);
    if (seq == null || seq.finishReason != null) {
      return false;
    }
    if (inStep) {
      seq.finishReason = FinishReason.CANCELLED; // finished after the step's loop
      cancelPending = true;
      return true;
    }
    seq.finishReason = FinishReason.CANCELLED;
    if (waiting.remove(seq)) {
      retire(seq, null);
    } else {
      retire(seq, null);
      compactRunning();
    }
    return true;
  }

  /**
   * Pauses or resumes a running sequence's decoding, e.g. while its consumer is slow: a paused
   * sequence keeps its slot and KV blocks but takes no part in the following steps (its prompt
   * still prefills), so it produces no tokens. Called on the owner thread, between steps or from a
   * sink. Returns false when no such sequence is active.
   */
  public boolean setPaused(long id, boolean paused) {
    SequenceHandle seq = byId.get(id);
    if (seq == null || seq.finishReason != null) {
      return false;
    }
    seq.paused = paused;
    return true;
  }

  /** Sequences admitted and running. */
  public int running() {
    return numRunning;
  }

  /** Sequences waiting for a slot or KV blocks. */
  public int waiting() {
    return waiting.size();
  }

  /** True when nothing runs or waits. */
  public boolean idle() {
    return numRunning == 0 && waiting.isEmpty();
  }

  /** Prompt tokens written to the KV cache so far. */
  public long promptTokensProcessed() {
    return promptTokens;
  }

  /** Tokens fed while decoding (one per generating sequence per step) so far. */
  public long decodeTokensProcessed() {
    return decodeTokens;
  }

  public long steps() {
    return steps;
  }

  /** Sequences in the last forward pass that {@link #step} ran (0 before the first). */
  public int lastStepSequences() {
    return lastStepSequences;
  }

  /**
   * Admits waiting sequences, runs one forward pass over the running ones, samples and delivers
   * their next tokens. Returns false (doing nothing) when no sequence is running or admissible.
   */
  public boolean step() {
    admit();
    if (numRunning == 0) {
      return false;
    }
    inStep = true;
    try {
      buildBatch();
      int rows = batch.numSeqs;
      if (rows == 0) {
        return false; // every running sequence is paused
      }
      try {
        runner.forward(batch, logits);
      } catch (RuntimeException e) {
        for (int i = 0; i < rows; i++) {
          fail(inBatch[i], e);
        }
        return true;
      }
      steps++;
      lastStepSequences = rows;
      for (int i = 0; i < rows; i++) {
        SequenceHandle seq = inBatch[i];
        int len = batch.seqLen(i);
        boolean wasPrefill = seq.prefilling();
        seq.cached += len;
        if (wasPrefill) {
          promptTokens += len;
        } else {
          decodeTokens += len;
        }
        if (seq.finishReason == null && !seq.prefilling()) {
          advance(seq, i);
        }
      }
    } finally {
      inStep = false;
      for (int i = 0; i < batch.numSeqs; i++) {
        SequenceHandle seq = inBatch[i];
        if (seq.finishReason != null && seq.numBlocks > 0) {
          retire(seq, null);
        }
        inBatch[i] = null;
      }
      if (cancelPending) {
        cancelPending = false;
        finishCancelled();
      }
      compactRunning();
    }
    return true;
  }

  /** Samples the next token of a sequence whose input is all cached, and delivers it. */
  private void advance(SequenceHandle seq, int row) {
    GenerationRequest r = seq.request;
    int token;
    try {
      token = r.sampler().sample(logits, row * vocab, vocab, seq.tokens, seq.length);
      if (token < 0 || token >= vocab) {
        throw new IllegalStateException(
            "sampler returned token " + token + " not in the vocabulary");
      }
    } catch (RuntimeException e) {
      fail(seq, e);
      return;
    }
    if (r.isStopToken(token)) {
      seq.finishReason = FinishReason.STOP;
      return;
    }
    seq.tokens[seq.length++] = token;
    boolean more;
    try {
      more = r.sink().onToken(seq, token);
    } catch (RuntimeException e) {
      fail(seq, e);
      return;
    }
    if (seq.finishReason != null) {
      return; // cancelled by the sink
    }
    if (!more) {
      seq.finishReason = FinishReason.STOP;
    } else if (seq.generated() >= r.maxTokens() || seq.length > settings.maxSeqLen()) {
      // The next input would sit at position length - 1, past the sequence's context.
      seq.finishReason = FinishReason.LENGTH;
    }
  }

  private void admit() {
    while (!waiting.isEmpty() && numRunning < running.length) {
      SequenceHandle head = waiting.peekFirst();
      int need = blocksNeeded(head.request);
      if (pool.freeBlocks() < need) {
        return; // FIFO: later requests wait behind the head, so large prompts never starve
      }
      pool.allocate(need, head.blocks, 0);
      head.numBlocks = need;
      waiting.pollFirst();
      running[numRunning++] = head;
    }
  }

  private void buildBatch() {
    batch.clear();
    int budget = settings.stepTokenBudget();
    // Decoding sequences first: one token each, and the budget always covers them.
    for (int i = 0; i < numRunning; i++) {
      SequenceHandle seq = running[i];
      if (!seq.prefilling() && !seq.paused) {
        inBatch[batch.numSeqs] = seq;
        batch.add(seq.tokens, seq.cached, 1, seq.cached, seq.blocks, seq.numBlocks);
        budget--;
      }
    }
    for (int i = 0; i < numRunning && budget > 0; i++) {
      SequenceHandle seq = running[i];
      if (seq.prefilling()) {
        int len =
            Math.min(Math.min(settings.prefillChunk(), seq.promptLength() - seq.cached), budget);
        inBatch[batch.numSeqs] = seq;
        batch.add(seq.tokens, seq.cached, len, seq.cached, seq.blocks, seq.numBlocks);
        budget -= len;
      }
    }
  }

  private int blocksNeeded(GenerationRequest r) {
    // The last generated token is never fed back, so prompt + maxTokens - 1 positions at most.
    long positions = Math.min((long) r.prompt().length + r.maxTokens() - 1, settings.maxSeqLen());
    return pool.blocksFor((int) Math.max(positions, r.prompt().length));
  }

  private void fail(SequenceHandle seq, Throwable e) {
    if (seq.finishReason == null || seq.numBlocks > 0) {
      seq.finishReason = FinishReason.ERROR;
      retire(seq, e);
    }
  }

  private void finishCancelled() {
    // Collect first: a sink's onFinish may submit new requests into the queue being scanned.
    java.util.List<SequenceHandle> cancelled = new java.util.ArrayList<>();
    for (Iterator<SequenceHandle> it = waiting.iterator(); it.hasNext(); ) {
      SequenceHandle seq = it.next();
      if (seq.finishReason == FinishReason.CANCELLED) {
        it.remove();
        cancelled.add(seq);
      }
    }
    for (int i = 0; i < numRunning; i++) {
      if (running[i].finishReason == FinishReason.CANCELLED && running[i].numBlocks > 0) {
        cancelled.add(running[i]);
      }
    }
    for (SequenceHandle seq : cancelled) {
      retire(seq, null);
    }
  }

  /** Frees the sequence's blocks and tells its sink. The sequence leaves {@code running} later. */
  private void retire(SequenceHandle seq, Throwable error) {
    if (seq.numBlocks > 0) {
      pool.release(seq.blocks, 0, seq.numBlocks);
      seq.numBlocks = 0;
    }
    if (byId.remove(seq.id()) != null) {
      notifyFinish(seq, error);
    }
  }

  private void notifyFinish(SequenceHandle seq, Throwable error) {
    try {
      seq.request.sink().onFinish(seq, seq.finishReason, error);
    } catch (RuntimeException ignored) {
      // The sequence is over either way; a failing sink must not break the other sequences.
    }
  }

  private void compactRunning() {
    int n = 0;
    for (int i = 0; i < numRunning; i++) {
      if (running[i].finishReason == null) {
        running[n++] = running[i];
      }
    }
    for (int i = n; i < numRunning; i++) {
      running[i] = null;
    }
    numRunning = n;
  }
}
