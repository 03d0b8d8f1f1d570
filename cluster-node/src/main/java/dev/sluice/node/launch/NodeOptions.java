package dev.sluice.node.launch;

import dev.sluice.node.config.SettingsException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import picocli.CommandLine.Option;

/**
 * The flags every node command shares (a picocli mixin). Each flag only overrides one {@code
 * sluice.*} key; all validation happens in the settings records, and errors found there are
 * reported against the flag when a flag set the value ({@link #describe(SettingsException)}).
 */
public final class NodeOptions {
  @Option(
      names = "--config",
      paramLabel = "FILE",
      description = "HOCON configuration file (e.g. config/worker.conf); flags override it.")
  Path config;

  @Option(
      names = "--seeds",
      paramLabel = "HOST:PORT[,HOST:PORT...]",
      description =
          "Seed nodes to join (sluice.cluster.seeds; env SLUICE_SEEDS). None: form a new cluster.")
  String seeds;

  @Option(
      names = "--host",
      paramLabel = "HOST",
      description = "Host name or IP other nodes reach this node at (sluice.node.host).")
  String host;

  @Option(
      names = "--port",
      paramLabel = "PORT",
      description = "Cluster remoting port (sluice.node.port); 0 = any free port.")
  Integer port;

  @Option(
      names = "--roles",
      paramLabel = "ROLE[,ROLE...]",
      description = "Cluster roles of this node (sluice.node.roles).")
  String roles;

  @Option(
      names = "--management-port",
      paramLabel = "PORT",
      description =
          "Management HTTP port: /alive /ready /cluster/members /metrics (sluice.management.port).")
  Integer managementPort;

  @Option(
      names = "--transport",
      paramLabel = "tcp|aeron-udp",
      description = "Transport between nodes (sluice.node.transport).")
  String transport;

  @Option(
      names = "--device",
      paramLabel = "auto|cpu|cuda",
      description =
          "Compute device of this node's workers (sluice.worker.device; env SLUICE_DEVICE): auto ="
              + " CUDA when a driver and a GPU exist, else CPU slots; cuda = fail without a GPU.")
  String device;

  private final Map<String, String> flagByKey = new LinkedHashMap<>();

  /** The {@code --config} file, if given. */
  public Optional<Path> configFile() {
    return Optional.ofNullable(config);
  }

  /** The configuration overrides set by these flags, keyed by path. */
  public Map<String, Object> overrides() {
    Map<String, Object> m = new LinkedHashMap<>();
    put(m, "--seeds", "sluice.cluster.seeds", seeds == null ? null : split(seeds));
    put(m, "--host", "sluice.node.host", host);
    put(m, "--port", "sluice.node.port", port);
    put(m, "--roles", "sluice.node.roles", roles == null ? null : split(roles));
    put(m, "--management-port", "sluice.management.port", managementPort);
    put(m, "--transport", "sluice.node.transport", transport);
    put(m, "--device", "sluice.worker.device", device);
    return m;
  }

  /**
   * Records a flag-to-key override; commands with flags of their own (e.g. {@code --http-port}) use
   * it too, so their errors name the flag as well.
   */
  public void put(Map<String, Object> overrides, String flag, String key, Object value) {
    if (value != null) {
      overrides.put(key, value);
      flagByKey.put(key, flag);
    }
  }

  /** The error message for a refused setting, naming the flag when a flag set it. */
  public String describe(SettingsException e) {
    String flag = flagByKey.get(e.key());
    if (flag == null) {
      return "invalid configuration: " + e.getMessage();
    }
    return "invalid value for option '" + flag + "': " + e.getMessage();
  }

  private static List<String> split(String csv) {
    return Arrays.stream(csv.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
  }
}
