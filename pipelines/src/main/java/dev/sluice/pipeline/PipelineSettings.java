package dev.sluice.pipeline;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;

/**
 * Bounds and parallelism of the streamed pipeline (prefetch -> compute -> postprocess), read once
 * from {@code sluice.pipeline} and validated; a bad value fails with a message naming the key.
 *
 * @param submitBuffer requests waiting to be prefetched (the pipeline's entry queue); a full queue
 *     refuses new requests at once instead of growing
 * @param prefetchParallelism requests templated and tokenized at once ({@code mapAsync})
 * @param prefetchDepth tokenized requests buffered ahead of the compute stage
 * @param computeWindow tokenized requests handed to the engine beyond its running sequences (they
 *     wait there for a sequence slot and KV blocks)
 * @param outputBuffer token events buffered per request between the device and postprocessing; when
 *     full the sequence is paused until its consumer catches up
 * @param maxChunkTokens most tokens merged into one chunk while a consumer lags
 */
public record PipelineSettings(
    int submitBuffer,
    int prefetchParallelism,
    int prefetchDepth,
    int computeWindow,
    int outputBuffer,
    int maxChunkTokens) {

  public PipelineSettings {
    check("submit-buffer", submitBuffer, 1, 1_000_000);
    check("prefetch-parallelism", prefetchParallelism, 1, 1024);
    check("prefetch-depth", prefetchDepth, 1, 1_000_000);
    check("compute-window", computeWindow, 1, 1_000_000);
    check("output-buffer", outputBuffer, 4, 1_000_000);
    check("max-chunk-tokens", maxChunkTokens, 1, 1_000_000);
  }

  /** The defaults of cluster-node's reference.conf, for tests and tools. */
  public static PipelineSettings defaults() {
    return new PipelineSettings(64, 2, 8, 8, 32, 16);
  }

  /** Reads {@code sluice.pipeline} from {@code root}. */
  public static PipelineSettings fromConfig(Config root) {
    Config c = root.getConfig("sluice.pipeline");
    return new PipelineSettings(
        integer(c, "submit-buffer"),
        integer(c, "prefetch-parallelism"),
        integer(c, "prefetch-depth"),
        integer(c, "compute-window"),
        integer(c, "output-buffer"),
        integer(c, "max-chunk-tokens"));
  }

  private static int integer(Config c, String key) {
    try {
      return c.getInt(key);
    } catch (ConfigException e) {
      throw new IllegalArgumentException("sluice.pipeline." + key + ": " + e.getMessage(), e);
    }
  }

  private static void check(String key, int v, int min, int max) {
    if (v < min || v > max) {
      throw new IllegalArgumentException(
          "sluice.pipeline." + key + " must be between " + min + " and " + max + ", got " + v);
    }
  }
}
