package dev.sluice.node.worker;

import dev.sluice.engine.ModelResolver;
import dev.sluice.engine.Warmup;
import dev.sluice.engine.chat.ChatMessage;
import dev.sluice.engine.sampling.SamplingParams;
import dev.sluice.node.Readiness;
import dev.sluice.node.metrics.NodeMetrics;
import dev.sluice.node.worker.WorkerProtocol.Accepted;
import dev.sluice.node.worker.WorkerProtocol.Ack;
import dev.sluice.node.worker.WorkerProtocol.Cancel;
import dev.sluice.node.worker.WorkerProtocol.ChatPrompt;
import dev.sluice.node.worker.WorkerProtocol.Chunk;
import dev.sluice.node.worker.WorkerProtocol.ChunkLogprob;
import dev.sluice.node.worker.WorkerProtocol.Completed;
import dev.sluice.node.worker.WorkerProtocol.Failed;
import dev.sluice.node.worker.WorkerProtocol.Generate;
import dev.sluice.node.worker.WorkerProtocol.GenerationParams;
import dev.sluice.node.worker.WorkerProtocol.LoadReport;
import dev.sluice.node.worker.WorkerProtocol.TextPrompt;
import dev.sluice.node.worker.WorkerProtocol.TokenLogprob;
import dev.sluice.pipeline.Coalesce;
import dev.sluice.pipeline.DeviceLoop;
import dev.sluice.pipeline.DeviceModel;
import dev.sluice.pipeline.InferencePipeline;
import dev.sluice.pipeline.PipelineEvent;
import dev.sluice.pipeline.PipelineRequest;
import dev.sluice.pipeline.Prefetch;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executor;
import org.apache.pekko.Done;
import org.apache.pekko.actor.Cancellable;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.cluster.sharding.external.ExternalShardAllocationStrategy;
import org.apache.pekko.cluster.sharding.typed.ClusterShardingSettings;
import org.apache.pekko.cluster.sharding.typed.ShardingEnvelope;
import org.apache.pekko.cluster.sharding.typed.ShardingMessageExtractor;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.SinkQueueWithCancel;
import org.slf4j.LoggerFactory;

/**
 * One worker per device (a GPU, or a CPU slot on a node without one), run as a Cluster Sharding
 * entity whose shard is pinned by external shard allocation to the node that owns the device. It
 * loads the model through the model resolver on the device's own thread ({@link DeviceLoop}), marks
 * the node's {@code /ready} condition {@code model-loaded:<entityId>} once loaded, serves {@link
 * WorkerProtocol} through the streamed pipeline ({@link InferencePipeline}), and publishes a {@link
 * LoadReport} on the {@value #LOAD_TOPIC} topic every {@code load-report-interval}.
 *
 * <p>Lifecycle: {@code loading} (requests are stashed, up to {@code stash-capacity}) -> {@code
 * ready} -> {@code draining} (on coordinated shutdown: new requests are refused as retryable, the
 * running ones finish, then the entity stops).
 *
 * <p>Credit: each request may have at most {@code initialCredit} chunks in flight beyond the last
 * {@link Ack}; the worker pulls the request's event stream only while it has credit, so a slow
 * client backs up into its own bounded buffers and pauses its sequence on the device.
 *
 * <p>Failure semantics: refusals are {@link Failed} values ({@code queue_full}, {@code not_ready},
 * {@code draining}: retryable; {@code invalid_request}, {@code prompt_too_long}: not). A model that
 * cannot be loaded, or a fatal device error, stops the worker; every request it holds is failed
 * first ({@code device_error}, retryable when nothing was streamed yet), and {@code PostStop} fails
 * whatever is left: an accepted request is always completed or failed, never dropped.
 */
public final class GpuWorker extends AbstractBehavior<Object> {

  /**
   * The sharded entity type; entity ids are {@code <host>:<port>:<device>}, e.g. {@code ...:cpu-0}.
   */
  public static final EntityTypeKey<WorkerProtocol.Command> TYPE_KEY =
      EntityTypeKey.create(WorkerProtocol.Command.class, "GpuWorker");

  /** The Pekko {@link Topic} of {@link LoadReport}s. */
  public static final String LOAD_TOPIC = "sluice-worker-load";

  /** The cluster role of nodes that run workers; other nodes get a sharding proxy. */
  public static final String ROLE = "worker";

  /** The readiness condition of one worker entity. */
  public static String readinessCondition(String entityId) {
    return "model-loaded:" + entityId;
  }

  /** The entity id of {@code device} on the node at {@code host:port}. */
  public static String entityId(String host, int port, Device device) {
    return host + ":" + port + ":" + device.id();
  }

  // ---- internal messages (local only: never serialized)
  private interface Internal extends NoSerializationVerificationNeeded {}

  private record ModelLoaded(DeviceModel model) implements Internal {}

  private record LoadFailed(Throwable cause) implements Internal {}

  private record DeviceStopped(Throwable cause) implements Internal {}

  private record Pulled(String requestId, Optional<PipelineEvent> event, Throwable error)
      implements Internal {}

  private enum Tick implements Internal {
    INSTANCE
  }

  private record Drain(ActorRef<Done> replyTo) implements Internal {}

  /** One request in flight. */
  private static final class InFlight {
    final Generate generate;
    final SinkQueueWithCancel<PipelineEvent> events;
    int credit;
    int seq;
    boolean pulling;
    boolean accepted;
    int promptTokens;

    InFlight(Generate g, SinkQueueWithCancel<PipelineEvent> events) {
      this.generate = g;
      this.events = events;
      this.credit = Math.max(1, g.initialCredit());
    }
  }

  /**
   * Starts Cluster Sharding of the workers (or its proxy on nodes without the {@value #ROLE} role)
   * with settings from the system's configuration. Idempotent: the gateway calls it too.
   */
  public static ActorRef<ShardingEnvelope<WorkerProtocol.Command>> init(ActorSystem<?> system) {
    return init(system, WorkerSettings.fromConfig(system.settings().config()));
  }

  /** As {@link #init(ActorSystem)} with the given settings (tests). */
  public static ActorRef<ShardingEnvelope<WorkerProtocol.Command>> init(
      ActorSystem<?> system, WorkerSettings settings) {
    return ClusterSharding.get(system)
        .init(
            Entity.of(TYPE_KEY, ctx -> create(ctx.getEntityId(), settings))
                .withRole(ROLE)
                .withMessageExtractor(new PinnedExtractor())
                .withAllocationStrategy(
                    ExternalShardAllocationStrategy.create(
                        system, TYPE_KEY.name(), Duration.ofSeconds(5)))
                // A loaded model is expensive: never passivate an idle worker.
                .withSettings(ClusterShardingSettings.create(system).withNoPassivationStrategy()));
  }

  /** One shard per entity, named like it, so external allocation can pin each device's worker. */
  public static final class PinnedExtractor
      extends ShardingMessageExtractor<
          ShardingEnvelope<WorkerProtocol.Command>, WorkerProtocol.Command> {
    @Override
    public String entityId(ShardingEnvelope<WorkerProtocol.Command> e) {
      return e.entityId();
    }

    @Override
    public String shardId(String entityId) {
      return entityId;
    }

    @Override
    public WorkerProtocol.Command unwrapMessage(ShardingEnvelope<WorkerProtocol.Command> e) {
      return e.message();
    }
  }

  /** The worker of entity {@code entityId} (its device is the id's last part). */
  public static Behavior<WorkerProtocol.Command> create(String entityId, WorkerSettings settings) {
    Behavior<Object> b =
        Behaviors.setup(
            ctx ->
                Behaviors.withStash(
                    settings.stashCapacity(),
                    stash ->
                        Behaviors.withTimers(
                            timers -> {
                              timers.startTimerWithFixedDelay(
                                  Tick.INSTANCE, settings.loadReportInterval());
                              return new GpuWorker(ctx, stash, entityId, settings);
                            })));
    return b.narrow();
  }

  private final StashBuffer<Object> stash;
  private final String entityId;
  private final WorkerSettings settings;
  private final Device device;
  private final Readiness readiness;
  private final ActorRef<Topic.Command<LoadReport>> topic;
  private final String address;
  private final Materializer mat;
  private final Executor prefetchExecutor;
  private final DeviceLoop loop;
  private final Map<String, InFlight> inFlight = new HashMap<>();
  private final Cancellable shutdownTask;
  private final WorkerMetrics metrics;
  private final long loadStartNanos = System.nanoTime();
  private InferencePipeline pipeline;
  private Phase phase = Phase.LOADING;
  private ActorRef<Done> drainReplyTo;
  // Rates per second of device busy time (EWMA), from the device's counters: see RateMeter.
  private final RateMeter prefillRate = new RateMeter(RATE_SAMPLE_NANOS);
  private final RateMeter decodeRate = new RateMeter(RATE_SAMPLE_NANOS);
  private static final long RATE_SAMPLE_NANOS = 50_000_000L;

  private enum Phase {
    LOADING,
    READY,
    DRAINING
  }

  private GpuWorker(
      ActorContext<Object> ctx, StashBuffer<Object> stash, String entityId, WorkerSettings s) {
    super(ctx);
    this.stash = stash;
    this.entityId = entityId;
    this.settings = s;
    this.device = Device.parse(entityId.substring(entityId.lastIndexOf(':') + 1));
    this.readiness = Readiness.get(ctx.getSystem());
    readiness.require(readinessCondition(entityId));
    this.topic = ctx.spawn(Topic.create(LoadReport.class, LOAD_TOPIC), "load-topic");
    this.address = Cluster.get(ctx.getSystem()).selfMember().address().toString();
    this.mat = Materializer.createMaterializer(ctx);
    this.prefetchExecutor = ctx.getSystem().dispatchers().lookup(DispatcherSelector.blocking());
    ctx.getLog().info("Worker {} loading model {} on {}", entityId, s.model(), device.id());
    this.metrics =
        new WorkerMetrics(NodeMetrics.get(ctx.getSystem()).metrics(), s.modelName(), device.id());
    this.loop =
        DeviceLoop.start(
            entityId,
            s.pipeline().computeWindow(),
            s.pipeline().outputBuffer(),
            () -> {
              // On the device thread: resolve (maybe download), map, upload, build the engine.
              Path file = ModelResolver.fromEnvironment(System.err).resolve(s.model());
              DeviceModel m =
                  DeviceModel.load(s.model(), file, DeviceDiscovery.open(device, s), s.engine());
              if (!s.warmUp().isZero()) {
                Warmup.Report r = Warmup.run(m.engine(), s.warmUp());
                LoggerFactory.getLogger(GpuWorker.class)
                    .info(
                        "Worker {} warmed up: {} rounds, {} steps, {} tokens in {} ms",
                        entityId,
                        r.rounds(),
                        r.steps(),
                        r.tokens(),
                        r.nanos() / 1_000_000);
              }
              return m;
            },
            metrics);
    ctx.pipeToSelf(
        loop.loaded(), (m, e) -> e == null ? new ModelLoaded(m) : new LoadFailed(unwrap(e)));
    ActorRef<Object> self = ctx.getSelf();
    ActorSystem<?> system = ctx.getSystem();
    this.shutdownTask =
        CoordinatedShutdown.get(system)
            .addCancellableTask(
                CoordinatedShutdown.PhaseServiceRequestsDone(),
                "drain-" + entityId,
                () ->
                    AskPattern.<Object, Done>ask(
                            self, Drain::new, Duration.ofSeconds(30), system.scheduler())
                        .exceptionally(t -> Done.getInstance()));
  }

  private static Throwable unwrap(Throwable t) {
    while (t instanceof java.util.concurrent.CompletionException && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  @Override
  public Receive<Object> createReceive() {
    return newReceiveBuilder()
        .onMessage(ModelLoaded.class, this::onModelLoaded)
        .onMessage(LoadFailed.class, this::onLoadFailed)
        .onMessage(DeviceStopped.class, this::onDeviceStopped)
        .onMessage(Generate.class, this::onGenerate)
        .onMessage(Cancel.class, this::onCancel)
        .onMessage(Ack.class, this::onAck)
        .onMessage(Pulled.class, this::onPulled)
        .onMessageEquals(Tick.INSTANCE, this::onTick)
        .onMessage(Drain.class, this::onDrain)
        .onSignal(PostStop.class, s -> onPostStop())
        .build();
  }

  // ---- lifecycle

  private Behavior<Object> onModelLoaded(ModelLoaded m) {
    DeviceModel model = m.model();
    metrics.loaded(System.nanoTime() - loadStartNanos);
    pipeline =
        InferencePipeline.start(
            loop, model, settings.pipeline(), Prefetch.PrefixLookup.NONE, prefetchExecutor, mat);
    getContext()
        .pipeToSelf(
            // Done, not Void's null: a null result reaching a stopped worker upsets dead-letter
            // logging.
            loop.terminated().thenApply(v -> Done.getInstance()),
            (v, e) -> new DeviceStopped(e == null ? null : unwrap(e)));
    getContext()
        .getLog()
        .info(
            "Worker {} ready: {} on {} ({} sequences, {} KV blocks of {})",
            entityId,
            settings.model(),
            model.backendName(),
            model.engine().settings().maxSeqs(),
            model.engine().pool().numBlocks(),
            model.engine().pool().blockSize());
    if (phase == Phase.LOADING) {
      phase = Phase.READY;
      readiness.satisfy(readinessCondition(entityId));
    }
    publishLoad();
    return stash.unstashAll(this);
  }

  private Behavior<Object> onLoadFailed(LoadFailed f) {
    getContext()
        .getLog()
        .error(
            "Worker {} could not load model {}: {}",
            entityId,
            settings.model(),
            f.cause().toString());
    return stopWithFailures("model_not_found", "the model could not be loaded: " + f.cause());
  }

  private Behavior<Object> onDeviceStopped(DeviceStopped d) {
    if (d.cause() == null) {
      return this; // closed on purpose (PostStop)
    }
    getContext().getLog().error("Worker {}: fatal device error, stopping", entityId, d.cause());
    return stopWithFailures("device_error", "device " + device.id() + " failed: " + d.cause());
  }

  private Behavior<Object> stopWithFailures(String reason, String message) {
    for (InFlight f : new ArrayList<>(inFlight.values())) {
      fail(f, reason, message);
    }
    stash.forEach(
        x -> {
          if (x instanceof Generate g) {
            g.replyTo().tell(new Failed(g.requestId(), reason, message, true));
          }
        });
    stash.clear();
    return Behaviors.stopped();
  }

  private Behavior<Object> onDrain(Drain d) {
    phase = Phase.DRAINING;
    readiness.unsatisfy(readinessCondition(entityId));
    drainReplyTo = d.replyTo();
    publishLoad();
    return maybeDrained();
  }

  private Behavior<Object> maybeDrained() {
    if (phase == Phase.DRAINING && inFlight.isEmpty()) {
      if (drainReplyTo != null) {
        drainReplyTo.tell(Done.getInstance());
      }
      return Behaviors.stopped();
    }
    return this;
  }

  private Behavior<Object> onPostStop() {
    shutdownTask.cancel();
    metrics.close();
    for (InFlight f : new ArrayList<>(inFlight.values())) {
      fail(f, "device_error", "worker " + entityId + " stopped");
    }
    if (pipeline != null) {
      pipeline.close();
    } else {
      loop.close();
    }
    readiness.unsatisfy(readinessCondition(entityId));
    return this;
  }

  // ---- protocol

  private Behavior<Object> onGenerate(Generate g) {
    if (phase == Phase.LOADING) {
      if (stash.isFull()) {
        g.replyTo().tell(new Failed(g.requestId(), "not_ready", "the model is loading", true));
      } else {
        stash.stash(g);
      }
      return this;
    }
    if (phase == Phase.DRAINING) {
      g.replyTo().tell(new Failed(g.requestId(), "draining", "the worker is shutting down", true));
      return this;
    }
    if (g.model() != null && !g.model().isEmpty() && !g.model().equals(settings.modelName())) {
      g.replyTo()
          .tell(
              new Failed(
                  g.requestId(),
                  "model_not_found",
                  "this worker serves " + settings.modelName() + ", not " + g.model(),
                  true));
      return this;
    }
    if (inFlight.containsKey(g.requestId())) {
      g.replyTo().tell(new Failed(g.requestId(), "invalid_request", "duplicate request id", false));
      return this;
    }
    if (g.deadlineEpochMs() > 0 && System.currentTimeMillis() >= g.deadlineEpochMs()) {
      g.replyTo().tell(new Failed(g.requestId(), "deadline", "the deadline has passed", false));
      return this;
    }
    PipelineRequest request;
    try {
      request = toRequest(g);
      if (g.chunkIntervalMs() > 0) {
        // A whole response: the device thread hands its tokens over in groups too (unless it has
        // stop strings), so a token costs no cross-thread hand-over at all.
        request = request.withDeliveryInterval(g.chunkIntervalMs());
      }
    } catch (IllegalArgumentException e) { // SamplingParamsException included
      g.replyTo().tell(new Failed(g.requestId(), "invalid_request", e.getMessage(), false));
      return this;
    }
    long queued = pipeline.queuedPromptTokens();
    if (queued > 0 && queued + estimate(g) > settings.maxQueuedTokens()) {
      g.replyTo()
          .tell(
              new Failed(
                  g.requestId(),
                  "queue_full",
                  "worker queue holds "
                      + queued
                      + " prompt tokens (limit "
                      + settings.maxQueuedTokens()
                      + ")",
                  true));
      return this;
    }
    InferencePipeline.Submission sub = pipeline.submit(request);
    switch (sub.status()) {
      case QUEUE_FULL -> {
        g.replyTo()
            .tell(new Failed(g.requestId(), "queue_full", "the worker's queue is full", true));
        return this;
      }
      case CLOSED -> {
        g.replyTo().tell(new Failed(g.requestId(), "device_error", "the device has stopped", true));
        return this;
      }
      case QUEUED -> {}
    }
    // A whole response (chunkIntervalMs > 0) is merged in its stream and pulled a few times a
    // second, instead of one pull, one message here and one to the gateway per token.
    var events =
        g.chunkIntervalMs() > 0
            ? sub.events().via(Coalesce.flow(Duration.ofMillis(g.chunkIntervalMs())))
            : sub.events();
    InFlight f = new InFlight(g, events.runWith(Sink.queue(), mat));
    inFlight.put(g.requestId(), f);
    pull(f);
    return this;
  }

  private static long estimate(Generate g) {
    long chars =
        switch (g.prompt()) {
          case TextPrompt t -> t.text().length();
          case ChatPrompt c -> c.messages().stream().mapToLong(m -> m.content().length() + 8).sum();
        };
    return chars / 4 + 1;
  }

  private static PipelineRequest toRequest(Generate g) {
    GenerationParams p = g.params();
    SamplingParams params =
        SamplingParams.builder()
            .temperature(p.temperature())
            .topP(p.topP())
            .topK(p.topK())
            .minP(p.minP())
            .repetitionPenalty(p.repetitionPenalty())
            .presencePenalty(p.presencePenalty())
            .frequencyPenalty(p.frequencyPenalty())
            .seed(p.hasSeed() ? p.seed() : null)
            .maxTokens(p.maxTokens())
            .stop(p.stop())
            .logprobs(p.topLogprobs())
            .build();
    return switch (g.prompt()) {
      case TextPrompt t -> PipelineRequest.text(g.requestId(), t.text(), params);
      case ChatPrompt c ->
          PipelineRequest.chat(
              g.requestId(),
              c.messages().stream().map(m -> new ChatMessage(m.role(), m.content())).toList(),
              params);
    };
  }

  private Behavior<Object> onCancel(Cancel c) {
    if (phase == Phase.LOADING) {
      stash.stash(c);
      return this;
    }
    InFlight f = inFlight.get(c.requestId());
    if (f != null) {
      fail(f, "cancelled", "cancelled by the gateway", false);
    }
    return maybeDrained();
  }

  private Behavior<Object> onAck(Ack a) {
    if (phase == Phase.LOADING) {
      stash.stash(a);
      return this;
    }
    InFlight f = inFlight.get(a.requestId());
    if (f != null && a.chunks() > 0) {
      f.credit += a.chunks();
      pull(f);
    }
    return this;
  }

  private void pull(InFlight f) {
    if (f.pulling || f.credit <= 0) {
      return;
    }
    f.pulling = true;
    String id = f.generate.requestId();
    ActorRef<Object> self = getContext().getSelf();
    // Told from the stream's thread: a pipeToSelf on this Scala-backed stage would run its
    // callback on the common pool (one thread on a 2-core machine), one more hop per token.
    f.events
        .pull()
        .whenCompleteAsync(
            (ev, e) ->
                self.tell(
                    new Pulled(
                        id, ev == null ? Optional.empty() : ev, e == null ? null : unwrap(e))),
            Runnable::run);
  }

  private Behavior<Object> onPulled(Pulled p) {
    InFlight f = inFlight.get(p.requestId());
    if (f == null) {
      return this; // already failed or cancelled
    }
    f.pulling = false;
    Generate g = f.generate;
    if (p.error() != null || p.event().isEmpty()) {
      fail(f, "engine_error", p.error() == null ? "the output ended early" : p.error().toString());
      return maybeDrained();
    }
    switch (p.event().get()) {
      case PipelineEvent.Started s -> {
        f.accepted = true;
        f.promptTokens = s.promptTokens();
        g.replyTo().tell(new Accepted(g.requestId(), s.promptTokens()));
      }
      case PipelineEvent.Chunk c -> {
        if (c.tokens() == 0 && c.text().isEmpty()) {
          break;
        }
        g.replyTo().tell(new Chunk(g.requestId(), f.seq++, c.text(), c.tokens(), logprobs(c)));
        metrics.generated(c.tokens());
        f.credit--;
      }
      case PipelineEvent.Finished d -> {
        inFlight.remove(g.requestId());
        g.replyTo()
            .tell(
                new Completed(
                    g.requestId(), d.finishReason(), d.promptTokens(), d.completionTokens()));
        return maybeDrained();
      }
      case PipelineEvent.Failed x -> {
        boolean retryable =
            f.seq == 0
                && x.completionTokens() == 0
                && (x.reason().equals("device_error") || x.reason().equals("engine_error"));
        inFlight.remove(g.requestId());
        g.replyTo().tell(new Failed(g.requestId(), x.reason(), x.message(), retryable));
        return maybeDrained();
      }
    }
    pull(f);
    return this;
  }

  private static List<ChunkLogprob> logprobs(PipelineEvent.Chunk c) {
    if (c.logprobs().isEmpty()) {
      return List.of();
    }
    List<ChunkLogprob> out = new ArrayList<>(c.logprobs().size());
    for (PipelineEvent.TokenChoice t : c.logprobs()) {
      List<TokenLogprob> top = new ArrayList<>(t.top().size());
      for (PipelineEvent.Logprob l : t.top()) {
        top.add(new TokenLogprob(l.token(), l.logprob(), l.bytes()));
      }
      out.add(
          new ChunkLogprob(
              new TokenLogprob(t.chosen().token(), t.chosen().logprob(), t.chosen().bytes()), top));
    }
    return out;
  }

  private void fail(InFlight f, String reason, String message) {
    fail(f, reason, message, f.seq == 0 && !reason.equals("cancelled"));
  }

  private void fail(InFlight f, String reason, String message, boolean retryable) {
    Generate g = f.generate;
    if (inFlight.remove(g.requestId()) == null) {
      return;
    }
    f.events.cancel(); // frees the sequence and its KV blocks on the device
    g.replyTo().tell(new Failed(g.requestId(), reason, message, retryable));
  }

  private Behavior<Object> onTick() {
    long now = System.currentTimeMillis();
    for (InFlight f : new ArrayList<>(inFlight.values())) {
      long d = f.generate.deadlineEpochMs();
      if (d > 0 && now >= d) {
        fail(f, "deadline", "the deadline passed while generating", false);
      }
    }
    publishLoad();
    return maybeDrained();
  }

  private void publishLoad() {
    DeviceLoop.Stats st = loop.stats();
    prefillRate.update(st.promptTokensProcessed(), st.prefillBusyNanos());
    decodeRate.update(st.decodeOnlyTokens(), st.decodeBusyNanos());
    int waitingRequests =
        st.waiting() + (pipeline == null ? stash.size() : pipeline.pendingRequests());
    long waitingTokens = pipeline == null ? 0 : pipeline.queuedPromptTokens();
    metrics.queued(waitingRequests, waitingTokens);
    metrics.rates(prefillRate.rate(), decodeRate.rate());
    metrics.busy(st.prefillBusyNanos() + st.decodeBusyNanos());
    topic.tell(
        Topic.publish(
            new LoadReport(
                entityId,
                address,
                settings.modelName(),
                phase == Phase.READY,
                st.running(),
                st.maxSeqs() == 0 ? settings.engine().maxSeqs() : st.maxSeqs(),
                waitingRequests,
                waitingTokens,
                st.queuedDecodeTokens(),
                st.freeKvBlocks(),
                st.totalKvBlocks(),
                st.kvBlockSize(),
                prefillRate.rate(),
                decodeRate.rate(),
                System.currentTimeMillis())));
  }
}
