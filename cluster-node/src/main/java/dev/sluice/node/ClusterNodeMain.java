package dev.sluice.node;

import dev.sluice.node.config.BuildInfo;
import dev.sluice.node.config.SettingsException;
import dev.sluice.node.launch.ClusterNode;
import dev.sluice.node.launch.NodeOptions;
import dev.sluice.node.launch.PortCheck;
import dev.sluice.node.launch.StartupException;
import dev.sluice.node.launch.VectorModuleLauncher;
import dev.sluice.node.worker.Device;
import dev.sluice.node.worker.DeviceDiscovery;
import dev.sluice.node.worker.GpuWorker;
import dev.sluice.node.worker.WorkerNode;
import dev.sluice.node.worker.WorkerSettings;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import org.apache.pekko.actor.typed.ActorSystem;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;

/**
 * {@code java -jar cluster-node.jar}: a worker node that joins an existing Sluice cluster.
 *
 * <p>Seeds come from {@code --seeds}, the environment variable {@code SLUICE_SEEDS}, or {@code
 * sluice.cluster.seeds} in the {@code --config} file; a worker with none refuses to start.
 */
@Command(
    name = "cluster-node",
    mixinStandardHelpOptions = true,
    versionProvider = ClusterNodeMain.Version.class,
    sortOptions = false,
    usageHelpAutoWidth = true,
    description = {
      "Runs a Sluice worker node that joins an existing cluster.",
      "",
      "Exit status: 0 after a clean stop, 1 if the node stopped on its own (e.g. downed),"
          + " 2 for a bad flag, a bad configuration value or a port in use."
    },
    footer = {
      "",
      "Example: java -jar cluster-node.jar --seeds 10.0.0.1:25520 --host 10.0.0.7",
      "Environment: SLUICE_SEEDS, SLUICE_HOST, SLUICE_PORT, SLUICE_ROLES, SLUICE_MANAGEMENT_PORT,"
          + " SLUICE_TRANSPORT, ... (see README)."
    })
public final class ClusterNodeMain implements Callable<Integer> {
  @Mixin NodeOptions node;

  @Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    OptionalInt relaunched = VectorModuleLauncher.relaunchIfNeeded("cluster-node", System.err);
    if (relaunched.isPresent()) {
      System.exit(relaunched.getAsInt());
    }
    System.exit(new CommandLine(new ClusterNodeMain()).execute(args));
  }

  @Override
  public Integer call() {
    ClusterNode.Prepared prepared;
    ActorSystem<Void> system;
    WorkerSettings workers = null;
    List<Device> devices = List.of();
    try {
      prepared = ClusterNode.prepare(node, Map.of(), Optional.empty());
      if (prepared.settings().joinsItself()) {
        throw new StartupException(
            node.describe(
                new SettingsException(
                    "sluice.cluster.seeds",
                    "a worker needs seed nodes to join: pass --seeds HOST:PORT[,HOST:PORT...],"
                        + " set SLUICE_SEEDS, or set sluice.cluster.seeds in the --config file")));
      }
      if (prepared.settings().roles().contains(GpuWorker.ROLE)) {
        try {
          workers = WorkerSettings.fromConfig(prepared.config());
          devices = DeviceDiscovery.discover(workers); // logged once; cuda without a GPU stops here
        } catch (SettingsException e) {
          throw new StartupException(node.describe(e), e);
        }
      }
      PortCheck.requireFree(ClusterNode.listeners(prepared.settings()));
      system = ClusterNode.start(prepared);
    } catch (StartupException e) {
      spec.commandLine().getErr().println("cluster-node: " + e.getMessage());
      return StartupException.EXIT_CODE;
    }
    if (workers != null) {
      WorkerNode.start(system, workers, devices); // one GpuWorker entity per device
    }
    return ClusterNode.awaitTermination(system);
  }

  /** {@code --version}: the build version, which is also the cluster app-version. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {"Sluice cluster-node " + BuildInfo.version()};
    }
  }
}
