package dev.sluice.seed.alerting;

import dev.sluice.node.metrics.NodeSnapshot;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.ClusterSingletonSettings;
import org.apache.pekko.cluster.typed.SingletonActor;

/**
 * The built-in alert evaluator: one per cluster (a cluster singleton on the seed nodes). It
 * subscribes to the nodes' {@link NodeSnapshot}s on the cluster topic, keeps the latest per node,
 * and every {@code sluice.alerting.evaluation-interval} runs {@link AlertEvaluator} over them and
 * hands the resulting notifications to the {@link NotificationDispatcher} (HTTP happens on the
 * dispatcher's threads, never on this actor's).
 *
 * <p>Failure semantics: evaluation state lives in memory; when the singleton moves (its node leaves
 * or dies) the new instance starts empty, so alerts still active fire once more and an alert that
 * cleared during the hand-over sends no resolved message. Supervised with restart, which has the
 * same effect. Notification failures are logged by the dispatcher and never stop the actor.
 */
public final class Alerter extends AbstractBehavior<Alerter.Command> {

  /** Messages of the alerter. */
  public sealed interface Command permits SnapshotReceived, Evaluate {}

  /** A node's snapshot from the topic. */
  public record SnapshotReceived(NodeSnapshot snapshot) implements Command {}

  /** Evaluate the rules now (the timer sends it; tests may too). */
  public enum Evaluate implements Command {
    INSTANCE
  }

  private final AlertEvaluator evaluator;
  private final NotificationDispatcher dispatcher;
  private final Clock clock;
  private final Duration staleAfter;
  private final Map<String, NodeSnapshot> latest = new HashMap<>();

  /**
   * Reads {@code sluice.alerting} from the system's configuration and, when enabled, starts the
   * alerter (see {@link #init(ActorSystem, AlertingSettings)}); logs which notifiers are off for
   * lack of an address. The seed node's main calls this once at start.
   *
   * @throws com.typesafe.config.ConfigException naming the bad key
   */
  public static Optional<ActorRef<Command>> initFromConfig(ActorSystem<?> system) {
    List<String> skipped = new ArrayList<>();
    AlertingSettings settings =
        AlertingSettings.fromConfig(system.settings().config(), System::getenv, skipped);
    for (String s : skipped) {
      system.log().info("Alert notifier off: {}", s);
    }
    return settings.enabled() ? Optional.of(init(system, settings)) : Optional.empty();
  }

  /**
   * Starts the alerter as a cluster singleton on the nodes with role {@code sluice.alerting.role}
   * (every node if empty), with notifiers from {@code settings}, and returns its proxy. Call once
   * per node; the singleton runs on the oldest node of the role.
   */
  public static ActorRef<Command> init(ActorSystem<?> system, AlertingSettings settings) {
    Clock clock = Clock.systemUTC();
    ClusterSingletonSettings singleton = ClusterSingletonSettings.create(system);
    if (!settings.role().isEmpty()) {
      singleton = singleton.withRole(settings.role());
    }
    return ClusterSingleton.get(system)
        .init(
            SingletonActor.of(
                    Behaviors.supervise(
                            Behaviors.<Command>setup(
                                ctx ->
                                    create(
                                        settings,
                                        NotificationDispatcher.notifiers(settings, clock),
                                        clock)))
                        .onFailure(SupervisorStrategy.restart()),
                    "sluiceAlerter")
                .withSettings(singleton));
  }

  /** The alerter's behavior with the given notifiers (tests pass their own). */
  public static Behavior<Command> create(
      AlertingSettings settings, List<Notifier> notifiers, Clock clock) {
    return Behaviors.setup(
        ctx ->
            Behaviors.withTimers(
                timers -> {
                  timers.startTimerWithFixedDelay(Evaluate.INSTANCE, settings.evaluationInterval());
                  return new Alerter(ctx, settings, notifiers, clock);
                }));
  }

  private Alerter(
      ActorContext<Command> ctx, AlertingSettings settings, List<Notifier> notifiers, Clock clock) {
    super(ctx);
    this.evaluator =
        new AlertEvaluator(settings.rules(), settings.repeatInterval(), settings.staleAfter());
    this.dispatcher = new NotificationDispatcher(notifiers);
    this.clock = clock;
    this.staleAfter = settings.staleAfter();
    ActorRef<Topic.Command<NodeSnapshot>> topic =
        ctx.spawn(Topic.create(NodeSnapshot.class, NodeSnapshot.TOPIC), "topic");
    topic.tell(Topic.subscribe(ctx.messageAdapter(NodeSnapshot.class, SnapshotReceived::new)));
    ctx.getLog()
        .info(
            "Alert evaluator started: {} rule(s), notifiers {}",
            settings.rules().size(),
            notifiers.stream().map(Notifier::name).toList());
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(SnapshotReceived.class, this::onSnapshot)
        .onMessageEquals(Evaluate.INSTANCE, this::onEvaluate)
        .onSignal(PostStop.class, s -> onPostStop())
        .build();
  }

  private Behavior<Command> onSnapshot(SnapshotReceived r) {
    latest.put(r.snapshot().node(), r.snapshot());
    return this;
  }

  private Behavior<Command> onEvaluate() {
    List<Alert> alerts = evaluator.evaluate(clock.instant(), latest.values());
    for (Alert a : alerts) {
      getContext().getLog().info("Alert {} {}: {}", a.status(), a.key(), a.summary());
    }
    dispatcher.dispatch(alerts);
    // Forget nodes long gone, so the map stays bounded by the live membership.
    latest.values().removeIf(s -> clock.millis() - s.atEpochMillis() > 10 * staleAfter.toMillis());
    return this;
  }

  private Behavior<Command> onPostStop() {
    dispatcher.close(2_000);
    return this;
  }
}
