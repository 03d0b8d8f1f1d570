package dev.sluice.seed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.engine.cuda.CudaDevices;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code seed-node --device}: refused before anything starts, naming the flag (exit 2). */
class SeedDeviceFlagTest {

  private static String[] run(String... args) {
    StringWriter err = new StringWriter();
    CommandLine cl = new CommandLine(new SeedNodeMain());
    cl.setErr(new PrintWriter(err));
    cl.setOut(new PrintWriter(new StringWriter()));
    int code = cl.execute(args);
    return new String[] {Integer.toString(code), err.toString()};
  }

  @Test
  void aBadDeviceIsRefused() {
    String[] r = run("--device", "x");
    assertThat(r[0]).as(r[1]).isEqualTo("2");
    assertThat(r[1]).contains("seed-node:").contains("'--device'").contains("auto, cpu or cuda");
  }

  @Test
  void cudaWithoutADriverIsRefused() {
    assumeTrue(CudaDevices.discover().isEmpty(), "a CUDA device is present");
    String[] r = run("--device", "cuda"); // single-node mode; refused before any port is bound
    assertThat(r[0]).as(r[1]).isEqualTo("2");
    assertThat(r[1]).contains("'--device'").contains("CUDA is unusable on this node");
  }
}
