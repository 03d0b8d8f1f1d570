package dev.sluice.seed;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command lines of both jars: help, and refusals that stop before anything starts. */
class CliIT {
  private static final Duration EXIT = Duration.ofSeconds(60);

  private final List<NodeProcess> started = new ArrayList<>();

  @AfterEach
  void stopAll() throws InterruptedException {
    // Only matters when a refusal did not happen and a node started instead.
    for (NodeProcess p : started) {
      p.close();
    }
  }

  private NodeProcess run(String name, Path jar, String... args) throws Exception {
    return run(name, jar, Map.of(), args);
  }

  private NodeProcess run(String name, Path jar, Map<String, String> env, String... args)
      throws Exception {
    NodeProcess p = NodeProcess.start(name, jar, List.of(), env, args);
    started.add(p);
    return p;
  }

  /** A refusal: exit status 2, one message naming what to fix, and no cluster node started. */
  private static void assertRefused(NodeProcess p, String... fragments) throws Exception {
    assertThat(p.exitCode(EXIT)).as(p.output()).isEqualTo(2);
    assertThat(p.output()).contains(fragments).doesNotContain("Remoting started");
  }

  @Test
  void helpDescribesBothCommands() throws Exception {
    NodeProcess seed = run("cli-seed-help", NodeProcess.SEED_JAR, "--help");
    assertThat(seed.exitCode(EXIT)).isZero();
    assertThat(seed.output())
        .contains("Usage: seed-node")
        .contains("--seeds")
        .contains("--http-port")
        .contains("--management-port")
        .contains("--transport");
    NodeProcess worker = run("cli-worker-help", NodeProcess.WORKER_JAR, "--help");
    assertThat(worker.exitCode(EXIT)).isZero();
    assertThat(worker.output())
        .contains("Usage: cluster-node")
        .contains("--seeds")
        .contains("--roles")
        .doesNotContain("--http-port");
  }

  @Test
  void anUnknownFlagIsRefused() throws Exception {
    assertRefused(run("cli-bogus", NodeProcess.SEED_JAR, "--bogus"), "Unknown option: '--bogus'");
  }

  @Test
  void badFlagValuesNameTheFlag() throws Exception {
    assertRefused(
        run("cli-port", NodeProcess.SEED_JAR, "--port", "70000"),
        "'--port'",
        "sluice.node.port",
        "out of range");
    assertRefused(
        run(
            "cli-transport",
            NodeProcess.WORKER_JAR,
            "--seeds",
            "127.0.0.1:25520",
            "--transport",
            "pigeon"),
        "'--transport'",
        "aeron-udp");
    assertRefused(
        run("cli-seeds", NodeProcess.WORKER_JAR, "--seeds", "nohost"), "'--seeds'", "HOST:PORT");
  }

  @Test
  void aWorkerWithoutSeedsIsRefused() throws Exception {
    assertRefused(
        run("cli-no-seeds", NodeProcess.WORKER_JAR), "sluice.cluster.seeds", "SLUICE_SEEDS");
  }

  @Test
  void environmentOverridesAreReadAndValidated() throws Exception {
    assertRefused(
        run("cli-env-seeds", NodeProcess.WORKER_JAR, Map.of("SLUICE_SEEDS", "10.0.0.1")),
        "sluice.cluster.seeds",
        "'10.0.0.1' is not HOST:PORT");
    assertRefused(
        run("cli-env-port", NodeProcess.SEED_JAR, Map.of("SLUICE_MANAGEMENT_PORT", "99999")),
        "sluice.management.port",
        "out of range");
  }

  @Test
  void aBadConfigFileValueNamesTheKey(@TempDir Path dir) throws Exception {
    Path conf = dir.resolve("bad.conf");
    Files.writeString(conf, "sluice.management.port = \"eighty\"\n");
    assertRefused(
        run("cli-bad-conf", NodeProcess.SEED_JAR, "--config", conf.toString()),
        "sluice.management.port");
    assertRefused(
        run(
            "cli-missing-conf",
            NodeProcess.SEED_JAR,
            "--config",
            dir.resolve("nope.conf").toString()),
        "--config",
        "nope.conf");
  }

  @Test
  void aPortInUseIsRefusedNamingTheFlag() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      int port = taken.getLocalPort();
      assertRefused(
          run(
              "cli-port-in-use",
              NodeProcess.SEED_JAR,
              "--port",
              String.valueOf(NodeProcess.freePort()),
              "--http-port",
              String.valueOf(NodeProcess.freePort()),
              "--management-port",
              String.valueOf(port)),
          "--management-port",
          "port 127.0.0.1:" + port + " is already in use");
    }
  }
}
