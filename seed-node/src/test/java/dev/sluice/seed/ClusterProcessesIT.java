package dev.sluice.seed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The built jars as separate JVMs on loopback, one seed and two workers: they join, all three are
 * Up through {@code /cluster/members}, and a worker killed with SIGKILL is downed by the
 * split-brain resolver and removed while the other two stay Up. The same join over aeron-udp.
 */
class ClusterProcessesIT {
  /** Test-only: a short stable-after so the resolver decides quickly. */
  private static final String STABLE_AFTER = "-Dsluice.cluster.split-brain.stable-after=5s";

  private static final Duration JOIN_TIMEOUT = Duration.ofSeconds(120);

  private final List<NodeProcess> started = new ArrayList<>();

  @AfterEach
  void stopAll() throws InterruptedException {
    for (NodeProcess p : started) {
      p.close();
    }
  }

  private record Node(NodeProcess process, int port, int managementPort, int httpPort) {
    String address() {
      return "pekko://sluice@127.0.0.1:" + port;
    }
  }

  /**
   * The seed is started exactly as the README's single-node command (no arguments, so the embedded
   * single-node.conf), with only its ports moved through the documented environment variables.
   */
  private Node seed(String transport, List<String> props) throws Exception {
    int port = NodeProcess.freePort();
    int mgmt = NodeProcess.freePort();
    int http = NodeProcess.freePort();
    NodeProcess p =
        NodeProcess.start(
            "seed-" + transport,
            NodeProcess.SEED_JAR,
            props,
            Map.of(
                "SLUICE_PORT", String.valueOf(port),
                "SLUICE_MANAGEMENT_PORT", String.valueOf(mgmt),
                "SLUICE_HTTP_PORT", String.valueOf(http),
                "SLUICE_TRANSPORT", transport));
    started.add(p);
    return new Node(p, port, mgmt, http);
  }

  private Node worker(String name, Node seed, String transport, List<String> props)
      throws Exception {
    int port = NodeProcess.freePort();
    int mgmt = NodeProcess.freePort();
    NodeProcess p =
        NodeProcess.start(
            name,
            NodeProcess.WORKER_JAR,
            props,
            Map.of(),
            "--seeds",
            "127.0.0.1:" + seed.port(),
            "--port",
            String.valueOf(port),
            "--management-port",
            String.valueOf(mgmt),
            "--transport",
            transport);
    started.add(p);
    return new Node(p, port, mgmt, 0);
  }

  private static void awaitAllUp(Node seen, List<Node> nodes) {
    List<String> expected = nodes.stream().map(Node::address).toList();
    await("all " + nodes.size() + " members Up as seen by " + seen.process().name)
        .atMost(JOIN_TIMEOUT)
        .pollInterval(Duration.ofMillis(500))
        .ignoreExceptions()
        .untilAsserted(
            () -> {
              assertThat(seen.process().process.isAlive())
                  .as(seen.process().name + " is running:\n" + seen.process().output())
                  .isTrue();
              assertThat(NodeProcess.upMembers(NodeProcess.members(seen.managementPort())))
                  .containsExactlyInAnyOrderElementsOf(expected);
            });
  }

  @Test
  void seedAndTwoWorkersJoinAndAKilledWorkerIsDownedAndRemoved() throws Exception {
    List<String> props = List.of(STABLE_AFTER);
    Node seed = seed("tcp", props);
    Node w1 = worker("worker-1", seed, "tcp", props);
    Node w2 = worker("worker-2", seed, "tcp", props);
    List<Node> all = List.of(seed, w1, w2);
    for (Node n : all) {
      awaitAllUp(n, all);
    }

    // Every node reports ready (Up, and no role condition pending yet); the seed's API answers.
    for (Node n : all) {
      await()
          .atMost(Duration.ofSeconds(30))
          .until(() -> NodeProcess.get(n.managementPort(), "/ready").status() == 200);
      assertThat(NodeProcess.get(n.managementPort(), "/alive").status()).isEqualTo(200);
    }
    NodeProcess.Response models = NodeProcess.get(seed.httpPort(), "/v1/models");
    assertThat(models.status()).isEqualTo(200);
    assertThat(models.body()).contains("\"object\":\"list\"");
    // Logging is asynchronous: the lines may trail the listeners by a moment.
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () ->
                assertThat(seed.process().output())
                    .contains("Cluster remoting (tcp) listening on 127.0.0.1:" + seed.port())
                    .contains(
                        "Management HTTP listening on http://127.0.0.1:" + seed.managementPort())
                    .contains(
                        "HTTP API (OpenAI-compatible) listening on http://127.0.0.1:"
                            + seed.httpPort())
                    .contains("roles [seed, gateway, scheduler, worker]"));

    long killedAt = System.nanoTime();
    w2.process().kill();
    System.out.println("[test] killed worker-2 (" + w2.address() + ") with SIGKILL");

    for (Node survivor : List.of(seed, w1)) {
      await("worker-2 downed and removed, as seen by " + survivor.process().name)
          .atMost(Duration.ofSeconds(30).minusNanos(System.nanoTime() - killedAt))
          .pollInterval(Duration.ofMillis(250))
          .ignoreExceptions()
          .untilAsserted(
              () -> {
                JsonNode members = NodeProcess.members(survivor.managementPort());
                assertThat(NodeProcess.allMembers(members)).doesNotContain(w2.address());
                assertThat(NodeProcess.upMembers(members))
                    .containsExactlyInAnyOrder(seed.address(), w1.address());
                assertThat(members.get("unreachable")).isEmpty();
              });
    }
    long seconds = Duration.ofNanos(System.nanoTime() - killedAt).toSeconds();
    System.out.println(
        "[test] worker-2 removed " + seconds + " s after SIGKILL; seed and worker-1 Up");

    // The membership log of the seed shows the crash and the removal.
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () ->
                assertThat(seed.process().output())
                    .contains("Member unreachable: " + w2.address())
                    .contains("Member removed: " + w2.address()));
    assertThat(seed.process().process.isAlive()).isTrue();
    assertThat(w1.process().process.isAlive()).isTrue();
  }

  @Test
  void aeronUdpJoinsWithAPrivateMediaDriverDirectoryDeletedAtExit() throws Exception {
    // Fewer spinning threads per media driver: three of them share two cores here.
    List<String> props =
        List.of(STABLE_AFTER, "-Dpekko.remote.artery.advanced.aeron.idle-cpu-level=1");
    Node seed = seed("aeron-udp", props);
    Node w1 = worker("worker-1-aeron", seed, "aeron-udp", props);
    Node w2 = worker("worker-2-aeron", seed, "aeron-udp", props);
    List<Node> all = List.of(seed, w1, w2);
    for (Node n : all) {
      awaitAllUp(n, all);
    }
    List<Path> dirs = new ArrayList<>();
    for (Node n : all) {
      Path dir = Path.of("/dev/shm", "sluice-aeron-" + n.process().process.pid());
      await()
          .atMost(Duration.ofSeconds(10))
          .untilAsserted(
              () ->
                  assertThat(n.process().output())
                      .contains("Cluster remoting (aeron-udp)")
                      .contains(dir.toString()));
      assertThat(dir).isDirectory();
      dirs.add(dir);
    }
    for (Node n : List.of(w2, w1, seed)) {
      n.process().close();
    }
    for (Path dir : dirs) {
      await("Aeron directory " + dir + " deleted")
          .atMost(Duration.ofSeconds(10))
          .until(() -> !Files.exists(dir));
    }
  }
}
