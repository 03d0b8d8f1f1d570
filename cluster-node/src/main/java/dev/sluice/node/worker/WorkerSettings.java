package dev.sluice.node.worker;

import com.typesafe.config.Config;
import dev.sluice.node.config.Settings;
import dev.sluice.node.config.SettingsException;
import dev.sluice.pipeline.DeviceModel;
import dev.sluice.pipeline.PipelineSettings;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The worker role's settings, read once from {@code sluice.worker} and {@code sluice.pipeline}
 * (cluster-node's reference.conf documents every key) and validated: a bad value stops the node at
 * start-up with a message naming the key.
 *
 * @param model a local GGUF path or {@code hf://OWNER/REPO/PATH} resolved by the model resolver
 * @param modelName the name clients ask for ({@code model} in the OpenAI API) and that load reports
 *     carry; by default the file name without {@code .gguf}, e.g. {@code stories260K}
 * @param device {@code auto} (CUDA devices when a driver and a device exist, else CPU slots),
 *     {@code cpu} or {@code cuda} (CUDA or fail at start-up); see {@link DeviceDiscovery}
 * @param cudaDevices CUDA device indices to serve, in order and without repeats; empty: all found
 * @param cpuSlots worker entities on a node without GPUs
 * @param threads compute threads per CPU slot (0: the processors divided among the slots)
 * @param backend {@code cpu} (Vector API) or {@code scalar} (reference) for CPU slots
 * @param engine continuous-batching limits of each device
 * @param maxQueuedTokens prompt tokens a worker admits ahead of prefill before refusing
 * @param loadReportInterval how often each worker publishes its {@code LoadReport}
 * @param stashCapacity requests held while the model loads
 * @param pipeline the streamed pipeline's bounds
 * @param warmUp longest throwaway generation after loading, before ready ({@link
 *     dev.sluice.engine.Warmup}); zero skips it
 */
public record WorkerSettings(
    String model,
    String modelName,
    String device,
    List<Integer> cudaDevices,
    int cpuSlots,
    int threads,
    String backend,
    DeviceModel.EngineOptions engine,
    long maxQueuedTokens,
    Duration loadReportInterval,
    int stashCapacity,
    PipelineSettings pipeline,
    Duration warmUp) {

  /** Keys of the device choice, named in start-up errors. */
  public static final String DEVICE_KEY = "sluice.worker.device";

  public static final String CUDA_DEVICES_KEY = "sluice.worker.cuda-devices";

  public WorkerSettings {
    cudaDevices = List.copyOf(cudaDevices);
  }

  /** Reads and validates {@code sluice.worker} and {@code sluice.pipeline} from {@code c}. */
  public static WorkerSettings fromConfig(Config c) {
    String model = Settings.string(c, "sluice.worker.model");
    if (model.isEmpty()) {
      throw new SettingsException(
          "sluice.worker.model", "a model is required (a .gguf path or hf://OWNER/REPO/PATH)");
    }
    String backend = Settings.string(c, "sluice.worker.backend").toLowerCase(Locale.ROOT);
    if (!backend.equals("cpu") && !backend.equals("scalar")) {
      throw new SettingsException(
          "sluice.worker.backend", "must be cpu or scalar, got '" + backend + "'");
    }
    String device = Settings.string(c, DEVICE_KEY).strip().toLowerCase(Locale.ROOT);
    if (!device.equals("auto") && !device.equals("cpu") && !device.equals("cuda")) {
      throw new SettingsException(
          DEVICE_KEY, "must be auto, cpu or cuda, got '" + Settings.string(c, DEVICE_KEY) + "'");
    }
    List<Integer> cudaDevices = cudaDevices(c);
    int maxSeqs = Settings.integer(c, "sluice.worker.max-seqs", 1, 4096);
    int budget = Settings.integer(c, "sluice.worker.step-token-budget", 1, 1 << 20);
    if (budget < maxSeqs) {
      throw new SettingsException(
          "sluice.worker.step-token-budget",
          budget + " must be >= sluice.worker.max-seqs (" + maxSeqs + ")");
    }
    int blockSize = Settings.integer(c, "sluice.worker.kv-block-size", 1, 1024);
    if (Integer.bitCount(blockSize) != 1) {
      throw new SettingsException(
          "sluice.worker.kv-block-size", "must be a power of two, got " + blockSize);
    }
    int maxSeqLen = Settings.integer(c, "sluice.worker.max-seq-len", 0, 1 << 24);
    if (maxSeqLen == 1) {
      throw new SettingsException("sluice.worker.max-seq-len", "must be 0 (model context) or >= 2");
    }
    DeviceModel.EngineOptions engine =
        new DeviceModel.EngineOptions(
            maxSeqs,
            budget,
            Settings.integer(c, "sluice.worker.prefill-chunk", 1, 1 << 20),
            maxSeqLen,
            blockSize,
            Settings.integer(c, "sluice.worker.kv-blocks", 0, 1 << 24));
    PipelineSettings pipeline =
        new PipelineSettings(
            Settings.integer(c, "sluice.pipeline.submit-buffer", 1, 1_000_000),
            Settings.integer(c, "sluice.pipeline.prefetch-parallelism", 1, 1024),
            Settings.integer(c, "sluice.pipeline.prefetch-depth", 1, 1_000_000),
            Settings.integer(c, "sluice.pipeline.compute-window", 1, 1_000_000),
            Settings.integer(c, "sluice.pipeline.output-buffer", 4, 1_000_000),
            Settings.integer(c, "sluice.pipeline.max-chunk-tokens", 1, 1_000_000));
    long maxQueued;
    try {
      maxQueued = c.getLong("sluice.worker.max-queued-tokens");
    } catch (com.typesafe.config.ConfigException e) {
      throw new SettingsException("sluice.worker.max-queued-tokens", e.getMessage(), e);
    }
    if (maxQueued < 1) {
      throw new SettingsException(
          "sluice.worker.max-queued-tokens", "must be >= 1, got " + maxQueued);
    }
    String name = Settings.string(c, "sluice.worker.model-name");
    if (name.isEmpty()) {
      name = defaultName(model);
    }
    return new WorkerSettings(
        model,
        name,
        device,
        cudaDevices,
        Settings.integer(c, "sluice.worker.cpu-slots", 0, 1024),
        Settings.integer(c, "sluice.worker.threads", 0, 4096),
        backend,
        engine,
        maxQueued,
        Settings.duration(
            c, "sluice.worker.load-report-interval", Duration.ofMillis(100), Duration.ofMinutes(1)),
        Settings.integer(c, "sluice.worker.stash-capacity", 1, 1_000_000),
        pipeline,
        Settings.duration(c, "sluice.worker.warm-up", Duration.ZERO, Duration.ofMinutes(10)));
  }

  private static List<Integer> cudaDevices(Config c) {
    List<Integer> out = new ArrayList<>();
    for (String s : Settings.stringList(c, CUDA_DEVICES_KEY)) {
      int i;
      try {
        i = Integer.parseInt(s);
      } catch (NumberFormatException e) {
        throw new SettingsException(
            CUDA_DEVICES_KEY, "device indices must be integers >= 0, got '" + s + "'");
      }
      if (i < 0) {
        throw new SettingsException(
            CUDA_DEVICES_KEY, "device indices must be integers >= 0, got " + i);
      }
      if (out.contains(i)) {
        throw new SettingsException(CUDA_DEVICES_KEY, "device index " + i + " is listed twice");
      }
      out.add(i);
    }
    return out;
  }

  /** {@code hf://o/r/dir/name.gguf#sha256=...} or {@code /a/name.gguf} -> {@code name}. */
  static String defaultName(String model) {
    String m = model;
    int hash = m.indexOf('#');
    if (hash >= 0) {
      m = m.substring(0, hash);
    }
    m = m.substring(m.lastIndexOf('/') + 1);
    return m.endsWith(".gguf") ? m.substring(0, m.length() - ".gguf".length()) : m;
  }

  /** Compute threads of one CPU slot. */
  public int threadsPerSlot() {
    if (threads > 0) {
      return threads;
    }
    return Math.max(1, Runtime.getRuntime().availableProcessors() / Math.max(1, cpuSlots));
  }
}
