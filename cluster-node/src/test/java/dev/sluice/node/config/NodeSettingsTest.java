package dev.sluice.node.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.Config;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NodeSettingsTest {

  private static NodeSettings settings(Map<String, ?> flags) {
    return NodeSettings.fromConfig(NodeConfig.load(flags, Optional.empty(), Optional.empty()));
  }

  @Test
  void defaultsMakeAWorkerOnLoopbackWithTheBuildVersion() {
    NodeSettings s = settings(Map.of());
    assertThat(s.clusterName()).isEqualTo("sluice");
    assertThat(s.host()).isEqualTo("127.0.0.1");
    assertThat(s.port()).isEqualTo(25520);
    assertThat(s.managementPort()).isEqualTo(8558);
    assertThat(s.roles()).containsExactly("worker");
    assertThat(s.transport()).isEqualTo(Transport.TCP);
    assertThat(s.splitBrainStrategy()).isEqualTo("keep-majority");
    assertThat(s.joinsItself()).isTrue();
    // Maven filters build.properties, so tests see the real project version.
    assertThat(s.appVersion()).isEqualTo(BuildInfo.version()).isNotEqualTo("0.0.0");
  }

  @Test
  void seedsAndRolesAcceptListsAndCommaSeparatedStrings() {
    NodeSettings s =
        settings(
            Map.of(
                "sluice.cluster.seeds",
                "10.0.0.1:25520, seed-2.example:2552,[::1]:25520",
                "sluice.node.roles",
                List.of("gateway", "worker")));
    assertThat(s.seeds())
        .containsExactly(
            new SeedAddress("10.0.0.1", 25520),
            new SeedAddress("seed-2.example", 2552),
            new SeedAddress("::1", 25520));
    assertThat(s.roles()).containsExactly("gateway", "worker");

    Config pekko = s.toPekkoConfig();
    assertThat(pekko.getStringList("pekko.cluster.seed-nodes"))
        .containsExactly(
            "pekko://sluice@10.0.0.1:25520",
            "pekko://sluice@seed-2.example:2552",
            "pekko://sluice@[::1]:25520");
    assertThat(pekko.getStringList("pekko.cluster.roles")).containsExactly("gateway", "worker");
    assertThat(pekko.getString("pekko.cluster.app-version")).isEqualTo(BuildInfo.version());
    assertThat(pekko.getString("pekko.cluster.downing-provider-class"))
        .isEqualTo("org.apache.pekko.cluster.sbr.SplitBrainResolverProvider");
  }

  @Test
  void aeronGetsItsOwnDirectoryPerProcess() {
    NodeSettings s =
        settings(
            Map.of("sluice.node.transport", "aeron-udp", "sluice.node.aeron-dir-parent", "/tmp/x"));
    Config pekko = s.toPekkoConfig();
    assertThat(pekko.getString("pekko.remote.artery.transport")).isEqualTo("aeron-udp");
    assertThat(pekko.getString("pekko.remote.artery.advanced.aeron.aeron-dir"))
        .isEqualTo("/tmp/x/sluice-aeron-" + ProcessHandle.current().pid());
  }

  @Test
  void refusedValuesNameTheirKey() {
    assertRefused(Map.of("sluice.node.port", 70000), "sluice.node.port", "out of range");
    assertRefused(Map.of("sluice.node.port", "abc"), "sluice.node.port", "NUMBER");
    assertRefused(Map.of("sluice.management.port", 0), "sluice.management.port", "out of range");
    assertRefused(Map.of("sluice.node.transport", "pigeon"), "sluice.node.transport", "tcp");
    assertRefused(
        Map.of("sluice.cluster.seeds", "host-without-port"), "sluice.cluster.seeds", "HOST:PORT");
    assertRefused(
        Map.of("sluice.cluster.split-brain.strategy", "keep-everyone"),
        "sluice.cluster.split-brain.strategy",
        "keep-majority");
    assertRefused(
        Map.of("sluice.cluster.split-brain.stable-after", "soon"),
        "sluice.cluster.split-brain.stable-after",
        "bad value");
    assertRefused(Map.of("sluice.node.roles", "dc-east"), "sluice.node.roles", "reserved");
    assertRefused(
        Map.of("sluice.node.port", 8558), "sluice.management.port", "already the remoting port");
  }

  @Test
  void flagsOverrideTheFileWhichOverridesTheReference(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("node.conf");
    Files.writeString(
        file, "sluice.node { port = 3000, roles = [batch] }\nsluice.management.port = 9000\n");
    Config c =
        NodeConfig.load(Map.of("sluice.node.port", 4000), Optional.of(file), Optional.empty());
    NodeSettings s = NodeSettings.fromConfig(c);
    assertThat(s.port()).isEqualTo(4000);
    assertThat(s.roles()).containsExactly("batch");
    assertThat(s.managementPort()).isEqualTo(9000);
  }

  @Test
  void aMissingOrBrokenFileIsRefused(@TempDir Path dir) throws Exception {
    assertThatThrownBy(
            () ->
                NodeConfig.load(Map.of(), Optional.of(dir.resolve("nope.conf")), Optional.empty()))
        .isInstanceOf(SettingsException.class)
        .hasMessageContaining("--config")
        .hasMessageContaining("nope.conf");
    Path broken = dir.resolve("broken.conf");
    Files.writeString(broken, "sluice.node { port = \n");
    assertThatThrownBy(() -> NodeConfig.load(Map.of(), Optional.of(broken), Optional.empty()))
        .isInstanceOf(SettingsException.class)
        .hasMessageContaining("broken.conf");
  }

  private static void assertRefused(Map<String, ?> flags, String key, String detail) {
    assertThatThrownBy(() -> settings(flags))
        .isInstanceOfSatisfying(SettingsException.class, e -> assertThat(e.key()).isEqualTo(key))
        .hasMessageContaining(key)
        .hasMessageContaining(detail);
  }
}
