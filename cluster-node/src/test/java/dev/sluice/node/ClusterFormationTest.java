package dev.sluice.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.node.config.NodeConfig;
import dev.sluice.node.config.NodeSettings;
import dev.sluice.node.launch.ClusterNode;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.StreamSupport;
import org.apache.pekko.actor.testkit.typed.javadsl.LoggingTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Three nodes in one JVM, started the way the jars start them ({@link ClusterNode}), with {@code
 * serialize-messages = on}: they form a cluster, a record crosses the network through Kryo, and an
 * unregistered record is refused with a logged error instead of being sent.
 */
class ClusterFormationTest {
  /** A tiny remote service: replies to pings with its own address. */
  static final class Echo {
    sealed interface Command permits Ping, Unlisted {}

    record Ping(String text, ActorRef<Pong> replyTo) implements Command {}

    /** Implements the protocol but is deliberately not in sluice.serialization.kryo.classes. */
    record Unlisted(String text, ActorRef<Pong> replyTo) implements Command {}

    record Pong(String text, String node) {}

    static final ServiceKey<Command> KEY = ServiceKey.create(Command.class, "echo");

    static Behavior<Command> create() {
      return Behaviors.setup(
          ctx -> {
            ctx.getSystem().receptionist().tell(Receptionist.register(KEY, ctx.getSelf()));
            String self = Cluster.get(ctx.getSystem()).selfMember().address().toString();
            return Behaviors.receive(Command.class)
                .onMessage(
                    Ping.class,
                    p -> {
                      p.replyTo().tell(new Pong(p.text(), self));
                      return Behaviors.same();
                    })
                .onMessage(
                    Unlisted.class,
                    u -> {
                      u.replyTo().tell(new Pong(u.text(), self));
                      return Behaviors.same();
                    })
                .build();
          });
    }
  }

  static final List<ActorSystem<Void>> nodes = new ArrayList<>();
  static final List<Integer> managementPorts = new ArrayList<>();

  @BeforeAll
  static void formCluster() throws IOException {
    ActorSystem<Void> first = start(List.of());
    int seedPort = Cluster.get(first).selfMember().address().getPort().get();
    start(List.of("127.0.0.1:" + seedPort));
    start(List.of("127.0.0.1:" + seedPort));
  }

  @AfterAll
  static void stop() {
    for (ActorSystem<Void> s : nodes) {
      s.terminate();
    }
    for (ActorSystem<Void> s : nodes) {
      s.getWhenTerminated().toCompletableFuture().join();
    }
  }

  private static ActorSystem<Void> start(List<String> seeds) throws IOException {
    Map<String, Object> flags = new HashMap<>();
    flags.put("sluice.cluster.seeds", seeds);
    flags.put("sluice.node.port", 0);
    int managementPort = freePort();
    managementPorts.add(managementPort);
    flags.put("sluice.management.port", managementPort);
    flags.put(
        "sluice.serialization.kryo.classes",
        List.of(Echo.Ping.class.getName(), Echo.Pong.class.getName()));
    flags.put("pekko.actor.serialize-messages", "on");
    flags.put("pekko.cluster.jmx.multi-mbeans-in-same-jvm", "on");
    var config = NodeConfig.load(flags, Optional.empty(), Optional.empty());
    NodeSettings settings = NodeSettings.fromConfig(config);
    ActorSystem<Void> system =
        ClusterNode.start(
            new ClusterNode.Prepared(NodeConfig.withDerivedPekko(config, settings), settings));
    nodes.add(system);
    return system;
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static long upMembers(ActorSystem<?> s) {
    return StreamSupport.stream(Cluster.get(s).state().getMembers().spliterator(), false)
        .filter(m -> m.status() == MemberStatus.up())
        .count();
  }

  @Test
  void threeNodesFormAClusterAndExchangeKryoMessages() {
    await()
        .atMost(Duration.ofSeconds(60))
        .untilAsserted(
            () -> {
              for (ActorSystem<Void> n : nodes) {
                assertThat(upMembers(n)).isEqualTo(3);
              }
            });
    assertThat(Cluster.get(nodes.get(2)).selfMember().appVersion().toString())
        .isEqualTo(dev.sluice.node.config.BuildInfo.version());

    ActorSystem<Void> a = nodes.get(0);
    ActorSystem<Void> c = nodes.get(2);
    c.systemActorOf(Echo.create(), "echo", org.apache.pekko.actor.typed.Props.empty());
    String remoteAddress = Cluster.get(c).selfMember().address().toString();

    TestProbe<Receptionist.Listing> listings = TestProbe.create(a);
    ActorRef<Echo.Command> echo =
        await()
            .atMost(Duration.ofSeconds(30))
            .until(
                () -> {
                  a.receptionist().tell(Receptionist.find(Echo.KEY, listings.ref()));
                  return listings
                      .receiveMessage(Duration.ofSeconds(5))
                      .getServiceInstances(Echo.KEY)
                      .stream()
                      .findFirst()
                      .orElse(null);
                },
                r -> r != null);
    assertThat(echo.path().address().toString()).isEqualTo(remoteAddress);

    TestProbe<Echo.Pong> replies = TestProbe.create(a);
    echo.tell(new Echo.Ping("hello", replies.ref()));
    assertThat(replies.receiveMessage(Duration.ofSeconds(10)))
        .isEqualTo(new Echo.Pong("hello", remoteAddress));

    // Not registered: Artery refuses to serialize it, logs an error, and nothing arrives.
    LoggingTestKit.error("Failed to serialize message")
        .withMessageContains(Echo.Unlisted.class.getName())
        .expect(
            a,
            () -> {
              echo.tell(new Echo.Unlisted("secret", replies.ref()));
              return null;
            });
    replies.expectNoMessage(Duration.ofSeconds(2));

    // The registered protocol still works afterwards: one bad message does not break the link.
    echo.tell(new Echo.Ping("again", replies.ref()));
    assertThat(replies.receiveMessage(Duration.ofSeconds(10)).text()).isEqualTo("again");
  }

  private static int ready(int port) throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    return http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/ready")).build(),
            HttpResponse.BodyHandlers.discarding())
        .statusCode();
  }

  @Test
  void readyOnTheManagementPortFollowsTheReadinessConditions() {
    ActorSystem<Void> node = nodes.get(1);
    int port = managementPorts.get(1);
    await().atMost(Duration.ofSeconds(60)).ignoreExceptions().until(() -> ready(port) == 200);

    Readiness r = Readiness.get(node);
    r.require("model-loaded:cpu0");
    await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> ready(port) == 500);
    r.satisfy("model-loaded:cpu0");
    await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> ready(port) == 200);
    r.unsatisfy("model-loaded:cpu0");
    await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> ready(port) == 500);
    r.withdraw("model-loaded:cpu0");
    await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> ready(port) == 200);
  }
}
