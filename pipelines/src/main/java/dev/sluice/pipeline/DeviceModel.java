package dev.sluice.pipeline;

import dev.sluice.engine.Backend;
import dev.sluice.engine.BatchEngine;
import dev.sluice.engine.KvBlockPool;
import dev.sluice.engine.KvCacheSpec;
import dev.sluice.engine.ModelRunner;
import dev.sluice.engine.chat.ChatTemplate;
import dev.sluice.engine.chat.ChatTemplateException;
import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.model.ModelLoader;
import dev.sluice.engine.model.ModelWeights;
import dev.sluice.engine.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A model loaded on one device: its tokenizer, its chat template (or none), and the {@link
 * BatchEngine} over the device's runner and KV cache. Created and used on the device's owner thread
 * (see {@link DeviceLoop}); {@link #close} releases the runner, the backend and the mapped file.
 */
public final class DeviceModel implements AutoCloseable {

  /**
   * Engine limits of one device.
   *
   * @param maxSeqs sequences decoding at once
   * @param stepTokenBudget most tokens of one forward pass
   * @param prefillChunk most prompt tokens one sequence prefills per step
   * @param maxSeqLen most positions per sequence; 0 = the model's context length
   * @param kvBlockSize positions per KV block (a power of two)
   * @param kvBlocks KV blocks of the device; 0 = enough for {@code maxSeqs} full sequences
   */
  public record EngineOptions(
      int maxSeqs,
      int stepTokenBudget,
      int prefillChunk,
      int maxSeqLen,
      int kvBlockSize,
      int kvBlocks) {}

  private final String name;
  private final Tokenizer tokenizer;
  private final ChatTemplate template;
  private final BatchEngine engine;
  private final String backendName;
  private final AutoCloseable[] resources;

  public DeviceModel(
      String name,
      Tokenizer tokenizer,
      ChatTemplate template,
      BatchEngine engine,
      String backendName,
      AutoCloseable... resources) {
    this.name = name;
    this.tokenizer = tokenizer;
    this.template = template;
    this.engine = engine;
    this.backendName = backendName;
    this.resources = resources;
  }

  /**
   * Maps a GGUF file, loads its weights onto {@code backend} and builds the engine. The backend is
   * closed with the model (also when loading fails).
   */
  public static DeviceModel load(String name, Path file, Backend backend, EngineOptions o)
      throws IOException {
    GgufFile gguf = null;
    ModelRunner runner = null;
    try {
      gguf = GgufFile.open(file);
      ModelWeights weights = ModelLoader.load(gguf);
      Tokenizer tokenizer = Tokenizer.fromGguf(gguf);
      ChatTemplate template;
      try {
        template =
            gguf.getString("tokenizer.chat_template", null) == null
                ? null
                : ChatTemplate.fromGguf(gguf, tokenizer);
      } catch (ChatTemplateException e) {
        template = null; // chat requests fall back to plain text (see Prefetch)
      }
      int ctx = weights.config().contextLength();
      int maxSeqLen = o.maxSeqLen() == 0 ? ctx : Math.min(o.maxSeqLen(), ctx);
      int perSeq = (maxSeqLen + o.kvBlockSize() - 1) / o.kvBlockSize();
      int blocks = o.kvBlocks() == 0 ? perSeq * o.maxSeqs() : Math.max(o.kvBlocks(), perSeq);
      KvCacheSpec kv = new KvCacheSpec(blocks, o.kvBlockSize());
      runner = backend.load(weights, kv);
      BatchEngine engine =
          new BatchEngine(
              runner,
              new KvBlockPool(kv),
              new BatchEngine.Settings(
                  o.maxSeqs(),
                  Math.max(o.stepTokenBudget(), o.maxSeqs()),
                  o.prefillChunk(),
                  maxSeqLen));
      return new DeviceModel(
          name, tokenizer, template, engine, backend.name(), runner, backend, gguf);
    } catch (IOException | RuntimeException | Error e) {
      closeQuietly(runner);
      closeQuietly(backend);
      closeQuietly(gguf);
      throw e;
    }
  }

  public String name() {
    return name;
  }

  public Tokenizer tokenizer() {
    return tokenizer;
  }

  /** The chat template, or null when the model has none (or an unsupported one). */
  public ChatTemplate template() {
    return template;
  }

  public BatchEngine engine() {
    return engine;
  }

  public String backendName() {
    return backendName;
  }

  @Override
  public void close() {
    for (AutoCloseable r : resources) {
      closeQuietly(r);
    }
  }

  private static void closeQuietly(AutoCloseable c) {
    if (c == null) {
      return;
    }
    try {
      c.close();
    } catch (Exception ignored) {
      // Shutting down: nothing else to do with a failing close.
    }
  }
}
