package dev.sluice.seed.sim;

import com.typesafe.config.Config;
import dev.sluice.node.config.Settings;
import dev.sluice.node.worker.GpuWorker;
import dev.sluice.node.worker.WorkerProtocol;
import dev.sluice.node.worker.WorkerProtocol.Accepted;
import dev.sluice.node.worker.WorkerProtocol.Chunk;
import dev.sluice.node.worker.WorkerProtocol.Completed;
import dev.sluice.node.worker.WorkerProtocol.Failed;
import dev.sluice.node.worker.WorkerProtocol.LoadReport;
import dev.sluice.seed.gateway.WorkerLoadListener;
import dev.sluice.seed.routing.WorkerDirectory;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.cluster.sharding.external.ExternalShardAllocation;
import org.apache.pekko.cluster.sharding.external.ExternalShardAllocationStrategy;
import org.apache.pekko.cluster.sharding.typed.ClusterShardingSettings;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * A SIMULATED worker, for the overload benchmark and its CI variant only: it speaks {@link
 * WorkerProtocol} exactly like a {@code GpuWorker} but runs no model. Its "device" has a known,
 * calibrated capacity: an aggregate decode rate C tokens/s shared evenly by up to {@code
 * maxSequences} running sequences (continuous batching), a prefill rate P tokens/s, and a FIFO
 * queue of waiting requests. Each generated token is the text {@code "tok "}. Enabled by {@code
 * sluice.worker.simulated.enabled = on}; the real engine serves everywhere else.
 *
 * <p>It honours the protocol's semantics: {@code Accepted} at once, chunks only within the
 * gateway's credit (a sequence without credit pauses and its share of C goes to the others), {@code
 * Cancel} frees the sequence at once, a request past its deadline fails with {@code deadline}, and
 * a {@link LoadReport} is published every second on {@value WorkerLoadListener#TOPIC}. It never
 * fails otherwise; killing its JVM is how a benchmark simulates a lost worker.
 */
public final class SimulatedWorker extends AbstractBehavior<Object> {

  /** The simulated device's parameters. */
  public record SimSettings(
      int count,
      String model,
      double decodeTokensPerSecond,
      double prefillTokensPerSecond,
      int maxSequences) {

    public static SimSettings fromConfig(Config c) {
      String k = "sluice.worker.simulated.";
      return new SimSettings(
          Settings.integer(c, k + "count", 1, 1024),
          Settings.string(c, k + "model"),
          Settings.integer(c, k + "decode-tokens-per-second", 1, Integer.MAX_VALUE),
          Settings.integer(c, k + "prefill-tokens-per-second", 1, Integer.MAX_VALUE),
          Settings.integer(c, k + "max-sequences", 1, 65536));
    }
  }

  private enum Step implements NoSerializationVerificationNeeded {
    INSTANCE
  }

  private enum Report implements NoSerializationVerificationNeeded {
    INSTANCE
  }

  private static final Duration STEP = Duration.ofMillis(10);

  private static final class Seq {
    final WorkerProtocol.Generate g;
    final int promptTokens;
    double prefillLeft;
    double decodeAcc;
    int generated;
    int unsent;
    int credit;
    int seq;

    Seq(WorkerProtocol.Generate g, int promptTokens) {
      this.g = g;
      this.promptTokens = promptTokens;
      this.prefillLeft = promptTokens;
      this.credit = g.initialCredit();
    }
  }

  private final String workerId;
  private final String address;
  private final SimSettings s;
  private final ActorRef<Topic.Command<LoadReport>> topic;
  private final ArrayDeque<Seq> waiting = new ArrayDeque<>();
  private final Map<String, Seq> running = new LinkedHashMap<>();
  private long lastStepNanos = System.nanoTime();
  private long decodedSinceReport;
  private long lastReportNanos = System.nanoTime();
  private boolean busySinceReport;
  private double measuredDecode;

  /** Sharded entity behavior for worker {@code workerId}. */
  public static Behavior<WorkerProtocol.Command> create(
      String workerId, SimSettings s, ActorRef<Topic.Command<LoadReport>> topic) {
    return Behaviors.<Object>setup(
            ctx ->
                Behaviors.withTimers(
                    (TimerScheduler<Object> timers) -> {
                      timers.startTimerAtFixedRate(Step.INSTANCE, STEP);
                      timers.startTimerWithFixedDelay(
                          Report.INSTANCE, Duration.ZERO, Duration.ofSeconds(1));
                      return new SimulatedWorker(ctx, workerId, s, topic);
                    }))
        .narrow();
  }

  private SimulatedWorker(
      ActorContext<Object> ctx,
      String workerId,
      SimSettings s,
      ActorRef<Topic.Command<LoadReport>> topic) {
    super(ctx);
    this.workerId = workerId;
    this.s = s;
    this.topic = topic;
    this.address = Cluster.get(ctx.getSystem()).selfMember().address().toString();
    ctx.getLog()
        .info(
            "SIMULATED worker {} (benchmark only): C={} tokens/s, P={} tokens/s, {} slots",
            workerId,
            s.decodeTokensPerSecond(),
            s.prefillTokensPerSecond(),
            s.maxSequences());
  }

  /**
   * Starts {@code count} simulated worker entities named {@code HOST:PORT:sim-i} through Cluster
   * Sharding under the same type key as real workers, so the gateway addresses them alike.
   */
  public static void init(ActorSystem<?> system, Config config) {
    SimSettings s = SimSettings.fromConfig(config);
    ActorRef<Topic.Command<LoadReport>> topic =
        system.systemActorOf(
            WorkerLoadListener.topic(),
            "sim-worker-load-topic",
            org.apache.pekko.actor.typed.Props.empty());
    ClusterSharding sharding = ClusterSharding.get(system);
    sharding.init(
        Entity.of(WorkerDirectory.TYPE_KEY, ec -> create(ec.getEntityId(), s, topic))
            .withRole(WorkerDirectory.WORKER_ROLE)
            .withMessageExtractor(new GpuWorker.PinnedExtractor())
            .withAllocationStrategy(
                ExternalShardAllocationStrategy.create(
                    system, WorkerDirectory.TYPE_KEY.name(), Duration.ofSeconds(5)))
            .withSettings(ClusterShardingSettings.create(system).withNoPassivationStrategy()));
    var self = Cluster.get(system).selfMember().address();
    String node = self.host().getOrElse(() -> "local") + ":" + self.port().getOrElse(() -> 0);
    var allocation = ExternalShardAllocation.get(system).getClient(WorkerDirectory.TYPE_KEY.name());
    for (int i = 0; i < s.count(); i++) {
      String id = node + ":sim-" + i;
      // Pin the worker's shard to this node (it simulates this node's device), then wake it:
      // entities start on their first message, and a Cancel of nothing is harmless.
      allocation
          .setShardLocation(id, self)
          .whenComplete(
              (done, error) ->
                  sharding
                      .entityRefFor(WorkerDirectory.TYPE_KEY, id)
                      .tell(new WorkerProtocol.Cancel("start")));
    }
  }

  @Override
  public Receive<Object> createReceive() {
    return newReceiveBuilder()
        .onMessage(WorkerProtocol.Generate.class, this::onGenerate)
        .onMessage(WorkerProtocol.Cancel.class, this::onCancel)
        .onMessage(WorkerProtocol.Ack.class, this::onAck)
        .onMessageEquals(Step.INSTANCE, this::onStep)
        .onMessageEquals(Report.INSTANCE, this::onReport)
        .build();
  }

  private static int promptTokens(WorkerProtocol.Prompt p) {
    String text =
        switch (p) {
          case WorkerProtocol.TextPrompt t -> t.text();
          case WorkerProtocol.ChatPrompt c -> {
            StringBuilder sb = new StringBuilder();
            c.messages().forEach(m -> sb.append(m.role()).append(m.content()));
            yield sb.toString();
          }
        };
    return Math.max(1, text.length() / 4);
  }

  private Behavior<Object> onGenerate(WorkerProtocol.Generate g) {
    if (!g.model().equals(s.model())) {
      g.replyTo()
          .tell(
              new Failed(
                  g.requestId(),
                  "model_not_found",
                  "this simulated worker serves '" + s.model() + "'",
                  false));
      return this;
    }
    Seq q = new Seq(g, promptTokens(g.prompt()));
    g.replyTo().tell(new Accepted(g.requestId(), q.promptTokens));
    waiting.add(q);
    return this;
  }

  private Behavior<Object> onCancel(WorkerProtocol.Cancel c) {
    running.remove(c.requestId());
    waiting.removeIf(q -> q.g.requestId().equals(c.requestId()));
    return this;
  }

  private Behavior<Object> onAck(WorkerProtocol.Ack a) {
    Seq q = running.get(a.requestId());
    if (q != null) {
      q.credit += a.chunks();
    }
    return this;
  }

  private Behavior<Object> onStep() {
    long now = System.nanoTime();
    // A late tick (a busy machine) still delivers the capacity of the time that passed, up to
    // half a second; the rate actually delivered is measured and reported (decodedSinceReport).
    double dt = Math.min(0.5, (now - lastStepNanos) / 1e9);
    lastStepNanos = now;
    long wall = System.currentTimeMillis();
    while (running.size() < s.maxSequences() && !waiting.isEmpty()) {
      Seq q = waiting.poll();
      running.put(q.g.requestId(), q);
    }
    // Prefill, first come first served, at P tokens/s.
    double prefill = s.prefillTokensPerSecond() * dt;
    List<Seq> decoding = new ArrayList<>();
    for (Seq q : running.values()) {
      if (q.prefillLeft > 0 && prefill > 0) {
        double take = Math.min(prefill, q.prefillLeft);
        q.prefillLeft -= take;
        prefill -= take;
      }
      if (q.prefillLeft <= 0 && (q.credit > 0 || q.unsent == 0)) {
        decoding.add(q);
      }
    }
    // Decode: C tokens/s shared by the sequences that may advance (paused ones hold their slot).
    if (!decoding.isEmpty()) {
      busySinceReport = true;
      double share = s.decodeTokensPerSecond() * dt / decoding.size();
      for (Seq q : decoding) {
        q.decodeAcc += share;
        int n = (int) Math.min(q.decodeAcc, q.g.params().maxTokens() - q.generated);
        q.decodeAcc -= n;
        q.generated += n;
        q.unsent += n;
        decodedSinceReport += n;
      }
    }
    for (Iterator<Seq> it = running.values().iterator(); it.hasNext(); ) {
      Seq q = it.next();
      var reply = q.g.replyTo();
      if (wall > q.g.deadlineEpochMs()) {
        reply.tell(
            new Failed(q.g.requestId(), "deadline", "the request passed its deadline", false));
        it.remove();
        continue;
      }
      if (q.unsent > 0 && q.credit > 0) {
        reply.tell(
            new Chunk(q.g.requestId(), q.seq++, "tok ".repeat(q.unsent), q.unsent, List.of()));
        q.credit--;
        q.unsent = 0;
      }
      if (q.generated >= q.g.params().maxTokens() && q.unsent == 0) {
        reply.tell(new Completed(q.g.requestId(), "length", q.promptTokens, q.generated));
        it.remove();
      }
    }
    for (Iterator<Seq> it = waiting.iterator(); it.hasNext(); ) {
      Seq q = it.next();
      if (wall > q.g.deadlineEpochMs()) {
        q.g
            .replyTo()
            .tell(
                new Failed(q.g.requestId(), "deadline", "the request passed its deadline", false));
        it.remove();
      }
    }
    return this;
  }

  private Behavior<Object> onReport() {
    long nowNanos = System.nanoTime();
    double seconds = (nowNanos - lastReportNanos) / 1e9;
    lastReportNanos = nowNanos;
    if (busySinceReport && seconds > 0 && waiting.size() + running.size() > 0) {
      // Saturated interval: what the device delivered is its rate (EWMA, like a real worker).
      double rate = decodedSinceReport / seconds;
      measuredDecode = measuredDecode == 0 ? rate : 0.7 * measuredDecode + 0.3 * rate;
      getContext()
          .getLog()
          .debug(
              "{}: {} running, {} waiting, {} tokens/s delivered",
              workerId,
              running.size(),
              waiting.size(),
              (long) rate);
    }
    decodedSinceReport = 0;
    busySinceReport = false;
    long prefill = 0;
    long decode = 0;
    for (Seq q : running.values()) {
      prefill += (long) Math.ceil(q.prefillLeft);
      decode += q.g.params().maxTokens() - q.generated;
    }
    for (Seq q : waiting) {
      prefill += q.promptTokens;
      decode += q.g.params().maxTokens();
    }
    topic.tell(
        Topic.publish(
            new LoadReport(
                workerId,
                address,
                s.model(),
                true,
                running.size(),
                s.maxSequences(),
                waiting.size(),
                prefill,
                decode,
                1 << 20,
                1 << 20,
                16,
                s.prefillTokensPerSecond(),
                measuredDecode > 0
                    ? Math.min(measuredDecode, s.decodeTokensPerSecond())
                    : s.decodeTokensPerSecond(),
                System.currentTimeMillis())));
    return this;
  }
}
