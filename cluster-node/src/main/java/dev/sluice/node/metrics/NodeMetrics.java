package dev.sluice.node.metrics;

import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Extension;
import org.apache.pekko.actor.typed.ExtensionId;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The metrics of one node (one {@link ActorSystem}): its own Prometheus registry with {@link
 * SluiceMetrics}, the JVM, CPU, cluster-membership and GPU series, and the two small actors that
 * feed the rest ({@link PeerPinger} for inter-node round-trip time, {@link MetricsReporter} for the
 * alerting snapshots).
 *
 * <p>A registry per actor system, not the client's global default, so that several nodes in one JVM
 * (tests, single-node mode) do not mix their series. Created on first {@link #get}, which the
 * {@code /metrics} route provider does when Pekko Management starts, so a node that serves
 * management serves metrics without further wiring.
 */
public final class NodeMetrics implements Extension {

  private static final Logger log = LoggerFactory.getLogger(NodeMetrics.class);

  /** The extension id. */
  public static final ExtensionId<NodeMetrics> ID =
      new ExtensionId<>() {
        @Override
        public NodeMetrics createExtension(ActorSystem<?> system) {
          return new NodeMetrics(system);
        }
      };

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final SluiceMetrics metrics;
  private final MetricsSettings settings;
  private final Optional<Nvml> nvml;

  private NodeMetrics(ActorSystem<?> system) {
    settings = MetricsSettings.fromConfig(system.settings().config());
    metrics = new SluiceMetrics(registry);
    if (settings.jvm()) {
      JvmMetrics.builder().register(registry);
    }
    HostMetrics.registerCpu(registry);
    if (isClustered(system)) {
      registerMembership(system, registry);
    }
    if (settings.gpu()) {
      StringBuilder whyNot = new StringBuilder();
      nvml = Nvml.load(whyNot);
      nvml.ifPresentOrElse(
          n -> {
            HostMetrics.registerGpu(registry, n);
            log.info(
                "GPU metrics through NVML for {} device(s): {}", n.devices().size(), n.devices());
          },
          () -> log.info("No GPU metrics: {}", whyNot));
    } else {
      nvml = Optional.empty();
    }
    system.getWhenTerminated().whenComplete((done, err) -> nvml.ifPresent(Nvml::close));
    Props props = Props.empty();
    system.systemActorOf(
        Behaviors.supervise(PeerPinger.create(metrics, settings))
            .onFailure(SupervisorStrategy.restart()),
        "sluicePeerPinger",
        props);
    system.systemActorOf(
        Behaviors.supervise(MetricsReporter.create(registry, settings))
            .onFailure(SupervisorStrategy.restart()),
        "sluiceMetricsReporter",
        props);
  }

  /** The node's metrics, created (and its feeders started) on first call. */
  public static NodeMetrics get(ActorSystem<?> system) {
    return ID.apply(system);
  }

  /** The metric objects the serving, engine, cache and planner code update. */
  public SluiceMetrics metrics() {
    return metrics;
  }

  /** The registry served at {@code /metrics}. */
  public PrometheusRegistry registry() {
    return registry;
  }

  /** Whether NVML was found (GPU series are exported). */
  public boolean gpuMetricsAvailable() {
    return nvml.isPresent();
  }

  private static boolean isClustered(ActorSystem<?> system) {
    return system.settings().config().getString("pekko.actor.provider").equals("cluster");
  }

  // The cluster extension keeps its view of the state up to date from the cluster's membership
  // events; reading that view at scrape time cannot miss an event or leave a stale count behind.
  private static void registerMembership(ActorSystem<?> system, PrometheusRegistry registry) {
    Cluster cluster = Cluster.get(system);
    GaugeWithCallback.builder()
        .name("sluice_cluster_members")
        .help("Cluster members by status, as this node sees them.")
        .labelNames("status")
        .callback(
            cb -> {
              ClusterEvent.CurrentClusterState state = cluster.state();
              Map<MemberStatus, Integer> counts = zeroCounts();
              for (Member m : state.getMembers()) {
                counts.merge(m.status(), 1, Integer::sum);
              }
              for (Map.Entry<MemberStatus, Integer> e : counts.entrySet()) {
                cb.call(e.getValue(), statusLabel(e.getKey()));
              }
            })
        .register(registry);
    GaugeWithCallback.builder()
        .name("sluice_cluster_unreachable_members")
        .help("Cluster members this node's failure detector marks unreachable.")
        .callback(cb -> cb.call(cluster.state().getUnreachable().size()))
        .register(registry);
  }

  static String statusLabel(MemberStatus status) {
    // "WeaklyUp" -> "weakly_up", "PreparingForShutdown" -> "preparing_for_shutdown".
    return status.toString().replaceAll("([a-z])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT);
  }

  /** Every status starts at zero, so a status that empties shows 0 rather than disappearing. */
  private static Map<MemberStatus, Integer> zeroCounts() {
    Map<MemberStatus, Integer> m = new LinkedHashMap<>();
    for (MemberStatus s :
        new MemberStatus[] {
          MemberStatus.joining(),
          MemberStatus.weaklyUp(),
          MemberStatus.up(),
          MemberStatus.leaving(),
          MemberStatus.exiting(),
          MemberStatus.down(),
          MemberStatus.removed(),
          MemberStatus.shuttingDown(),
          MemberStatus.shutDown()
        }) {
      m.put(s, 0);
    }
    return m;
  }
}
