package dev.sluice.engine.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** The shared data folder, reached only through SLUICE_DATA_DIR (skips the test when absent). */
public final class TestData {
  private TestData() {}

  /** 44 token ids of the reference sequence in models/README.md: BOS, the prompt, greedy output. */
  public static final int[] STORIES_TOKENS = {
    1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396,
    267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261,
    370, 432, 352, 266, 268, 388
  };

  /** The greedy continuation (57 tokens) of "Once upon a time" in models/README.md. */
  public static final String STORIES_TEXT =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the"
          + " park. One day, she saw a big, red ball. She wanted to play with it, but it was too"
          + " high.";

  public static Path dataDir() {
    String d = System.getProperty("sluice.data.dir", System.getenv("SLUICE_DATA_DIR"));
    assumeTrue(
        d != null && !d.isBlank() && Files.isDirectory(Path.of(d)),
        "SLUICE_DATA_DIR (the shared data folder with models/) is not set");
    return Path.of(d);
  }

  public static Path file(String relative) {
    Path p = dataDir().resolve(relative);
    assumeTrue(Files.isRegularFile(p), "missing " + p + " in SLUICE_DATA_DIR");
    return p;
  }
}
