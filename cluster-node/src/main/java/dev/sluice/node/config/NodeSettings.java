package dev.sluice.node.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Where a node listens and which cluster it joins: the {@code sluice.cluster}, {@code sluice.node}
 * and {@code sluice.management} sections of the configuration, read once and validated.
 *
 * <p>The Pekko settings these imply (Artery address, seed nodes, roles, split-brain resolver,
 * management address, app version) are derived by {@link #toPekkoConfig()}, so operators set one
 * Sluice key instead of keeping several Pekko keys consistent.
 *
 * @param clusterName actor system name, the same on every node of a cluster
 * @param seeds seed nodes to join; empty means this node forms a new cluster by joining itself
 * @param splitBrainStrategy the split-brain resolver's active strategy
 * @param stableAfter how long membership must be stable before the resolver downs nodes
 * @param appVersion {@code pekko.cluster.app-version}: the build version unless overridden
 * @param host host name or IP other nodes use to reach this node (Artery canonical hostname)
 * @param bindHost local address the remoting binds to (the canonical host unless set)
 * @param port remoting port; 0 picks a free one (only sensible for a node that is not a seed)
 * @param roles cluster roles of this node, e.g. {@code seed, gateway, scheduler, worker}
 * @param transport Artery transport
 * @param aeronDirParent folder holding this node's private Aeron directory (aeron-udp only)
 * @param managementHost host the management HTTP endpoint binds to
 * @param managementPort port of the management HTTP endpoint
 */
public record NodeSettings(
    String clusterName,
    List<SeedAddress> seeds,
    String splitBrainStrategy,
    Duration stableAfter,
    String appVersion,
    String host,
    String bindHost,
    int port,
    List<String> roles,
    Transport transport,
    Path aeronDirParent,
    String managementHost,
    int managementPort) {

  /** Strategies of Pekko's split-brain resolver that need no further mandatory settings here. */
  public static final Set<String> STRATEGIES =
      Set.of("keep-majority", "static-quorum", "keep-oldest", "down-all", "lease-majority");

  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_-]*");
  private static final Pattern ROLE = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]*");

  public NodeSettings {
    seeds = List.copyOf(seeds);
    roles = List.copyOf(roles);
  }

  /** Reads and validates the node settings from a resolved configuration. */
  public static NodeSettings fromConfig(Config c) {
    String name = Settings.string(c, "sluice.cluster.name");
    if (!NAME.matcher(name).matches()) {
      throw new SettingsException(
          "sluice.cluster.name", "'" + name + "' must be letters, digits, '-' or '_'");
    }
    List<SeedAddress> seeds = new ArrayList<>();
    for (String s : Settings.stringList(c, "sluice.cluster.seeds")) {
      seeds.add(SeedAddress.parse("sluice.cluster.seeds", s));
    }
    String strategy = Settings.string(c, "sluice.cluster.split-brain.strategy");
    if (!STRATEGIES.contains(strategy)) {
      throw new SettingsException(
          "sluice.cluster.split-brain.strategy",
          "'"
              + strategy
              + "' is not one of "
              + String.join(", ", STRATEGIES.stream().sorted().toList()));
    }
    Duration stableAfter =
        Settings.duration(
            c,
            "sluice.cluster.split-brain.stable-after",
            Duration.ofSeconds(1),
            Duration.ofHours(1));
    String appVersion = Settings.string(c, "sluice.cluster.app-version");
    if (appVersion.isEmpty()) {
      appVersion = BuildInfo.version();
    } else if (!appVersion.matches("\\d+(\\.\\d+){0,2}([-.][A-Za-z0-9.-]+)?")) {
      throw new SettingsException(
          "sluice.cluster.app-version", "'" + appVersion + "' is not a version like 1.2.3");
    }

    String host = Settings.string(c, "sluice.node.host");
    if (host.isEmpty()) {
      throw new SettingsException("sluice.node.host", "must not be empty");
    }
    String bindHost = Settings.string(c, "sluice.node.bind-host");
    if (bindHost.isEmpty()) {
      bindHost = host;
    }
    int port = Settings.port(c, "sluice.node.port", true);
    List<String> roles = Settings.stringList(c, "sluice.node.roles");
    for (String r : roles) {
      if (!ROLE.matcher(r).matches() || r.startsWith("dc-")) {
        throw new SettingsException(
            "sluice.node.roles",
            "'" + r + "' is not a role name (letters, digits, '.', '-', '_'; 'dc-' is reserved)");
      }
    }
    Transport transport =
        Transport.parse("sluice.node.transport", Settings.string(c, "sluice.node.transport"));
    String aeronParent = Settings.string(c, "sluice.node.aeron-dir-parent");
    if (aeronParent.isEmpty()) {
      throw new SettingsException("sluice.node.aeron-dir-parent", "must not be empty");
    }
    String managementHost = Settings.string(c, "sluice.management.host");
    if (managementHost.isEmpty()) {
      managementHost = bindHost;
    }
    int managementPort = Settings.port(c, "sluice.management.port", false);
    if (managementPort == port && managementHost.equals(bindHost) && transport == Transport.TCP) {
      throw new SettingsException(
          "sluice.management.port",
          "port " + port + " is already the remoting port (sluice.node.port)");
    }
    return new NodeSettings(
        name,
        seeds,
        strategy,
        stableAfter,
        appVersion,
        host,
        bindHost,
        port,
        roles,
        transport,
        Path.of(aeronParent),
        managementHost,
        managementPort);
  }

  /** Whether this node starts a new cluster by joining itself (no seeds configured). */
  public boolean joinsItself() {
    return seeds.isEmpty();
  }

  /**
   * This process's own Aeron directory: one per process (named by pid) so nodes sharing a machine
   * never share a media driver, deleted by Pekko when the actor system terminates.
   */
  public Path aeronDir() {
    return aeronDirParent.resolve("sluice-aeron-" + ProcessHandle.current().pid());
  }

  /** The Pekko configuration implied by these settings; it takes precedence over any file. */
  public Config toPekkoConfig() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("pekko.actor.provider", "cluster");
    m.put("pekko.remote.artery.transport", transport.configName());
    m.put("pekko.remote.artery.canonical.hostname", host);
    m.put("pekko.remote.artery.canonical.port", port);
    m.put("pekko.remote.artery.bind.hostname", bindHost);
    m.put("pekko.remote.artery.bind.port", port == 0 ? "" : String.valueOf(port));
    if (transport == Transport.AERON_UDP) {
      m.put("pekko.remote.artery.advanced.aeron.embedded-media-driver", true);
      m.put("pekko.remote.artery.advanced.aeron.aeron-dir", aeronDir().toString());
      m.put("pekko.remote.artery.advanced.aeron.delete-aeron-dir", true);
    }
    m.put(
        "pekko.cluster.seed-nodes", seeds.stream().map(s -> s.pekkoAddress(clusterName)).toList());
    m.put("pekko.cluster.roles", roles);
    m.put("pekko.cluster.app-version", appVersion);
    m.put(
        "pekko.cluster.downing-provider-class",
        "org.apache.pekko.cluster.sbr.SplitBrainResolverProvider");
    m.put("pekko.cluster.split-brain-resolver.active-strategy", splitBrainStrategy);
    m.put("pekko.cluster.split-brain-resolver.stable-after", stableAfter.toMillis() + "ms");
    m.put("pekko.management.http.hostname", managementHost);
    m.put("pekko.management.http.port", managementPort);
    return ConfigFactory.parseMap(
        m, "derived from sluice.cluster / sluice.node / sluice.management");
  }
}
