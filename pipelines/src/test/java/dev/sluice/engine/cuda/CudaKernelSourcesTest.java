package dev.sluice.engine.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Checks of the CUDA kernels that need no GPU: every {@code .cu} compiles with nvcc for sm_80 and
 * sm_90 (so a kernel that does not compile cannot land), the matmul lane layouts and block decoders
 * agree with ggml's reference on the host, and every kernel the backend loads is in the shipped
 * PTX. The nvcc checks skip, saying so, only when nvcc is not installed.
 */
class CudaKernelSourcesTest {
  private static final Path SOURCES = Path.of("src/main/cuda");

  static String nvcc() {
    String env = System.getenv("NVCC");
    if (env != null && Files.isExecutable(Path.of(env))) {
      return env;
    }
    for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
      Path p = Path.of(dir, "nvcc");
      if (Files.isExecutable(p)) {
        return p.toString();
      }
    }
    for (String p : List.of("/usr/local/cuda/bin/nvcc", "/usr/local/bin/nvcc")) {
      if (Files.isExecutable(Path.of(p))) {
        return p;
      }
    }
    return null;
  }

  private static List<Path> sources() throws IOException {
    try (Stream<Path> s = Files.list(SOURCES)) {
      return s.filter(p -> p.toString().endsWith(".cu")).sorted().toList();
    }
  }

  static String run(List<String> cmd, Path dir) throws Exception {
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(300, TimeUnit.SECONDS)).as("finished: " + cmd).isTrue();
    assertThat(p.exitValue()).as(String.join(" ", cmd) + "\n" + out).isZero();
    return out;
  }

  @ParameterizedTest
  @ValueSource(strings = {"sm_80", "sm_90"})
  void everyKernelCompiles(String arch, @TempDir Path tmp) throws Exception {
    String nvcc = nvcc();
    assumeTrue(nvcc != null, "nvcc not installed: kernel compile check skipped");
    List<Path> cus = sources();
    assertThat(cus).isNotEmpty();
    for (Path cu : cus) {
      String name = cu.getFileName().toString().replace(".cu", "");
      run(
          List.of(
              nvcc,
              "--cubin",
              "-arch=" + arch,
              "-O3",
              "-std=c++17",
              "-I" + SOURCES.toAbsolutePath(),
              "-o",
              tmp.resolve(name + "." + arch + ".cubin").toString(),
              cu.toAbsolutePath().toString()),
          tmp);
    }
  }

  @Test
  void matmulLaneLayoutsAgreeWithGgmlOnTheHost(@TempDir Path tmp) throws Exception {
    String nvcc = nvcc();
    assumeTrue(nvcc != null, "nvcc not installed: host lane-layout check skipped");
    Path exe = tmp.resolve("lanes");
    run(
        List.of(
            nvcc,
            "-std=c++17",
            "-I" + SOURCES.toAbsolutePath(),
            "-o",
            exe.toString(),
            Path.of("src/test/cuda/lanes_host_test.cu").toAbsolutePath().toString()),
        tmp);
    assertThat(run(List.of(exe.toString()), tmp)).contains("OK");
  }

  @Test
  void everyKernelTheBackendLoadsIsInTheShippedPtx() throws Exception {
    for (Map.Entry<String, List<String>> m : CudaKernels.kernelNames().entrySet()) {
      for (String variant : List.of("sm80", "sm90")) {
        String resource = "/cuda/" + m.getKey() + "." + variant + ".ptx";
        String ptx;
        try (var in = CudaKernels.class.getResourceAsStream(resource)) {
          assertThat(in).as(resource + " on the class path").isNotNull();
          ptx = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        }
        List<String> missing = new ArrayList<>();
        for (String k : m.getValue()) {
          if (!ptx.contains(".entry " + k + "(")) {
            missing.add(k);
          }
        }
        assertThat(missing).as("kernels missing from " + resource).isEmpty();
        assertThat(ptx).as(resource + " target").contains(".target sm_" + variant.substring(2));
      }
      String cubin = "/cuda/" + m.getKey() + ".sm90.cubin";
      try (var in = CudaKernels.class.getResourceAsStream(cubin)) {
        assertThat(in).as(cubin + " on the class path").isNotNull();
        byte[] head = in.readNBytes(4);
        assertThat(head).as(cubin + " is an ELF image").containsExactly(0x7f, 'E', 'L', 'F');
      }
    }
  }
}
