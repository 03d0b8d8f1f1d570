package dev.sluice.seed.gateway;

import dev.sluice.node.worker.WorkerProtocol;
import dev.sluice.node.worker.WorkerProtocol.Accepted;
import dev.sluice.node.worker.WorkerProtocol.Chunk;
import dev.sluice.node.worker.WorkerProtocol.ChunkLogprob;
import dev.sluice.node.worker.WorkerProtocol.Completed;
import dev.sluice.node.worker.WorkerProtocol.Failed;
import dev.sluice.seed.admission.AdmissionController;
import dev.sluice.seed.admission.AdmissionController.Admitted;
import dev.sluice.seed.admission.AdmissionController.Refused;
import dev.sluice.seed.routing.WorkerDirectory;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.stream.CompletionStrategy;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.typed.javadsl.ActorSource;

/**
 * One admitted request, from dispatch to its last byte: sends {@code Generate} to the chosen
 * worker, turns the worker's events into a backpressured {@link Source} of {@link Out} for the HTTP
 * layer, and acknowledges chunks to the worker only as the client consumes them (credit-based
 * flow), so a slow client pauses its sequence instead of filling buffers.
 *
 * <p>Failure semantics: an admitted request always ends with {@link Done} or {@link Error}. If the
 * worker fails retryably, does not answer within {@code accept-timeout}, stays silent while it owes
 * chunks for {@code silence-timeout} (both extended, before the attempt's first chunk, by the
 * completion time admission predicted: a request may wait that long in a healthy worker's queue
 * without the worker counting as lost), or its node leaves, before the client has seen any output
 * (a stream before its first chunk; a whole response at any point, after a {@link Restart}), the
 * request is placed once more on another worker (new request id, same deadline, no second quota
 * charge); otherwise, after chunks have been streamed or on a second loss, it ends with an {@link
 * Error} (an SSE error event once streaming began). A client that goes away (the source is
 * cancelled) sends {@code Cancel} to the worker, which frees the sequence and its KV blocks.
 * Admission and routing accounting is released exactly once, whatever happens.
 */
public final class RequestSession extends AbstractBehavior<RequestSession.Command> {

  /** What the session handles. Local only: never crosses the network. */
  public sealed interface Command extends NoSerializationVerificationNeeded
      permits WorkerEvent, Pulled, StreamEnded, Tick, Attached {}

  private record WorkerEvent(WorkerProtocol.Event event) implements Command {}

  /** The HTTP side materialized the session's source: where its output goes. */
  private record Attached(ActorRef<Out> ref) implements Command {}

  /** The HTTP side consumed the last element. */
  enum Pulled implements Command {
    INSTANCE
  }

  private enum StreamEnded implements Command {
    INSTANCE
  }

  private enum Tick implements Command {
    INSTANCE
  }

  /** What the HTTP layer receives, in order: Started, Text*, then Done or Error. */
  public sealed interface Out extends NoSerializationVerificationNeeded
      permits Started, Text, Done, Error, Restart, Close {}

  /** A worker accepted the request (sent once, even across a retry). */
  public record Started(int promptTokens, String workerId) implements Out {}

  /** Generated text. */
  public record Text(String text, int tokens, List<ChunkLogprob> logprobs) implements Out {}

  /** Generation ended normally. */
  public record Done(String finishReason, int promptTokens, int completionTokens, String workerId)
      implements Out {}

  /** Generation failed; {@code afterStart}: a {@link Started} went out before. */
  public record Error(ApiError error, boolean afterStart) implements Out {}

  /**
   * The text so far is void: a whole (non-streamed) response whose worker was lost mid-generation
   * starts over on another worker, which is possible because nothing has reached its client.
   */
  public enum Restart implements Out {
    INSTANCE
  }

  /** Completes the source (never emitted). */
  enum Close implements Out {
    INSTANCE
  }

  /** What a session needs from its gateway. */
  public record Deps(
      AdmissionController admission,
      WorkerDirectory directory,
      GatewaySettings settings,
      GatewayMetrics metrics) {}

  /**
   * A session for an admitted request; {@code source} is completed with the stream of {@link Out}
   * once the session has started.
   */
  public static Behavior<Command> create(
      Deps deps,
      CompletionRequest request,
      String id,
      Admitted admitted,
      CompletableFuture<Source<Out, NotUsed>> source) {
    return Behaviors.setup(
        ctx ->
            Behaviors.withTimers(
                timers -> {
                  timers.startTimerWithFixedDelay(Tick.INSTANCE, Duration.ofMillis(200));
                  return new RequestSession(ctx, deps, request, id, admitted, source);
                }));
  }

  private final Deps deps;
  private final CompletionRequest request;
  private final String id;
  private final AdmissionController.Ticket ticket;
  // The source's actor, once the HTTP side has materialized it (Attached); output waits until then.
  private ActorRef<Out> out;
  private final long createdMs = System.currentTimeMillis();
  private final ActorRef<WorkerProtocol.Event> events;
  private final ArrayDeque<Out> pending = new ArrayDeque<>();
  private final List<String> triedWorkers = new ArrayList<>();
  private final GatewayMetrics.ModelSeries series;
  private final long admittedNanos = System.nanoTime();
  private long lastChunkNanos;

  private String workerId;
  // The current worker, resolved once per attempt (a sharding reference is not free to build).
  private RecipientRef<WorkerProtocol.Command> worker;
  private long epoch;
  private String attemptId;
  private int attempt;
  private long dispatchedMs;
  private long queueAllowanceMs;
  private long lastEventMs;
  private boolean accepted;
  private int promptTokens;
  // Prompt tokens this attempt holds in the worker pool's accounting: the gateway's estimate from
  // dispatch until the worker reports the real count (Accepted), then the real count.
  private long promptCounted;
  private int chunksThisAttempt;
  private int chunksTotal;
  private long completionTokens;
  private long attemptTokens;
  private int credit;
  // Chunks the client consumed that the worker has not been told about yet (see onPulled).
  private int unacked;
  private boolean canSend = true;
  private boolean lastWasText;
  private boolean started;
  private boolean finished;
  private boolean closed;

  private RequestSession(
      ActorContext<Command> ctx,
      Deps deps,
      CompletionRequest request,
      String id,
      Admitted admitted,
      CompletableFuture<Source<Out, NotUsed>> source) {
    super(ctx);
    this.deps = deps;
    this.request = request;
    this.id = id;
    this.ticket = admitted.ticket();
    this.series = deps.metrics().model(request.model());
    this.events = ctx.messageAdapter(WorkerProtocol.Event.class, WorkerEvent::new);
    ActorRef<Command> self = ctx.getSelf();
    // Not pre-materialized: a pre-materialized source is a publisher with an actor of its own
    // between this source and the HTTP stream, two more actor hops for every chunk. The HTTP side
    // runs this source at once; its actor reference comes back here as Attached.
    source.complete(
        ActorSource.<Out, Command>actorRefWithBackpressure(
                self,
                Pulled.INSTANCE,
                o ->
                    o == Close.INSTANCE
                        ? Optional.of(CompletionStrategy.draining())
                        : Optional.empty(),
                o -> Optional.empty())
            .mapMaterializedValue(
                ref -> {
                  self.tell(new Attached(ref));
                  return NotUsed.getInstance();
                })
            .watchTermination(
                (nu, done) -> {
                  done.whenComplete((d, e) -> self.tell(StreamEnded.INSTANCE));
                  return NotUsed.getInstance();
                }));
    dispatch(admitted.worker().workerId(), admitted.epoch(), admitted.predictedSeconds());
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(WorkerEvent.class, this::onWorkerEvent)
        .onMessageEquals(Pulled.INSTANCE, this::onPulled)
        .onMessageEquals(StreamEnded.INSTANCE, this::onStreamEnded)
        .onMessageEquals(Tick.INSTANCE, this::onTick)
        .onMessage(Attached.class, this::onAttached)
        .build();
  }

  private void dispatch(String worker, long epoch, double predictedSeconds) {
    attempt++;
    // A request may wait in a healthy worker's queue for as long as admission predicted (the
    // queue model's completion time); only beyond that do missing answers mean a lost worker.
    queueAllowanceMs = (long) Math.ceil(Math.max(0, predictedSeconds) * 1000);
    this.epoch = epoch;
    workerId = worker;
    this.worker = deps.directory().worker(worker);
    triedWorkers.add(worker);
    attemptId = id + "-" + attempt;
    accepted = false;
    chunksThisAttempt = 0;
    attemptTokens = 0;
    credit = deps.settings().initialCredit();
    unacked = 0;
    promptCounted = ticket.promptTokens();
    dispatchedMs = System.currentTimeMillis();
    lastEventMs = dispatchedMs;
    this.worker.tell(
        new WorkerProtocol.Generate(
            attemptId,
            request.model(),
            request.prompt(),
            request.params(),
            ticket.deadlineEpochMs(),
            ticket.priority().ordinal(),
            credit,
            request.stream() ? 0 : (int) deps.settings().wholeChunkInterval().toMillis(),
            events));
  }

  private Behavior<Command> onWorkerEvent(WorkerEvent w) {
    WorkerProtocol.Event e = w.event();
    if (finished || !e.requestId().equals(attemptId)) {
      // A late event from an attempt given up on (already cancelled), or after the end.
      return this;
    }
    lastEventMs = System.currentTimeMillis();
    switch (e) {
      case Accepted a -> {
        accepted = true;
        promptTokens = a.promptTokens();
        if (chunksThisAttempt == 0 && a.promptTokens() > 0) {
          // The admission estimate (from the body's bytes) becomes the tokenizer's count.
          deps.admission().pool().corrected(workerId, epoch, promptCounted, a.promptTokens());
          promptCounted = a.promptTokens();
        }
        if (!started) {
          series.queueWait.observe((System.nanoTime() - admittedNanos) / 1e9);
          started = true;
          emit(new Started(a.promptTokens(), workerId));
        }
      }
      case Chunk c -> {
        if (chunksThisAttempt == 0) {
          deps.admission().pool().prefilled(workerId, epoch, promptCounted);
        }
        chunksThisAttempt++;
        chunksTotal++;
        if (--credit < -1) {
          // A worker ignoring its credit would make this session's buffer unbounded: stop it.
          worker.tell(new WorkerProtocol.Cancel(attemptId));
          fail(
              new ApiError(
                  503,
                  "server_error",
                  "protocol_violation",
                  null,
                  "The worker sent more output than it was granted credit for.",
                  1,
                  "worker_error"));
          return this;
        }
        completionTokens += c.tokens();
        attemptTokens += c.tokens();
        observeChunk(c.tokens());
        deps.admission().pool().decoded(workerId, epoch, c.tokens());
        if (!started) {
          // A worker may skip Accepted; the first chunk implies it.
          series.queueWait.observe((System.nanoTime() - admittedNanos) / 1e9);
          started = true;
          emit(new Started(promptTokens, workerId));
        }
        emit(new Text(c.text(), c.tokens(), c.logprobs()));
      }
      case Completed c -> {
        finish();
        emit(new Done(c.finishReason(), c.promptTokens(), c.completionTokens(), workerId));
        emit(Close.INSTANCE);
      }
      case Failed f -> {
        if (f.retryable()) {
          workerLost(f.reason(), f.message());
        } else {
          fail(failure(f));
        }
      }
    }
    return this;
  }

  /**
   * Time to first token for the first chunk; after it, the gap since the previous chunk spread over
   * the chunk's tokens, one inter-token observation per token. Measured where the client's stream
   * is fed, so a client that reads slowly (credit) shows up here as it does for the client.
   */
  private void observeChunk(int tokens) {
    long now = System.nanoTime();
    if (chunksTotal == 1) {
      series.timeToFirstToken.observe((now - admittedNanos) / 1e9);
    } else if (tokens > 0) {
      double perToken = (now - lastChunkNanos) / 1e9 / tokens;
      for (int i = 0; i < tokens; i++) {
        series.interTokenLatency.observe(perToken);
      }
    }
    lastChunkNanos = now;
  }

  /** The current worker cannot finish the request: retry once if the client has seen nothing. */
  private void workerLost(String reason, String message) {
    worker.tell(new WorkerProtocol.Cancel(attemptId));
    deps.admission()
        .pool()
        .finished(
            workerId,
            epoch,
            chunksThisAttempt == 0 ? promptCounted : 0,
            Math.max(0, ticket.maxTokens() - attemptTokens));
    // Nothing has reached the client before a stream's first chunk, and never before the end of a
    // whole response: then the request can start over elsewhere.
    boolean nothingSent = chunksTotal == 0 || !request.stream();
    if (nothingSent && attempt < 2) {
      AdmissionController.Decision d =
          deps.admission().reroute(ticket, triedWorkers, System.currentTimeMillis());
      if (d instanceof Admitted a) {
        getContext()
            .getLog()
            .info(
                "request {}: worker {} lost ({}), retrying on {}",
                id,
                workerId,
                reason,
                a.worker().workerId());
        if (chunksTotal > 0) {
          emit(Restart.INSTANCE);
        }
        dispatch(a.worker().workerId(), a.epoch(), a.predictedSeconds());
        return;
      }
      Refused r = (Refused) d;
      endWith(
          new ApiError(
              r.status(),
              "server_error",
              r.reason(),
              null,
              "The worker serving this request failed ("
                  + reason
                  + ") and no other worker can take it: "
                  + r.message(),
              r.retryAfterSeconds(),
              r.reason()));
      return;
    }
    endWith(
        new ApiError(
            503,
            "server_error",
            "worker_lost",
            null,
            "The worker serving this request failed ("
                + reason
                + (message == null ? "" : ": " + message)
                + ")"
                + (nothingSent ? " twice" : " after generation began")
                + "; the output is incomplete.",
            1,
            "worker_lost"));
  }

  private static ApiError failure(Failed f) {
    return switch (f.reason()) {
      case "prompt_too_long" ->
          new ApiError(
              422,
              "invalid_request_error",
              "context_length_exceeded",
              "messages",
              f.message(),
              0,
              null);
      case "invalid_request" ->
          new ApiError(422, "invalid_request_error", "out_of_bounds", null, f.message(), 0, null);
      case "model_not_found" ->
          new ApiError(
              404, "invalid_request_error", "model_not_found", "model", f.message(), 0, null);
      case "queue_full", "deadline" ->
          new ApiError(
              503,
              "server_error",
              f.reason().equals("deadline") ? "deadline_exceeded" : "queue_full",
              null,
              f.message(),
              1,
              f.reason().equals("deadline") ? "deadline_exceeded" : "queue_full");
      case "cancelled" ->
          new ApiError(503, "server_error", "cancelled", null, f.message(), 1, "cancelled");
      default ->
          new ApiError(
              503,
              "server_error",
              f.reason(),
              null,
              "The worker failed: " + f.message(),
              1,
              "worker_error");
    };
  }

  private void fail(ApiError error) {
    deps.admission()
        .pool()
        .finished(
            workerId,
            epoch,
            chunksThisAttempt == 0 ? promptCounted : 0,
            Math.max(0, ticket.maxTokens() - attemptTokens));
    endWith(error);
  }

  private void endWith(ApiError error) {
    if (!finished) {
      finished = true;
      deps.admission().release(ticket, promptCounted + completionTokens, System.nanoTime());
    }
    emit(new Error(error, started));
    emit(Close.INSTANCE);
  }

  /** Normal end: release the worker's in-flight accounting and the tenant's unused quota. */
  private void finish() {
    finished = true;
    deps.admission()
        .pool()
        .finished(
            workerId,
            epoch,
            chunksThisAttempt == 0 ? promptCounted : 0,
            Math.max(0, ticket.maxTokens() - attemptTokens));
    deps.admission().release(ticket, promptCounted + completionTokens, System.nanoTime());
  }

  private void emit(Out o) {
    pending.add(o);
    flush();
  }

  private Behavior<Command> onAttached(Attached a) {
    if (out == null) { // the source runs once; a second run would get nothing
      out = a.ref();
      flush();
    }
    return this;
  }

  private void flush() {
    while (out != null && canSend && !pending.isEmpty() && !closed) {
      Out o = pending.poll();
      canSend = o == Close.INSTANCE;
      lastWasText = o instanceof Text;
      out.tell(o);
      if (o == Close.INSTANCE) {
        closed = true;
      }
    }
  }

  private Behavior<Command> onPulled() {
    canSend = true;
    if (lastWasText && !finished) {
      // The client took a chunk: the worker may send one more. Acknowledged in batches of half the
      // initial credit, so the worker never runs dry while the client keeps up, and an Ack (three
      // actor hops through sharding) goes out every few tokens instead of after each one.
      unacked++;
      if (unacked >= ackBatch()) {
        credit += unacked;
        worker.tell(new WorkerProtocol.Ack(attemptId, unacked));
        unacked = 0;
      }
    }
    lastWasText = false;
    flush();
    return closed && pending.isEmpty() ? Behaviors.stopped() : this;
  }

  private int ackBatch() {
    return Math.max(1, deps.settings().initialCredit() / 2);
  }

  private Behavior<Command> onStreamEnded() {
    if (!finished) {
      // The client went away (or the HTTP side gave up): free the sequence at once.
      getContext().getLog().debug("request {}: client gone, cancelling {}", id, attemptId);
      worker.tell(new WorkerProtocol.Cancel(attemptId));
      fail(new ApiError(499, "client_closed", "client_closed", null, "client gone", 0, null));
    }
    return Behaviors.stopped();
  }

  private Behavior<Command> onTick() {
    long now = System.currentTimeMillis();
    if (finished) {
      boolean neverRun =
          out == null && now - createdMs > deps.settings().acceptTimeout().toMillis();
      return (closed && pending.isEmpty()) || neverRun ? Behaviors.stopped() : this;
    }
    GatewaySettings s = deps.settings();
    if (!deps.admission().pool().alive(workerId, now)) {
      workerLost("worker_gone", "its node left the cluster or stopped reporting");
    } else if (!accepted
        && chunksThisAttempt == 0
        && now - dispatchedMs > s.acceptTimeout().toMillis() + queueAllowanceMs) {
      workerLost(
          "accept_timeout",
          "no answer within " + (s.acceptTimeout().toMillis() + queueAllowanceMs) + " ms");
    } else if (credit > 0
        && now - lastEventMs
            > s.silenceTimeout().toMillis() + (chunksThisAttempt == 0 ? queueAllowanceMs : 0)) {
      workerLost("silent", "no output for " + s.silenceTimeout().toMillis() + " ms");
    } else if (now > ticket.deadlineEpochMs() + 1000) {
      worker.tell(new WorkerProtocol.Cancel(attemptId));
      fail(
          new ApiError(
              503,
              "server_error",
              "deadline_exceeded",
              null,
              "The request passed its deadline (X-Sluice-Deadline-Ms) before it completed.",
              1,
              "deadline_exceeded"));
    }
    return this;
  }
}
