package dev.sluice.node.membership;

import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;

/**
 * Logs every membership and reachability change this node sees, one line each, so an operator
 * reading one node's log can follow joins, crashes, downing and removals. It holds no state and
 * never fails; if it stopped, the cluster would work the same, only less visibly.
 */
public final class MembershipLogger {
  private MembershipLogger() {}

  public static Behavior<ClusterEvent.ClusterDomainEvent> create() {
    return Behaviors.setup(
        ctx -> {
          Cluster cluster = Cluster.get(ctx.getSystem());
          cluster
              .subscriptions()
              .tell(Subscribe.create(ctx.getSelf().narrow(), ClusterEvent.MemberEvent.class));
          cluster
              .subscriptions()
              .tell(Subscribe.create(ctx.getSelf().narrow(), ClusterEvent.ReachabilityEvent.class));
          return Behaviors.receive(ClusterEvent.ClusterDomainEvent.class)
              .onMessage(
                  ClusterEvent.ClusterDomainEvent.class,
                  event -> {
                    String line = describe(event);
                    if (line != null) {
                      if (event instanceof ClusterEvent.UnreachableMember
                          || event instanceof ClusterEvent.MemberDowned) {
                        ctx.getLog().warn(line);
                      } else {
                        ctx.getLog().info(line);
                      }
                    }
                    return Behaviors.same();
                  })
              .build();
        });
  }

  /** One log line for an event, or null for events not worth a line. */
  static String describe(ClusterEvent.ClusterDomainEvent event) {
    return switch (event) {
      case ClusterEvent.MemberJoined e -> "Member joining: " + member(e.member());
      case ClusterEvent.MemberWeaklyUp e -> "Member weakly up: " + member(e.member());
      case ClusterEvent.MemberUp e -> "Member up: " + member(e.member());
      case ClusterEvent.MemberLeft e -> "Member leaving: " + member(e.member());
      case ClusterEvent.MemberExited e -> "Member exited: " + member(e.member());
      case ClusterEvent.MemberDowned e -> "Member downed: " + member(e.member());
      case ClusterEvent.MemberRemoved e ->
          "Member removed: " + member(e.member()) + " (previous status " + e.previousStatus() + ")";
      case ClusterEvent.UnreachableMember e -> "Member unreachable: " + member(e.member());
      case ClusterEvent.ReachableMember e -> "Member reachable again: " + member(e.member());
      default -> null;
    };
  }

  private static String member(Member m) {
    return m.address() + " roles " + m.getRoles() + " version " + m.appVersion();
  }
}
