package dev.sluice.node.launch;

import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;

/**
 * Makes {@code java -jar seed-node.jar} / {@code cluster-node.jar} work without extra JVM flags.
 *
 * <p>The engine's kernels need the incubating Vector API ({@code --add-modules
 * jdk.incubator.vector}), which a jar manifest cannot enable. When the module is missing, the
 * launcher runs the same command again as a child JVM with the flag, sharing stdin/stdout/stderr,
 * and returns the child's exit status. The two processes live and die together: a TERM to the
 * parent is forwarded to the child (which leaves the cluster cleanly), and if the parent is killed
 * outright the child halts at once, so {@code kill -9} of the node's process behaves like a crash
 * of the node. Launchers that pass the flags themselves (systemd units, tests) never relaunch.
 */
public final class VectorModuleLauncher {
  static final String PARENT_PID = "sluice.parent.pid";
  private static final String MODULE = "jdk.incubator.vector";

  private VectorModuleLauncher() {}

  /** Whether this JVM can run the engine's vector kernels. */
  public static boolean vectorModulePresent() {
    return ModuleLayer.boot().findModule(MODULE).isPresent();
  }

  /**
   * Call first thing in {@code main}. Returns the exit status of a relaunched child, or empty when
   * this JVM should carry on (the module is present). When the child was started by a launcher,
   * also ties this process's life to its parent's.
   */
  public static OptionalInt relaunchIfNeeded(String programName, PrintStream err) {
    String parent = System.getProperty(PARENT_PID);
    if (parent != null) {
      exitWithParent(Long.parseLong(parent));
    }
    if (vectorModulePresent()) {
      return OptionalInt.empty();
    }
    ProcessHandle.Info info = ProcessHandle.current().info();
    if (parent != null || info.command().isEmpty() || info.arguments().isEmpty()) {
      err.println(
          programName
              + ": the engine needs the Vector API: run java --add-modules=jdk.incubator.vector"
              + " --enable-native-access=ALL-UNNAMED -jar "
              + programName
              + ".jar ... (or set JDK_JAVA_OPTIONS=--add-modules=jdk.incubator.vector)");
      return OptionalInt.of(StartupException.EXIT_CODE);
    }
    List<String> cmd = new ArrayList<>();
    cmd.add(info.command().get());
    cmd.add("--add-modules=" + MODULE);
    cmd.add("--enable-native-access=ALL-UNNAMED");
    cmd.add("-D" + PARENT_PID + "=" + ProcessHandle.current().pid());
    cmd.addAll(List.of(info.arguments().get()));
    Process child;
    try {
      child = new ProcessBuilder(cmd).inheritIO().start();
    } catch (IOException e) {
      err.println(programName + ": cannot start " + cmd.get(0) + ": " + e.getMessage());
      return OptionalInt.of(1);
    }
    Thread forward =
        new Thread(
            () -> {
              if (child.isAlive()) {
                child.destroy(); // SIGTERM: the node leaves the cluster and stops
                try {
                  if (!child.waitFor(30, TimeUnit.SECONDS)) {
                    child.destroyForcibly();
                  }
                } catch (InterruptedException e) {
                  child.destroyForcibly();
                }
              }
            },
            "sluice-forward-stop");
    Runtime.getRuntime().addShutdownHook(forward);
    try {
      int status = child.waitFor();
      try {
        Runtime.getRuntime().removeShutdownHook(forward);
      } catch (IllegalStateException shuttingDown) {
        // already stopping: the hook has run or runs now
      }
      return OptionalInt.of(status);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      child.destroy();
      return OptionalInt.of(130);
    }
  }

  private static void exitWithParent(long pid) {
    ProcessHandle.of(pid)
        .ifPresentOrElse(
            p -> p.onExit().thenRun(() -> Runtime.getRuntime().halt(1)),
            () -> Runtime.getRuntime().halt(1));
  }
}
