package dev.sluice.node.worker;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.node.config.NodeConfig;
import dev.sluice.node.config.NodeSettings;
import dev.sluice.node.launch.ClusterNode;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.pekko.actor.typed.ActorSystem;

/** Worker nodes started the way the jars start them, on the real stories260K model. */
final class WorkerNodes {
  private WorkerNodes() {}

  static final String CONTINUATION =
      ", there was a little girl named Lily. She loved to play outside in the park. One day, she"
          + " saw a big, red ball. She wanted to play with it, but it was too high.";

  /** The stories260K model of SLUICE_DATA_DIR (skips the test when it is missing). */
  static Path model() {
    String d = System.getProperty("sluice.data.dir", System.getenv("SLUICE_DATA_DIR"));
    assumeTrue(d != null && !d.isBlank(), "SLUICE_DATA_DIR (the shared data folder) is not set");
    Path p = Path.of(d, "models", "stories260K.gguf");
    assumeTrue(Files.isRegularFile(p), "missing " + p);
    return p;
  }

  /** A node with the worker role; {@code extra} overrides any key. */
  static ActorSystem<Void> start(List<String> seeds, Map<String, Object> extra) throws IOException {
    Map<String, Object> flags = new HashMap<>();
    flags.put("sluice.cluster.seeds", seeds);
    flags.put("sluice.node.port", 0);
    flags.put("sluice.node.roles", List.of("worker"));
    flags.put("sluice.management.port", freePort());
    flags.put("sluice.worker.model", model().toString());
    flags.put("sluice.worker.threads", 1);
    flags.put("sluice.worker.max-seqs", 4);
    flags.put("pekko.actor.serialize-messages", "on");
    flags.put("pekko.cluster.jmx.multi-mbeans-in-same-jvm", "on");
    flags.putAll(extra);
    var config = NodeConfig.load(flags, Optional.empty(), Optional.empty());
    NodeSettings settings = NodeSettings.fromConfig(config);
    return ClusterNode.start(
        new ClusterNode.Prepared(NodeConfig.withDerivedPekko(config, settings), settings));
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  static WorkerProtocol.GenerationParams greedy(int maxTokens) {
    return new WorkerProtocol.GenerationParams(
        maxTokens, 0f, 1f, 0, 0f, 1f, 0f, 0f, 0L, false, List.of(), -1);
  }
}
