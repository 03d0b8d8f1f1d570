package dev.sluice.engine.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CUDA backend's host code against a fake driver library (no GPU): every LWJGL call it makes is
 * accepted by a stand-in {@code libcuda} built here with gcc, in a separate JVM so this JVM's
 * (absent) real driver state does not interfere; at exit the fake reports leaks, which must be
 * none. Skips, saying so, without gcc.
 */
class CudaFakeDriverTest {

  @Test
  void hostPathRunsAndFreesEverything(@TempDir Path tmp) throws Exception {
    assumeTrue(
        Files.isExecutable(Path.of("/usr/bin/gcc")) || Files.isExecutable(Path.of("/usr/bin/cc")),
        "gcc not installed: fake-driver check skipped");
    String cc = Files.isExecutable(Path.of("/usr/bin/gcc")) ? "/usr/bin/gcc" : "/usr/bin/cc";
    Path lib = tmp.resolve("libcuda.so.1");
    run(
        List.of(
            cc,
            "-shared",
            "-fPIC",
            "-O1",
            "-w",
            "-o",
            lib.toString(),
            Path.of("src/test/cuda/fake_libcuda.c").toAbsolutePath().toString()),
        tmp);
    String out =
        run(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED",
                "-Xmx512m",
                "-Dorg.lwjgl.cuda.libname=" + lib,
                "-cp",
                System.getProperty("java.class.path"),
                FakeDriverSmoke.class.getName()),
            tmp);
    assertThat(out).contains("SMOKE OK");
    assertThat(out)
        .as("fake driver's leak report")
        .contains("allocs=0 modules=0 retained=0 execs=0 graphs=0");
    assertThat(out).containsPattern("graphLaunches=[1-9]");
  }

  private static String run(List<String> cmd, Path dir) throws Exception {
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("finished: " + cmd).isTrue();
    assertThat(p.exitValue()).as(String.join(" ", cmd) + "\n" + out).isZero();
    return out;
  }
}
