package dev.sluice.node.launch;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import dev.sluice.node.config.NodeConfig;
import dev.sluice.node.config.NodeSettings;
import dev.sluice.node.config.SettingsException;
import dev.sluice.node.config.Transport;
import dev.sluice.node.membership.MembershipLogger;
import dev.sluice.node.serialization.KryoSettings;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.management.javadsl.PekkoManagement;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts one Sluice node: validates everything first, then the actor system (cluster member), the
 * membership log and Pekko Management. Both jars' {@code main} go through here; role work (the
 * gateway, workers, the scheduler) is started by the caller on the returned system.
 *
 * <p>Failure semantics: anything wrong before start-up is a {@link StartupException} (exit 2,
 * nothing started). A listener that fails to bind after start-up, or the node being downed by the
 * split-brain resolver, terminates the actor system through coordinated shutdown, and {@link
 * #awaitTermination} turns that into a non-zero exit status.
 */
public final class ClusterNode {
  private static final Logger log = LoggerFactory.getLogger(ClusterNode.class);

  /** Exit status when the node stops for any reason other than an operator's request. */
  public static final int EXIT_FAILED = 1;

  private ClusterNode() {}

  /**
   * A validated node configuration, ready to start.
   *
   * @param config the full configuration including the derived Pekko keys
   * @param settings the node settings read from it
   */
  public record Prepared(Config config, NodeSettings settings) {}

  /**
   * Loads, merges and validates the configuration; nothing is started.
   *
   * @param options the command's node flags
   * @param extraOverrides further flag overrides of the calling command (already recorded with
   *     {@link NodeOptions#put})
   * @param embeddedDefault classpath resource used when no {@code --config} file is given
   * @throws StartupException with a message naming the flag or key
   */
  public static Prepared prepare(
      NodeOptions options, Map<String, Object> extraOverrides, Optional<String> embeddedDefault) {
    try {
      Map<String, Object> overrides = options.overrides();
      overrides.putAll(extraOverrides);
      Config config = NodeConfig.load(overrides, options.configFile(), embeddedDefault);
      NodeSettings settings = NodeSettings.fromConfig(config);
      KryoSettings.fromConfig(config, ClusterNode.class.getClassLoader());
      return new Prepared(NodeConfig.withDerivedPekko(config, settings), settings);
    } catch (SettingsException e) {
      throw new StartupException(options.describe(e), e);
    }
  }

  /** The node's own listeners (remoting and management), for {@link PortCheck}. */
  public static List<Listener> listeners(NodeSettings s) {
    List<Listener> l = new ArrayList<>();
    boolean udp = s.transport() == Transport.AERON_UDP;
    l.add(
        new Listener(
            "cluster remoting (" + s.transport().configName() + ")",
            "--port / sluice.node.port",
            s.bindHost(),
            s.port(),
            udp));
    l.add(
        new Listener(
            "management HTTP",
            "--management-port / sluice.management.port",
            s.managementHost(),
            s.managementPort(),
            false));
    return l;
  }

  /**
   * Starts the actor system and management; logs one line per listener.
   *
   * @throws StartupException when the actor system refuses its configuration or cannot bind
   */
  public static ActorSystem<Void> start(Prepared prepared) {
    NodeSettings s = prepared.settings();
    if (s.transport() == Transport.AERON_UDP) {
      AeronDirs.sweepStale(s.aeronDirParent());
    }
    ActorSystem<Void> system;
    try {
      system = ActorSystem.create(guardian(), s.clusterName(), prepared.config());
    } catch (ConfigException e) {
      // A pekko.* key set directly in a file or -D property, which the settings records do not
      // read.
      throw new StartupException("invalid configuration: " + e.getMessage(), e);
    } catch (RuntimeException e) {
      throw new StartupException("cannot start the node: " + e, e);
    }
    if (s.transport() == Transport.AERON_UDP) {
      // Pekko deletes the directory when the media driver stops; this covers an aborted start.
      system.getWhenTerminated().thenRun(() -> AeronDirs.delete(s.aeronDir()));
    }
    Cluster cluster = Cluster.get(system);
    log.info(
        "Cluster remoting ({}) listening on {}:{} as {}, roles {}, version {}{}",
        s.transport().configName(),
        s.bindHost(),
        cluster.selfMember().address().getPort().orElse(s.port()),
        cluster.selfMember().address(),
        s.roles(),
        s.appVersion(),
        s.transport() == Transport.AERON_UDP ? ", Aeron directory " + s.aeronDir() : "");
    if (s.joinsItself()) {
      log.info("No seed nodes configured: forming a new cluster");
      cluster.manager().tell(Join.create(cluster.selfMember().address()));
    } else {
      log.info("Joining the cluster through seed nodes {}", s.seeds());
    }
    PekkoManagement.get(system.classicSystem())
        .start()
        .whenComplete(
            (uri, error) -> {
              if (error != null) {
                log.error("Management HTTP could not start; stopping the node", error);
                stop(system, "management HTTP could not start");
              } else {
                log.info(
                    "Management HTTP listening on {} (/alive, /ready; route providers {})",
                    uri,
                    system
                        .settings()
                        .config()
                        .getConfig("pekko.management.http.routes")
                        .root()
                        .keySet()
                        .stream()
                        .sorted()
                        .toList());
              }
            });
    return system;
  }

  /**
   * Blocks until the actor system terminates and returns the process exit status: 0 after an
   * operator's stop (SIGTERM, leaving the cluster), {@link #EXIT_FAILED} otherwise (downed by the
   * split-brain resolver, a listener that failed to bind).
   */
  public static int awaitTermination(ActorSystem<?> system) {
    system.getWhenTerminated().toCompletableFuture().join();
    Optional<CoordinatedShutdown.Reason> reason =
        CoordinatedShutdown.get(system.classicSystem()).getShutdownReason();
    boolean operator =
        reason.isPresent()
            && (reason.get() == CoordinatedShutdown.jvmExitReason()
                || reason.get() == CoordinatedShutdown.clusterLeavingReason());
    if (operator) {
      log.info("Node stopped ({})", reason.get());
      return 0;
    }
    log.warn("Node stopped: {}", reason.map(Object::toString).orElse("actor system terminated"));
    return EXIT_FAILED;
  }

  /**
   * Stops the node because part of it failed: it leaves the cluster (coordinated shutdown) and
   * {@link #awaitTermination} returns {@link #EXIT_FAILED}.
   */
  public static void stop(ActorSystem<?> system, String why) {
    CoordinatedShutdown.get(system.classicSystem()).run(new Failure(why));
  }

  /** The coordinated-shutdown reason for {@link #stop}. */
  private record Failure(String why) implements CoordinatedShutdown.Reason {
    @Override
    public String toString() {
      return "failure: " + why;
    }
  }

  private static Behavior<Void> guardian() {
    return Behaviors.setup(
        ctx -> {
          ctx.spawn(MembershipLogger.create(), "membership-logger");
          return Behaviors.empty();
        });
  }
}
