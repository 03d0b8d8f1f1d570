package dev.sluice.node.launch;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Each aeron-udp node has its own Aeron directory, {@code <parent>/sluice-aeron-<pid>}. Pekko
 * deletes it when the actor system stops; a node killed with SIGKILL cannot, so at start-up a node
 * removes the directories of processes that no longer exist (they hold up to tens of MB of shared
 * memory each).
 */
public final class AeronDirs {
  private static final Logger log = LoggerFactory.getLogger(AeronDirs.class);
  private static final String PREFIX = "sluice-aeron-";

  private AeronDirs() {}

  /** Deletes Aeron directories under {@code parent} whose owning process is gone. */
  public static void sweepStale(Path parent) {
    if (!Files.isDirectory(parent)) {
      return;
    }
    try (DirectoryStream<Path> dirs = Files.newDirectoryStream(parent, PREFIX + "*")) {
      for (Path dir : dirs) {
        String suffix = dir.getFileName().toString().substring(PREFIX.length());
        long pid;
        try {
          pid = Long.parseLong(suffix);
        } catch (NumberFormatException e) {
          continue;
        }
        if (ProcessHandle.of(pid).isEmpty()) {
          log.info("Removing stale Aeron directory {} of a process that no longer runs", dir);
          delete(dir);
        }
      }
    } catch (IOException e) {
      log.warn("Cannot scan {} for stale Aeron directories: {}", parent, e.toString());
    }
  }

  /** Deletes a directory tree, ignoring what is already gone. */
  public static void delete(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder())
          .forEach(
              p -> {
                try {
                  Files.deleteIfExists(p);
                } catch (IOException e) {
                  log.warn("Cannot delete {}: {}", p, e.toString());
                }
              });
    } catch (IOException e) {
      log.warn("Cannot delete {}: {}", dir, e.toString());
    }
  }
}
