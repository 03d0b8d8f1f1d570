package dev.sluice.node.launch;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AeronDirsTest {

  @Test
  void sweepRemovesOnlyDirectoriesOfProcessesThatAreGone(@TempDir Path parent) throws Exception {
    // A pid no process has (above the usual pid_max).
    long deadPid = 4_000_000;
    while (ProcessHandle.of(deadPid).isPresent()) {
      deadPid++;
    }
    Path dead = Files.createDirectories(parent.resolve("sluice-aeron-" + deadPid));
    Files.writeString(dead.resolve("cnc.dat"), "x");
    Path mine =
        Files.createDirectories(parent.resolve("sluice-aeron-" + ProcessHandle.current().pid()));
    Path other = Files.createDirectories(parent.resolve("someone-else"));

    AeronDirs.sweepStale(parent);

    assertThat(dead).doesNotExist();
    assertThat(mine).isDirectory();
    assertThat(other).isDirectory();
  }
}
