package dev.sluice.node.metrics;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs Prometheus' {@code promtool} (Debian package {@code prometheus}) from tests. */
public final class Promtool {

  /** Exit status and combined output of one run. */
  public record Result(int exitCode, String output) {}

  private Promtool() {}

  /** The promtool binary, or null when it is not installed. */
  public static Path find() {
    for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
      Path p = Path.of(dir, "promtool");
      if (Files.isExecutable(p)) {
        return p;
      }
    }
    return null;
  }

  /** Message for assumeTrue when promtool is missing. */
  public static final String MISSING =
      "promtool not installed (Debian package 'prometheus'; .ci/install.d/observability.sh"
          + " installs it): skipping";

  /** Runs {@code promtool args...} with {@code stdin}, bounded by 60 seconds. */
  public static Result run(String stdin, String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(find().toString());
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    try {
      if (stdin != null) {
        p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
      }
      p.getOutputStream().close();
      // Output is small (lint findings); read it after exit.
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        throw new IllegalStateException("promtool " + String.join(" ", args) + " ran over 60 s");
      }
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      return new Result(p.exitValue(), out);
    } finally {
      p.destroyForcibly();
    }
  }
}
