package dev.sluice.node.launch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.engine.cuda.CudaDevices;
import dev.sluice.node.ClusterNodeMain;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code --device} reaches {@code sluice.worker.device}, and refusals name the flag. */
class DeviceFlagTest {

  @Command(name = "t")
  static final class Holder {
    @Mixin NodeOptions node;
  }

  private record Run(int code, String err) {}

  private static Run clusterNode(String... args) {
    StringWriter err = new StringWriter();
    CommandLine cl = new CommandLine(new ClusterNodeMain());
    cl.setErr(new PrintWriter(err));
    cl.setOut(new PrintWriter(new StringWriter()));
    int code = cl.execute(args);
    return new Run(code, err.toString());
  }

  @Test
  void theFlagSetsTheKey() {
    Holder h = new Holder();
    new CommandLine(h).parseArgs("--device", "cuda");
    assertThat(h.node.overrides()).containsEntry("sluice.worker.device", "cuda");
    Holder none = new Holder();
    new CommandLine(none).parseArgs();
    assertThat(none.node.overrides()).doesNotContainKey("sluice.worker.device");
  }

  @Test
  void aBadDeviceIsRefusedNamingTheFlag() {
    Run r =
        clusterNode(
            "--seeds", "127.0.0.1:1", "--roles", "worker", "--port", "0", "--device", "tpu");
    assertThat(r.code()).as(r.err()).isEqualTo(StartupException.EXIT_CODE);
    assertThat(r.err())
        .contains("'--device'")
        .contains("sluice.worker.device")
        .contains("auto, cpu or cuda");
  }

  @Test
  void cudaWithoutADriverStopsStartUpWithExitTwo() {
    assumeTrue(CudaDevices.discover().isEmpty(), "a CUDA device is present");
    Run r =
        clusterNode(
            "--seeds", "127.0.0.1:1", "--roles", "worker", "--port", "0", "--device", "cuda");
    assertThat(r.code()).as(r.err()).isEqualTo(StartupException.EXIT_CODE);
    assertThat(r.err())
        .contains("'--device'")
        .contains("CUDA is unusable on this node")
        .contains(CudaDevices.unavailableReason());
  }
}
