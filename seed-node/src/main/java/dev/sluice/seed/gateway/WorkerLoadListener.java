package dev.sluice.seed.gateway;

import dev.sluice.node.worker.WorkerProtocol.LoadReport;
import dev.sluice.seed.routing.WorkerPool;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;

/**
 * Feeds the gateway's {@link WorkerPool}: subscribes to the workers' load reports on the {@link
 * #TOPIC} topic and to cluster membership, so that a worker whose node is removed or unreachable
 * stops being routed to at once (its in-flight requests notice through {@link WorkerPool#alive} and
 * are retried or failed by their sessions).
 *
 * <p>Failure semantics: stateless apart from the pool; if it restarts it re-subscribes, and the
 * pool fills again within one report interval.
 */
public final class WorkerLoadListener {
  /** The Pekko pub-sub topic workers publish {@link LoadReport}s on. */
  public static final String TOPIC = "sluice-worker-load";

  private WorkerLoadListener() {}

  private record Report(LoadReport report) implements NoSerializationVerificationNeeded {}

  private record Member(ClusterEvent.MemberEvent event)
      implements NoSerializationVerificationNeeded {}

  /** Creates the topic actor for load reports (on every node that publishes or listens). */
  public static Behavior<Topic.Command<LoadReport>> topic() {
    return Topic.create(LoadReport.class, TOPIC);
  }

  public static Behavior<Void> create(WorkerPool pool) {
    return Behaviors.<Object>setup(
            ctx -> {
              var topic = ctx.spawn(topic(), "worker-load-topic");
              topic.tell(Topic.subscribe(ctx.messageAdapter(LoadReport.class, Report::new)));
              var cluster = Cluster.get(ctx.getSystem());
              var members = ctx.messageAdapter(ClusterEvent.MemberEvent.class, Member::new);
              cluster
                  .subscriptions()
                  .tell(Subscribe.create(members, ClusterEvent.MemberEvent.class));
              var unreachable =
                  ctx.messageAdapter(
                      ClusterEvent.UnreachableMember.class,
                      u -> new Member(new ClusterEvent.MemberLeft(u.member())));
              cluster
                  .subscriptions()
                  .tell(Subscribe.create(unreachable, ClusterEvent.UnreachableMember.class));
              return Behaviors.receive(Object.class)
                  .onMessage(
                      Report.class,
                      r -> {
                        pool.onReport(r.report(), System.currentTimeMillis());
                        return Behaviors.same();
                      })
                  .onMessage(
                      Member.class,
                      m -> {
                        var e = m.event();
                        if (e instanceof ClusterEvent.MemberRemoved
                            || e instanceof ClusterEvent.MemberLeft
                            || e instanceof ClusterEvent.MemberExited
                            || e instanceof ClusterEvent.MemberDowned) {
                          pool.nodeGone(e.member().address().toString());
                        }
                        return Behaviors.same();
                      })
                  .build();
            })
        .narrow();
  }
}
