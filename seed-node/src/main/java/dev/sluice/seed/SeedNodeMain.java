package dev.sluice.seed;

import dev.sluice.node.config.BuildInfo;
import dev.sluice.node.config.SettingsException;
import dev.sluice.node.launch.ClusterNode;
import dev.sluice.node.launch.Listener;
import dev.sluice.node.launch.NodeOptions;
import dev.sluice.node.launch.PortCheck;
import dev.sluice.node.launch.StartupException;
import dev.sluice.seed.admission.AdmissionSettings;
import dev.sluice.seed.gateway.Gateway;
import dev.sluice.seed.gateway.GatewaySettings;
import dev.sluice.seed.sim.SimulatedWorker;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
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
      // Subcommands, one class each (e.g. GenerateCommand.class).
      CommandLine.HelpCommand.class,
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
    System.exit(new CommandLine(new SeedNodeMain()).execute(args));
  }

  @Override
  public Integer call() {
    ClusterNode.Prepared prepared;
    ActorSystem<Void> system;
    GatewaySettings gateway = null;
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
      PortCheck.requireFree(listeners);
      system = ClusterNode.start(prepared);
    } catch (StartupException e) {
      spec.commandLine().getErr().println("seed-node: " + e.getMessage());
      return StartupException.EXIT_CODE;
    }
    if (gateway != null) {
      Gateway.start(system, prepared.config(), gateway);
    }
    if (prepared.settings().roles().contains("worker")
        && prepared.config().getBoolean("sluice.worker.simulated.enabled")) {
      SimulatedWorker.init(system, prepared.config());
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
