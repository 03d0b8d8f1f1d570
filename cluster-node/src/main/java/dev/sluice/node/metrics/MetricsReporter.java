package dev.sluice.node.metrics;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;

/**
 * Publishes this node's {@link NodeSnapshot} on the cluster topic {@link NodeSnapshot#TOPIC} every
 * {@code sluice.metrics.report.interval}, for the alert evaluator singleton on the seed nodes.
 *
 * <p>Failure semantics: fire-and-forget; a snapshot lost in transit is replaced by the next one,
 * and the evaluator treats a node that stops reporting as stale. Supervised with restart (the
 * sampler's window starts over).
 */
public final class MetricsReporter {

  /** The reporter's only message. */
  public enum Tick {
    INSTANCE
  }

  private MetricsReporter() {}

  /** The reporter's behavior; started by {@link NodeMetrics}. */
  public static Behavior<Tick> create(PrometheusRegistry registry, MetricsSettings settings) {
    return Behaviors.setup(
        ctx -> {
          ActorRef<Topic.Command<NodeSnapshot>> topic =
              ctx.spawn(Topic.create(NodeSnapshot.class, NodeSnapshot.TOPIC), "topic");
          SignalSampler sampler =
              new SignalSampler(settings.reportWindow(), settings.refusalMinRequests());
          String self = PeerPinger.nodeLabel(ctx.getSystem().address());
          return Behaviors.withTimers(
              timers -> {
                timers.startTimerWithFixedDelay(Tick.INSTANCE, settings.reportInterval());
                return Behaviors.receiveMessage(
                    tick -> {
                      topic.tell(
                          Topic.publish(
                              new NodeSnapshot(
                                  self, System.currentTimeMillis(), sampler.sample(registry))));
                      return Behaviors.same();
                    });
              });
        });
  }
}
