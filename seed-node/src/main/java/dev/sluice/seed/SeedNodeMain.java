package dev.sluice.seed;

import dev.sluice.node.config.BuildInfo;
import dev.sluice.node.config.SettingsException;
import dev.sluice.node.launch.ClusterNode;
import dev.sluice.node.launch.Listener;
import dev.sluice.node.launch.NodeOptions;
import dev.sluice.node.launch.PortCheck;
import dev.sluice.node.launch.StartupException;
import dev.sluice.node.launch.VectorModuleLauncher;
import dev.sluice.node.worker.Device;
import dev.sluice.node.worker.DeviceDiscovery;
import dev.sluice.node.worker.GpuWorker;
import dev.sluice.node.worker.WorkerNode;
import dev.sluice.node.worker.WorkerSettings;
import dev.sluice.seed.admission.AdmissionSettings;
import dev.sluice.seed.alerting.Alerter;
import dev.sluice.seed.gateway.Gateway;
import dev.sluice.seed.gateway.GatewaySettings;
import dev.sluice.seed.sim.SimulatedWorker;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import org.apache.pekko.actor.typed.ActorSystem;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code java -jar seed-node.jar}: a control-plane node (cluster seed, HTTP gateway, scheduler).
 *
 * <p>With no {@code --config} it runs the embedded {@code single-node.conf}: a one-node cluster on
 * 127.0.0.1 with every role (seed, gateway, scheduler, worker). Other tools of the distribution are
 * subcommands, added by class to {@code subcommands} below.
 */
@Command(
    name = "seed-node",
    mixinStandardHelpOptions = true,
    versionProvider = SeedNodeMain.Version.class,
    sortOptions = false,
    usageHelpAutoWidth = true,
    subcommands = {
      // Subcommands, one class each.
      CommandLine.HelpCommand.class,
      GenerateCommand.class,
    },
    description = {
      "Runs a Sluice seed node (control plane). Without --config it uses the embedded"
          + " single-node configuration: every role (seed, gateway, scheduler, worker) on 127.0.0.1,"
          + " no seeds, so with no flags at all it is a one-node cluster (HTTP API on 8080,"
          + " management on 8558).",
      "",
      "Exit status: 0 after a clean stop, 1 if the node stopped on its own (e.g. downed),"
          + " 2 for a bad flag, a bad configuration value or a port in use."
    },
    footer = {
      "",
      "Example (first of three seeds): java -jar seed-node.jar --config config/seed.conf"
          + " --host 10.0.0.1 --seeds 10.0.0.1:25520,10.0.0.2:25520,10.0.0.3:25520",
      "Environment: SLUICE_SEEDS, SLUICE_HOST, SLUICE_PORT, SLUICE_ROLES, SLUICE_MANAGEMENT_PORT,"
          + " SLUICE_HTTP_PORT, SLUICE_TRANSPORT, ... (see README)."
    })
public final class SeedNodeMain implements Callable<Integer> {
  /** The embedded default configuration: config/single-node.conf, copied in by the build. */
  public static final String SINGLE_NODE_RESOURCE = "dev/sluice/seed/single-node.conf";

  @Mixin NodeOptions node;

  @Option(
      names = "--http-port",
      paramLabel = "PORT",
      description = "HTTP API port on gateway nodes (sluice.gateway.http.port).")
  Integer httpPort;

  @Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    OptionalInt relaunched = VectorModuleLauncher.relaunchIfNeeded("seed-node", System.err);
    if (relaunched.isPresent()) {
      System.exit(relaunched.getAsInt());
    }
    System.exit(new CommandLine(new SeedNodeMain()).execute(args));
  }

  @Override
  public Integer call() {
    ClusterNode.Prepared prepared;
    ActorSystem<Void> system;
    GatewaySettings gateway = null;
    WorkerSettings workers = null;
    List<Device> devices = List.of();
    try {
      Map<String, Object> extra = new LinkedHashMap<>();
      node.put(extra, "--http-port", "sluice.gateway.http.port", httpPort);
      prepared = ClusterNode.prepare(node, extra, Optional.of(SINGLE_NODE_RESOURCE));
      List<Listener> listeners = new ArrayList<>(ClusterNode.listeners(prepared.settings()));
      if (prepared.settings().roles().contains("gateway")) {
        try {
          gateway = GatewaySettings.fromConfig(prepared.config(), prepared.settings());
          AdmissionSettings.fromConfig(prepared.config()); // fail at start-up, naming the key
        } catch (SettingsException e) {
          throw new StartupException(node.describe(e), e);
        }
        listeners.add(
            new Listener(
                "the HTTP API",
                "--http-port / sluice.gateway.http.port",
                gateway.host(),
                gateway.port(),
                false));
      }
      if (prepared.settings().roles().contains(GpuWorker.ROLE)) {
        try {
          workers = WorkerSettings.fromConfig(prepared.config());
          if (!prepared.config().getBoolean("sluice.worker.simulated.enabled")) {
            // Logged once; device = cuda on a node without a usable GPU stops start-up here.
            devices = DeviceDiscovery.discover(workers);
          }
        } catch (SettingsException e) {
          throw new StartupException(node.describe(e), e);
        }
      }
      PortCheck.requireFree(listeners);
      system = ClusterNode.start(prepared);
    } catch (StartupException e) {
      spec.commandLine().getErr().println("seed-node: " + e.getMessage());
      return StartupException.EXIT_CODE;
    }
    Alerter.initFromConfig(system);
    if (workers != null) {
      if (prepared.config().getBoolean("sluice.worker.simulated.enabled")) {
        // A simulated device of known capacity (overload benchmark), instead of the real engine:
        // the first worker init on a node wins, so it must be this one or GpuWorker, not both.
        SimulatedWorker.init(system, prepared.config());
      } else {
        WorkerNode.start(system, workers, devices); // single-node mode: the local worker(s)
      }
    }
    if (gateway != null) {
      Gateway.start(system, prepared.config(), gateway);
    }
    return ClusterNode.awaitTermination(system);
  }

  /** {@code --version}: the build version, which is also the cluster app-version. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {"Sluice seed-node " + BuildInfo.version()};
    }
  }
}
