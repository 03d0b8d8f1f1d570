package dev.sluice.pipeline;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.OverflowStrategy;
import org.apache.pekko.stream.QueueOfferResult;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;

/**
 * The serving pipeline of one device, as a Pekko stream:
 *
 * <pre>
 * submit -> entry queue (submitBuffer) -> prefetch: mapAsync(prefetchParallelism) template,
 *   tokenize, validate, prefix lookup -> buffer(prefetchDepth) -> compute: mapAsync(1) waits for
 *   a slot in the engine's window (computeWindow) and hands the request to the {@link DeviceLoop}
 *   -> per request: bounded output queue (outputBuffer) -> {@link Postprocess} -> consumer
 * </pre>
 *
 * Every buffer is bounded, and demand flows back end to end: a consumer that stops pulling fills
 * its request's output queue, which pauses the sequence on the device; a full engine window stops
 * the compute stage, which stops prefetch, which fills the entry queue, which refuses new requests
 * ({@link Submission.Status#QUEUE_FULL}). A consumer that cancels its event stream (a client gone)
 * cancels the sequence on the device at once, freeing its KV blocks.
 *
 * <p>Failure semantics: every accepted request's event stream ends with exactly one {@link
 * PipelineEvent#terminal() terminal} event, also when the device fails (see {@link DeviceLoop}).
 */
public final class InferencePipeline implements AutoCloseable {

  /** The answer to {@link #submit}. */
  public record Submission(Status status, Source<PipelineEvent, NotUsed> events) {
    /** Whether the request was queued. */
    public enum Status {
      QUEUED,
      /** The entry queue is full: try later or elsewhere. */
      QUEUE_FULL,
      /** The pipeline has stopped (device failed or shutting down). */
      CLOSED
    }
  }

  /** A request travelling through the pipeline. */
  private static final class Job {
    final PipelineRequest request;
    final BoundedSourceQueue<Object> out;
    volatile boolean cancelled;
    int countedTokens;
    Prefetch.Prepared prepared;

    Job(PipelineRequest request, BoundedSourceQueue<Object> out, int estimate) {
      this.request = request;
      this.out = out;
      this.countedTokens = estimate;
    }
  }

  /**
   * Prompts estimated at up to this many tokens (about 1 KB of text) are prepared on the stream's
   * own thread; longer ones on the prefetch executor, so a long prompt never holds up the stream.
   */
  static final int INLINE_PREFETCH_TOKENS = 256;

  private final DeviceLoop device;
  private final DeviceModel model;
  private final PipelineSettings settings;
  private final Materializer mat;
  private final BoundedSourceQueue<Job> entry;
  private final AtomicLong pendingTokens = new AtomicLong();
  private final AtomicInteger pendingRequests = new AtomicInteger();

  private InferencePipeline(
      DeviceLoop device,
      DeviceModel model,
      PipelineSettings settings,
      Prefetch prefetch,
      Executor prefetchExecutor,
      Materializer mat) {
    this.device = device;
    this.model = model;
    this.settings = settings;
    this.mat = mat;
    this.entry =
        Source.<Job>queue(settings.submitBuffer())
            // prefetch: template + tokenize + validate, off the device thread
            .mapAsync(
                settings.prefetchParallelism(),
                job ->
                    job.countedTokens <= INLINE_PREFETCH_TOKENS
                        // A short prompt costs microseconds to template and tokenize: cheaper
                        // here than a hand-over to another thread and back (two wake-ups).
                        ? CompletableFuture.completedFuture(prepare(prefetch, job))
                        : CompletableFuture.supplyAsync(
                            () -> prepare(prefetch, job), prefetchExecutor))
            .buffer(settings.prefetchDepth(), OverflowStrategy.backpressure())
            // compute: wait for room in the engine's window, then hand over to the device thread
            .mapAsync(
                1,
                job ->
                    job.prepared == null || job.prepared.rejected() != null
                        ? CompletableFuture.completedFuture(job)
                        : device.reserve().thenApply(v -> job))
            .to(Sink.foreach(this::handOver))
            .run(mat);
  }

  /**
   * Starts the pipeline of a loaded device.
   *
   * @param prefetchExecutor runs templating and tokenizing (not the device thread)
   */
  public static InferencePipeline start(
      DeviceLoop device,
      DeviceModel model,
      PipelineSettings settings,
      Prefetch.PrefixLookup prefixes,
      Executor prefetchExecutor,
      Materializer mat) {
    Prefetch prefetch =
        new Prefetch(
            model.tokenizer(),
            model.template(),
            model.engine().settings().maxSeqLen(),
            model.tokenizer().vocabSize(),
            prefixes);
    return new InferencePipeline(device, model, settings, prefetch, prefetchExecutor, mat);
  }

  public DeviceModel model() {
    return model;
  }

  public DeviceLoop device() {
    return device;
  }

  /**
   * Queues a request. On {@link Submission.Status#QUEUED} run {@code events} at once, and only
   * once: it emits {@link PipelineEvent.Started}, chunks, then a terminal event; cancelling it
   * cancels the request. An event stream nobody runs within {@code
   * pekko.stream.materializer.subscription-timeout} (5 s by default) is cancelled, so an abandoned
   * request cannot hold a sequence and its KV blocks.
   */
  public Submission submit(PipelineRequest r) {
    if (device.isDead()) {
      return new Submission(Submission.Status.CLOSED, Source.empty());
    }
    int estimate = r.estimatedTokens();
    Job[] holder = new Job[1];
    Pair<BoundedSourceQueue<Object>, Source<Object, NotUsed>> pre =
        Source.<Object>queue(settings.outputBuffer())
            .watchTermination(
                (q, done) -> {
                  done.whenComplete((d, e) -> onConsumerGone(holder[0]));
                  return q;
                })
            .preMaterialize(mat);
    Job job = new Job(r, pre.first(), estimate);
    holder[0] = job;
    pendingTokens.addAndGet(estimate);
    pendingRequests.incrementAndGet();
    QueueOfferResult res = entry.offer(job);
    if (res != QueueOfferResult.enqueued()) {
      pendingTokens.addAndGet(-estimate);
      pendingRequests.decrementAndGet();
      job.cancelled = true;
      DeviceLoop.endQueue(pre.first(), new DeviceLoop.EndEvent(null, 0, 0, null));
      return new Submission(
          res == QueueOfferResult.dropped()
              ? Submission.Status.QUEUE_FULL
              : Submission.Status.CLOSED,
          Source.empty());
    }
    Source<PipelineEvent, NotUsed> events =
        pre.second()
            .via(Postprocess.flow(model.tokenizer(), r.params().stop(), settings.maxChunkTokens()));
    return new Submission(Submission.Status.QUEUED, events);
  }

  /** Templates and tokenizes a job, and corrects the queued-token count to the real size. */
  private Job prepare(Prefetch prefetch, Job job) {
    if (!job.cancelled) {
      job.prepared = prepareSafely(prefetch, job.request);
      if (job.prepared.tokens() != null) {
        int n = job.prepared.tokens().length;
        pendingTokens.addAndGet(n - job.countedTokens);
        job.countedTokens = n;
      }
    }
    return job;
  }

  /** Prefetch never fails the shared stream: an unexpected error fails only its request. */
  private static Prefetch.Prepared prepareSafely(Prefetch prefetch, PipelineRequest r) {
    try {
      return prefetch.prepare(r);
    } catch (RuntimeException | StackOverflowError e) {
      return new Prefetch.Prepared(
          r, null, 0, new PipelineEvent.Failed("invalid_request", "cannot tokenize: " + e, 0));
    }
  }

  private void onConsumerGone(Job job) {
    if (job != null) {
      job.cancelled = true;
      device.cancel(job.request.id());
    }
  }

  private void handOver(Job job) {
    try {
      handOverUnsafe(job);
    } catch (RuntimeException e) {
      // Never fail the shared stream for one request: fail only that one.
      DeviceLoop.endQueue(
          job.out,
          new DeviceLoop.EndEvent(
              null, 0, 0, new PipelineEvent.Failed("engine_error", e.toString(), 0)));
    }
  }

  private void handOverUnsafe(Job job) {
    try {
      handOverCounted(job);
    } finally {
      // Only now: DeviceLoop.submit counts the tokens first, so at no moment is a request counted
      // nowhere (an admission check in between would see a queue emptier than it is).
      pendingTokens.addAndGet(-job.countedTokens);
      pendingRequests.decrementAndGet();
    }
  }

  private void handOverCounted(Job job) {
    Prefetch.Prepared p = job.prepared;
    if (job.cancelled && (p == null || p.rejected() == null)) {
      DeviceLoop.endQueue(
          job.out,
          new DeviceLoop.EndEvent(
              null, 0, 0, new PipelineEvent.Failed("cancelled", "the request was cancelled", 0)));
      return;
    }
    if (p == null || p.rejected() != null) {
      PipelineEvent.Failed f =
          p == null
              ? new PipelineEvent.Failed("cancelled", "the request was cancelled", 0)
              : p.rejected();
      DeviceLoop.endQueue(job.out, new DeviceLoop.EndEvent(null, 0, 0, f));
      return;
    }
    device.submit(p, job.out);
  }

  /**
   * Prompt tokens admitted but not yet prefilled: those waiting in prefetch (estimated until
   * tokenized) plus those on the device.
   */
  public long queuedPromptTokens() {
    return Math.max(0, pendingTokens.get()) + device.queuedPromptTokens();
  }

  /** Requests not yet handed to the device. */
  public int pendingRequests() {
    return pendingRequests.get();
  }

  /** Cancels a request by id wherever it is. */
  public void cancel(String requestId) {
    device.cancel(requestId);
  }

  /** Stops accepting requests and stops the device loop (running requests fail). */
  @Override
  public void close() {
    try {
      entry.complete();
    } catch (IllegalStateException alreadyStopped) {
      // The stream was already stopped with its materializer (its owner actor stopped).
    }
    device.close();
  }

  /** Completes when the device loop has stopped. */
  public java.util.concurrent.CompletionStage<Done> terminated() {
    return device.terminated().thenApply(v -> Done.getInstance());
  }
}
