package dev.sluice.node.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * Two nodes in one JVM (Artery on loopback, every message serialized): each measures its round trip
 * to the other, and both publish alerting snapshots on the cluster topic.
 */
class PeerPingerTest {

  static double peerRtt(ActorSystem<?> node, String peer) {
    for (MetricSnapshot s :
        NodeMetrics.get(node).registry().scrape("sluice_peer_round_trip_seconds"::equals)) {
      for (GaugeSnapshot.GaugeDataPointSnapshot p : ((GaugeSnapshot) s).getDataPoints()) {
        if (peer.equals(p.getLabels().get("peer"))) {
          return p.getValue();
        }
      }
    }
    return Double.NaN;
  }

  static String label(ActorSystem<?> node) {
    return PeerPinger.nodeLabel(node.address());
  }

  @Test
  void measuresRoundTripBothWaysAndPublishesSnapshots() throws Exception {
    ActorSystem<Void> a =
        ActorSystem.create(Behaviors.empty(), "ping", MetricsEndpointTest.nodeConfig("a"));
    ActorSystem<Void> b = null;
    try {
      b = ActorSystem.create(Behaviors.empty(), "ping", MetricsEndpointTest.nodeConfig("b"));
      Cluster.get(a).manager().tell(Join.create(Cluster.get(a).selfMember().address()));
      Cluster.get(b).manager().tell(Join.create(Cluster.get(a).selfMember().address()));
      ActorSystem<Void> bb = b;
      Awaitility.await()
          .atMost(Duration.ofSeconds(30))
          .until(
              () ->
                  Cluster.get(bb).selfMember().status().equals(MemberStatus.up())
                      && Cluster.get(a).state().members().size() == 2);
      NodeMetrics.get(a);
      NodeMetrics.get(b);

      Awaitility.await()
          .atMost(Duration.ofSeconds(30))
          .untilAsserted(
              () -> {
                assertThat(peerRtt(a, label(bb))).isBetween(0.0, 1.0);
                assertThat(peerRtt(bb, label(a))).isBetween(0.0, 1.0);
              });

      // The alert evaluator's view: snapshots from both nodes arrive on the topic.
      TestProbe<NodeSnapshot> probe = TestProbe.create(a);
      ActorRef<Topic.Command<NodeSnapshot>> topic =
          a.systemActorOf(
              Topic.create(NodeSnapshot.class, NodeSnapshot.TOPIC),
              "testTopic",
              org.apache.pekko.actor.typed.Props.empty());
      topic.tell(Topic.subscribe(probe.getRef()));
      Set<String> from = new HashSet<>();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (from.size() < 2 && System.nanoTime() < deadline) {
        NodeSnapshot s = probe.receiveMessage(Duration.ofSeconds(10));
        from.add(s.node());
        if (s.node().equals(label(bb))) {
          assertThat(s.signals())
              .anySatisfy(
                  sig -> {
                    assertThat(sig.name()).isEqualTo(NodeSnapshot.PEER_RTT);
                    assertThat(sig.subject()).isEqualTo(label(a));
                  });
        }
      }
      assertThat(from).containsExactlyInAnyOrder(label(a), label(bb));
    } finally {
      a.terminate();
      if (b != null) {
        b.terminate();
        b.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      a.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }
}
