package dev.sluice.node.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.node.Readiness;
import dev.sluice.node.worker.WorkerProtocol.Accepted;
import dev.sluice.node.worker.WorkerProtocol.Completed;
import dev.sluice.node.worker.WorkerProtocol.Event;
import dev.sluice.node.worker.WorkerProtocol.Generate;
import dev.sluice.node.worker.WorkerProtocol.LoadReport;
import dev.sluice.node.worker.WorkerProtocol.TextPrompt;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Two worker nodes in one JVM: each node's worker entity lives on the node that owns its device
 * (external shard allocation), whichever node sends to it, and load reports of both reach every
 * subscriber of the topic.
 */
class WorkerShardingTest {
  static ActorSystem<Void> a;
  static ActorSystem<Void> b;
  static ActorTestKit kitA;
  static String idA;
  static String idB;

  @BeforeAll
  static void start() throws Exception {
    WorkerNodes.model();
    a = WorkerNodes.start(List.of(), Map.of());
    int port = Cluster.get(a).selfMember().address().getPort().get();
    b = WorkerNodes.start(List.of("127.0.0.1:" + port), Map.of());
    await()
        .atMost(Duration.ofSeconds(30))
        .until(
            () ->
                java.util.stream.StreamSupport.stream(
                            Cluster.get(a).state().getMembers().spliterator(), false)
                        .filter(m -> m.status() == MemberStatus.up())
                        .count()
                    == 2);
    kitA = ActorTestKit.create(a);
    idA = WorkerNode.start(a, WorkerSettings.fromConfig(a.settings().config())).getFirst();
    idB = WorkerNode.start(b, WorkerSettings.fromConfig(b.settings().config())).getFirst();
    assertThat(idA).isNotEqualTo(idB);
  }

  @AfterAll
  static void stop() {
    for (ActorSystem<Void> s : new ActorSystem[] {b, a}) {
      if (s != null) {
        s.terminate();
        s.getWhenTerminated().toCompletableFuture().join();
      }
    }
  }

  @Test
  void eachWorkerLivesOnTheNodeThatOwnsItsDevice() {
    // Load reports of both workers reach a subscriber on node A.
    TestProbe<LoadReport> reports = kitA.createTestProbe(LoadReport.class);
    var topic = kitA.spawn(Topic.create(LoadReport.class, GpuWorker.LOAD_TOPIC));
    topic.tell(Topic.subscribe(reports.getRef()));
    Map<String, LoadReport> seen = new ConcurrentHashMap<>();
    reports.fishForMessage(
        Duration.ofSeconds(30),
        r -> {
          if (r.ready()) {
            seen.put(r.workerId(), r);
          }
          return seen.size() == 2
              ? FishingOutcomes.complete()
              : FishingOutcomes.continueAndIgnore();
        });
    String addrA = Cluster.get(a).selfMember().address().toString();
    String addrB = Cluster.get(b).selfMember().address().toString();
    assertThat(seen.get(idA).address()).isEqualTo(addrA);
    assertThat(seen.get(idB).address()).isEqualTo(addrB);
    // Each node's readiness holds only its own worker's condition.
    assertThat(Readiness.get(b).snapshot())
        .containsEntry(GpuWorker.readinessCondition(idB), true)
        .doesNotContainKey(GpuWorker.readinessCondition(idA));
    assertThat(Readiness.get(a).snapshot())
        .containsEntry(GpuWorker.readinessCondition(idA), true)
        .doesNotContainKey(GpuWorker.readinessCondition(idB));

    // A request sent from node A to B's worker is served there, through Kryo.
    TestProbe<Event> probe = kitA.createTestProbe(Event.class);
    ClusterSharding.get(a)
        .entityRefFor(GpuWorker.TYPE_KEY, idB)
        .tell(
            new Generate(
                "remote-1",
                "stories260K",
                new TextPrompt("Once upon a time"),
                WorkerNodes.greedy(8),
                0L,
                1,
                100,
                0,
                probe.getRef()));
    assertThat(probe.expectMessageClass(Accepted.class, Duration.ofSeconds(30)).promptTokens())
        .isEqualTo(5);
    Event e;
    StringBuilder text = new StringBuilder();
    do {
      e = probe.receiveMessage(Duration.ofSeconds(30));
      if (e instanceof WorkerProtocol.Chunk c) {
        text.append(c.text());
      }
    } while (e instanceof WorkerProtocol.Chunk);
    assertThat(e).isEqualTo(new Completed("remote-1", "length", 5, 8));
    assertThat(WorkerNodes.CONTINUATION).startsWith(text.toString());
    // The shard's location is B, as pinned.
    var locations =
        org.apache.pekko.cluster.sharding.external.ExternalShardAllocation.get(a)
            .getClient(GpuWorker.TYPE_KEY.name())
            .getShardLocations()
            .toCompletableFuture()
            .join();
    assertThat(locations.getShardLocations().get(idB).address().toString()).isEqualTo(addrB);
  }
}
