package dev.sluice.pipeline;

import dev.sluice.engine.BatchEngine;
import dev.sluice.engine.FinishReason;
import dev.sluice.engine.GenerationRequest;
import dev.sluice.engine.SequenceHandle;
import dev.sluice.engine.TokenSampler;
import dev.sluice.engine.TokenSink;
import dev.sluice.engine.sampling.Sampler;
import dev.sluice.engine.sampling.SamplerState;
import dev.sluice.engine.sampling.SamplingParams;
import dev.sluice.engine.sampling.TokenLogprobs;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.QueueOfferResult;

/**
 * The dedicated thread that owns one device: it loads the model there (device contexts are bound to
 * a thread), then runs the continuous-batching loop: take new requests and cancellations from its
 * inbox, run one {@link BatchEngine#step} over every active sequence, hand each new token to its
 * request's bounded output queue, repeat. Sequences join and leave between steps.
 *
 * <p>Backpressure: a request whose output queue is nearly full is paused ({@link
 * BatchEngine#setPaused}: it keeps its KV blocks but no longer decodes) and resumed once its
 * consumer has drained half of it; the compute stage hands over at most {@code computeWindow}
 * requests that wait for a sequence slot ({@link #reserve}).
 *
 * <p>Failure semantics: a failed forward pass fails only the sequences of that batch (the engine's
 * rule); anything thrown out of the loop itself (an {@link Error}, a lost device context) is fatal:
 * the loop stops, and in {@code finally} every request it holds, running, waiting or still in the
 * inbox, gets a {@code device_error} failure; {@link #terminated} then completes exceptionally.
 * Nothing is ever dropped silently.
 */
public final class DeviceLoop implements AutoCloseable {

  /** Loads the model on the device thread. */
  @FunctionalInterface
  public interface Loader {
    DeviceModel load() throws Exception;
  }

  /**
   * Told about every forward step, on the device thread, right after it ran: keep it short and
   * allocation-free (it feeds metrics). Also called once after the model is loaded, with a batch of
   * 0, so KV-cache gauges start at the pool's size.
   */
  @FunctionalInterface
  public interface StepListener {
    /**
     * @param sequences sequences in the step's forward pass (0: the after-load call)
     * @param promptTokensProcessed the engine's prompt tokens written to the KV cache so far
     * @param freeKvBlocks KV blocks free after the step
     * @param totalKvBlocks KV blocks in the device's pool
     */
    void onStep(int sequences, long promptTokensProcessed, int freeKvBlocks, int totalKvBlocks);

    /** Listens to nothing. */
    StepListener NONE = (s, p, f, t) -> {};
  }

  /** A snapshot of the device's load, written by the device thread after every iteration. */
  public record Stats(
      int running,
      int maxSeqs,
      int waiting,
      long queuedPromptTokens,
      long queuedDecodeTokens,
      int freeKvBlocks,
      int totalKvBlocks,
      int kvBlockSize,
      long promptTokensProcessed,
      long decodeTokensProcessed) {
    static final Stats EMPTY = new Stats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  }

  /** Raw output of the device for one request, turned into text by {@link Postprocess}. */
  record TokenEvent(int token, TokenLogprobsCopy logprobs) {}

  /** Chosen token's log-probability and the top alternatives, copied off the shared buffer. */
  record TokenLogprobsCopy(float logprob, int[] topIds, float[] topLogprobs) {}

  /** The end of a request's raw output. */
  record EndEvent(
      FinishReason reason, int promptTokens, int generated, PipelineEvent.Failed fail) {}

  private sealed interface Op permits Submit, Cancel {}

  private record Submit(Prefetch.Prepared prepared, BoundedSourceQueue<Object> out) implements Op {}

  private record Cancel(String requestId) implements Op {}

  private final String name;
  private final Thread thread;
  private final ConcurrentLinkedQueue<Op> inbox = new ConcurrentLinkedQueue<>();
  // Prompt tokens of Submits posted but not yet reflected in the published stats.
  private final AtomicLong inTransitTokens = new AtomicLong();
  // Device thread only: tokens of Submits drained since the last stats publication.
  private long drainedTokens;
  private final CompletableFuture<DeviceModel> loaded = new CompletableFuture<>();
  private final CompletableFuture<Void> terminated = new CompletableFuture<>();
  private final int outputBuffer;
  private final StepListener stepListener;
  private volatile boolean closing;
  private volatile boolean dead;
  private volatile Stats stats = Stats.EMPTY;

  // Compute window: permits for requests handed to the engine that wait for a slot.
  private final Object windowLock = new Object();
  private int permits;
  private CompletableFuture<Void> permitWaiter;

  // Device-thread state.
  private DeviceModel model;
  private final Map<String, Live> live = new HashMap<>();
  private final List<Live> awaitingSlot = new ArrayList<>();
  private final List<Live> paused = new ArrayList<>();
  private Sampler sampler;
  private final TokenLogprobs lpBuf = new TokenLogprobs();
  private int reportedFree;

  private DeviceLoop(
      String name, int computeWindow, int outputBuffer, Loader loader, StepListener listener) {
    this.name = name;
    this.stepListener = listener;
    this.permits = computeWindow;
    this.outputBuffer = outputBuffer;
    this.thread = new Thread(() -> run(loader), "sluice-device-" + name);
    this.thread.setDaemon(true);
  }

  /**
   * Starts the device thread, which loads the model with {@code loader} and then serves.
   *
   * @param computeWindow requests that may wait in the engine for a sequence slot
   * @param outputBuffer capacity of each request's output queue (see {@link PipelineSettings})
   */
  public static DeviceLoop start(String name, int computeWindow, int outputBuffer, Loader loader) {
    return start(name, computeWindow, outputBuffer, loader, StepListener.NONE);
  }

  /** As {@link #start(String, int, int, Loader)}, telling {@code listener} about every step. */
  public static DeviceLoop start(
      String name, int computeWindow, int outputBuffer, Loader loader, StepListener listener) {
    DeviceLoop d = new DeviceLoop(name, computeWindow, outputBuffer, loader, listener);
    d.thread.start();
    return d;
  }

  public String name() {
    return name;
  }

  /** Completes with the model once loaded on the device, or with the loading error. */
  public CompletionStage<DeviceModel> loaded() {
    return loaded;
  }

  /** Completes when the loop has stopped: normally after {@link #close}, exceptionally if fatal. */
  public CompletionStage<Void> terminated() {
    return terminated;
  }

  /** The latest load snapshot (thread-safe). */
  public Stats stats() {
    return stats;
  }

  /** Whether the loop has stopped (closed or failed). */
  public boolean isDead() {
    return dead;
  }

  /**
   * A permit to hand one more request to the engine: completes at once while fewer than {@code
   * computeWindow} requests wait there for a slot, else when one of them starts. At most one caller
   * waits at a time (the compute stage, {@code mapAsync(1)}).
   */
  CompletionStage<Void> reserve() {
    synchronized (windowLock) {
      if (permits > 0) {
        permits--;
        return CompletableFuture.completedFuture(null);
      }
      permitWaiter = new CompletableFuture<>();
      return permitWaiter;
    }
  }

  private void releasePermit() {
    CompletableFuture<Void> w;
    synchronized (windowLock) {
      w = permitWaiter;
      if (w != null) {
        permitWaiter = null; // handed over directly
      } else {
        permits++;
      }
    }
    if (w != null) {
      w.complete(null);
    }
  }

  /** Hands a prepared request (holding a permit) to the device. */
  void submit(Prefetch.Prepared p, BoundedSourceQueue<Object> out) {
    inTransitTokens.addAndGet(p.tokens().length);
    post(new Submit(p, out));
  }

  /**
   * Prompt tokens on this device not yet prefilled: those of running and waiting sequences (as of
   * the last published stats) plus those submitted but not yet taken in by the device thread. A
   * submitted request is counted from {@link #submit} on, so the sum never misses it.
   */
  public long queuedPromptTokens() {
    return stats.queuedPromptTokens() + Math.max(0, inTransitTokens.get());
  }

  /** Cancels a request wherever it is; a no-op when it has already finished. */
  public void cancel(String requestId) {
    post(new Cancel(requestId));
  }

  private void post(Op op) {
    inbox.add(op);
    LockSupport.unpark(thread);
    if (dead) {
      failInbox("the device loop " + name + " has stopped");
    }
  }

  /** Stops the loop: running requests fail with {@code device_error}, the model is unloaded. */
  @Override
  public void close() {
    closing = true;
    LockSupport.unpark(thread);
  }

  private void run(Loader loader) {
    try {
      model = loader.load();
      sampler = new Sampler(vocab());
    } catch (Throwable t) {
      dead = true;
      loaded.completeExceptionally(t);
      terminated.completeExceptionally(t);
      failInbox("the model could not be loaded: " + t.getMessage());
      return;
    }
    Throwable fatal = null;
    try {
      BatchEngine engine = model.engine();
      reportedFree = engine.pool().freeBlocks();
      stepListener.onStep(
          0, engine.promptTokensProcessed(), reportedFree, engine.pool().numBlocks());
      loaded.complete(model);
      while (!closing) {
        drainInbox();
        resumeDrained();
        long stepsBefore = engine.steps();
        boolean worked = engine.step();
        int free = engine.pool().freeBlocks();
        boolean ran = engine.steps() != stepsBefore;
        if (ran || free != reportedFree) {
          // Also without a forward pass: a cancellation or a failed pass moves KV blocks.
          reportedFree = free;
          stepListener.onStep(
              ran ? engine.lastStepSequences() : 0,
              engine.promptTokensProcessed(),
              free,
              engine.pool().numBlocks());
        }
        trackAdmissions();
        publishStats();
        // After the stats that include them: counted twice for an instant, never zero times.
        inTransitTokens.addAndGet(-drainedTokens);
        drainedTokens = 0;
        if (!worked && inbox.isEmpty() && !closing) {
          // Idle, or every running sequence is paused: wake on new work, or poll paused ones.
          if (paused.isEmpty()) {
            LockSupport.park(this);
          } else {
            LockSupport.parkNanos(this, 1_000_000L);
          }
        }
      }
    } catch (Throwable t) {
      fatal = t;
    } finally {
      dead = true;
      loaded.complete(model); // no-op unless the after-load listener call threw
      // Requests still waiting for a window permit go on to submit(), which fails them.
      CompletableFuture<Void> waiter;
      synchronized (windowLock) {
        permits = Integer.MAX_VALUE / 2;
        waiter = permitWaiter;
        permitWaiter = null;
      }
      if (waiter != null) {
        waiter.complete(null);
      }
      String why =
          fatal == null ? "the worker is shutting down" : "device " + name + " failed: " + fatal;
      for (Live l : new ArrayList<>(live.values())) {
        l.end(new PipelineEvent.Failed("device_error", why, l.generated));
      }
      live.clear();
      failInbox(why);
      try {
        model.close();
      } catch (Throwable ignored) {
        // Already failing or stopping.
      }
      stats = Stats.EMPTY;
      if (fatal == null) {
        terminated.complete(null);
      } else {
        terminated.completeExceptionally(fatal);
      }
    }
  }

  private int vocab() {
    return model.tokenizer().vocabSize();
  }

  private void failInbox(String why) {
    Op op;
    while ((op = inbox.poll()) != null) {
      if (op instanceof Submit s) {
        inTransitTokens.addAndGet(-s.prepared().tokens().length);
        endQueue(
            s.out(), new EndEvent(null, 0, 0, new PipelineEvent.Failed("device_error", why, 0)));
        releasePermit();
      }
    }
  }

  private void drainInbox() {
    Op op;
    while ((op = inbox.poll()) != null) {
      switch (op) {
        case Submit s -> {
          drainedTokens += s.prepared().tokens().length;
          start(s);
        }
        case Cancel c -> {
          Live l = live.get(c.requestId());
          if (l != null) {
            model.engine().cancel(l.handle.id());
          }
        }
      }
    }
  }

  private void start(Submit s) {
    Prefetch.Prepared p = s.prepared();
    String id = p.request().id();
    if (live.containsKey(id)) {
      endQueue(
          s.out(),
          new EndEvent(
              null,
              0,
              0,
              new PipelineEvent.Failed("invalid_request", "duplicate request id " + id, 0)));
      releasePermit();
      return;
    }
    if (offer(s.out(), new PipelineEvent.Started(p.tokens().length))
        != QueueOfferResult.enqueued()) {
      releasePermit(); // its consumer is already gone
      return;
    }
    Live l = new Live(id, s.out(), p.request().params(), p.tokens().length);
    live.put(id, l);
    try {
      SamplingParams params = p.request().params();
      SamplerState state = new SamplerState(params);
      TokenLogprobs lp = params.logprobs() >= 0 ? lpBuf : null;
      TokenSampler ts =
          (logits, off, n, tokens, len) -> sampler.sample(logits, off, params, state, lp);
      List<Integer> stops = params.stopTokenIds();
      int[] eog = model.tokenizer().endOfGenerationIds();
      int[] stopIds = new int[eog.length + stops.size()];
      System.arraycopy(eog, 0, stopIds, 0, eog.length);
      for (int i = 0; i < stops.size(); i++) {
        stopIds[eog.length + i] = stops.get(i);
      }
      l.handle =
          model
              .engine()
              .submit(new GenerationRequest(p.tokens(), params.maxTokens(), stopIds, ts, l));
    } catch (RuntimeException e) {
      // Never fits this device (more KV blocks than it has): refuse it.
      live.remove(id);
      l.end(new PipelineEvent.Failed("prompt_too_long", e.getMessage(), 0));
      releasePermit();
      return;
    }
    if (l.finished) {
      releasePermit(); // finished inside submit (max tokens 0)
    } else {
      awaitingSlot.add(l);
    }
  }

  private void trackAdmissions() {
    for (int i = awaitingSlot.size() - 1; i >= 0; i--) {
      Live l = awaitingSlot.get(i);
      if (l.finished || l.handle.blocksHeld() > 0) {
        awaitingSlot.remove(i);
        releasePermit();
      }
    }
  }

  private void resumeDrained() {
    for (int i = paused.size() - 1; i >= 0; i--) {
      Live l = paused.get(i);
      if (l.finished) {
        paused.remove(i);
      } else if (l.out.size() <= outputBuffer / 2) {
        model.engine().setPaused(l.handle.id(), false);
        paused.remove(i);
      }
    }
  }

  private void publishStats() {
    BatchEngine e = model.engine();
    long queuedPrompt = 0;
    long queuedDecode = 0;
    for (Live l : live.values()) {
      SequenceHandle h = l.handle;
      if (h == null) {
        continue;
      }
      queuedPrompt += Math.max(0, h.promptLength() - h.cachedTokens());
      queuedDecode += Math.max(0, l.params.maxTokens() - h.generated());
    }
    stats =
        new Stats(
            e.running(),
            e.settings().maxSeqs(),
            e.waiting(),
            queuedPrompt,
            queuedDecode,
            e.pool().freeBlocks(),
            e.pool().numBlocks(),
            e.pool().blockSize(),
            e.promptTokensProcessed(),
            e.decodeTokensProcessed());
  }

  /** One request on the device: the engine's sink for its tokens. */
  private final class Live implements TokenSink {
    final String id;
    final BoundedSourceQueue<Object> out;
    final SamplingParams params;
    final int promptTokens;
    SequenceHandle handle;
    int generated;
    boolean finished;

    Live(String id, BoundedSourceQueue<Object> out, SamplingParams params, int promptTokens) {
      this.id = id;
      this.out = out;
      this.params = params;
      this.promptTokens = promptTokens;
    }

    @Override
    public boolean onToken(SequenceHandle seq, int token) {
      generated++;
      TokenLogprobsCopy lp = null;
      if (params.logprobs() >= 0) {
        int n = lpBuf.count();
        int[] ids = new int[n];
        float[] lps = new float[n];
        for (int i = 0; i < n; i++) {
          ids[i] = lpBuf.topId(i);
          lps[i] = lpBuf.topLogprob(i);
        }
        lp = new TokenLogprobsCopy(lpBuf.logprob(), ids, lps);
      }
      if (offer(out, new TokenEvent(token, lp)) != QueueOfferResult.enqueued()) {
        model.engine().cancel(seq.id()); // the consumer is gone
        return true;
      }
      // Two slots stay free: this step's end event always fits.
      if (out.size() >= outputBuffer - 2 && !seq.paused()) {
        model.engine().setPaused(seq.id(), true);
        paused.add(this);
      }
      return true;
    }

    @Override
    public void onFinish(SequenceHandle seq, FinishReason reason, Throwable error) {
      live.remove(id);
      PipelineEvent.Failed fail =
          switch (reason) {
            case STOP, LENGTH -> null;
            case CANCELLED ->
                new PipelineEvent.Failed("cancelled", "the request was cancelled", generated);
            case ERROR ->
                new PipelineEvent.Failed(
                    "engine_error",
                    "generation failed on " + name + ": " + (error == null ? "?" : error),
                    generated);
          };
      finishWith(new EndEvent(reason, promptTokens, generated, fail));
    }

    void end(PipelineEvent.Failed f) {
      finishWith(new EndEvent(null, promptTokens, generated, f));
    }

    private void finishWith(EndEvent e) {
      if (finished) {
        return;
      }
      finished = true;
      endQueue(out, e);
    }
  }

  /**
   * Offers to a request's output queue; a queue whose consumer is gone answers instead of throwing.
   */
  static QueueOfferResult offer(BoundedSourceQueue<Object> q, Object e) {
    try {
      return q.offer(e);
    } catch (RuntimeException gone) {
      return QueueOfferResult.closed();
    }
  }

  /** Offers the last element and completes the queue; never throws (the consumer may be gone). */
  static void endQueue(BoundedSourceQueue<Object> q, Object last) {
    offer(q, last);
    try {
      q.complete();
    } catch (RuntimeException alreadyEnded) {
      // Cancelled or completed already: nobody is listening.
    }
  }

  @Override
  public String toString() {
    return "DeviceLoop[" + name + "]";
  }
}
