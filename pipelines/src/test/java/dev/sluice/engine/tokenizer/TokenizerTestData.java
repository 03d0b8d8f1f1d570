package dev.sluice.engine.tokenizer;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.engine.gguf.GgufFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Locates the shared tokenizer data (SLUICE_DATA_DIR) and caches loaded tokenizers. */
final class TokenizerTestData {
  private static final Map<String, Tokenizer> CACHE = new ConcurrentHashMap<>();

  private TokenizerTestData() {}

  static Path dataDir() {
    String d = System.getProperty("sluice.data.dir", System.getenv("SLUICE_DATA_DIR"));
    assumeTrue(
        d != null && !d.isBlank() && Files.isDirectory(Path.of(d)),
        "SLUICE_DATA_DIR (the shared data folder with models/ and tokenizers/) is not set");
    return Path.of(d);
  }

  static Path file(String relative) {
    Path p = dataDir().resolve(relative);
    assumeTrue(Files.isRegularFile(p), "missing test data file " + p);
    return p;
  }

  /** The tokenizer of {@code tokenizers/<gguf>}, optionally with another pre-tokenizer name. */
  static Tokenizer tokenizer(String relative, String pre) {
    Path p = file(relative);
    return CACHE.computeIfAbsent(
        relative + "|" + pre,
        k -> {
          try (GgufFile f = GgufFile.open(p)) {
            return pre == null ? Tokenizer.fromGguf(f) : Tokenizer.fromGguf(f, pre);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        });
  }
}
