package dev.sluice.engine;

import dev.sluice.engine.cpu.CpuBackend;
import dev.sluice.engine.cpu.ScalarBackend;
import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.model.ModelLoader;
import dev.sluice.engine.model.ModelWeights;
import java.util.ArrayList;
import java.util.List;

/**
 * Sluice's engine as the parity tests drive it: {@code ModelLoader.load(GgufFile)} and both CPU
 * backends (the scalar reference and the fast one), each as a one-sequence greedy driver.
 */
final class SluiceEngines {
  private SluiceEngines() {}

  /** A one-sequence greedy driver: prefill a prompt, then one token per step. */
  interface Engine extends AutoCloseable {
    String name();

    /** Runs the prompt from position 0 and returns the logits after its last token. */
    float[] prefill(int[] prompt);

    /** Runs {@code token} at {@code pos} and returns its logits. */
    float[] decode(int token, int pos);

    @Override
    void close();
  }

  /** The scalar and the fast CPU backend, as engines over {@code file}. */
  static List<Engine> open(GgufFile file, int threads, int ctx) {
    ModelWeights weights = ModelLoader.load(file);
    List<Engine> engines = new ArrayList<>();
    engines.add(new RunnerEngine(new ScalarBackend(), weights, ctx));
    engines.add(new RunnerEngine(new CpuBackend(threads), weights, ctx));
    return engines;
  }

  /** Drives a {@link ModelRunner} through {@link StepBatch} with one sequence. */
  private static final class RunnerEngine implements Engine {
    private static final int BLOCK = 16;
    private final Backend backend;
    private final ModelRunner runner;
    private final StepBatch batch;
    private final int[] blocks;
    private final float[] logits;

    RunnerEngine(Backend backend, ModelWeights weights, int ctx) {
      this.backend = backend;
      int nBlocks = (ctx + BLOCK - 1) / BLOCK;
      this.runner = backend.load(weights, new KvCacheSpec(nBlocks, BLOCK));
      this.batch = new StepBatch(1, ctx, nBlocks);
      this.blocks = new int[nBlocks];
      for (int i = 0; i < nBlocks; i++) {
        blocks[i] = i;
      }
      this.logits = new float[weights.config().vocabSize()];
    }

    @Override
    public String name() {
      return backend.name();
    }

    @Override
    public float[] prefill(int[] prompt) {
      batch.clear();
      batch.add(prompt, 0, prompt.length, 0, blocks, blocks.length);
      runner.forward(batch, logits);
      return logits.clone();
    }

    @Override
    public float[] decode(int token, int pos) {
      batch.clear();
      batch.add(new int[] {token}, 0, 1, pos, blocks, blocks.length);
      runner.forward(batch, logits);
      return logits.clone();
    }

    @Override
    public void close() {
      runner.close();
      backend.close();
    }
  }

  /** The test-only reference forward pass as an engine. */
  static Engine reference(GgufFile file, int ctx) {
    ReferenceForward ref = new ReferenceForward(file, ctx);
    return new Engine() {
      @Override
      public String name() {
        return "reference";
      }

      @Override
      public float[] prefill(int[] prompt) {
        float[] l = null;
        for (int i = 0; i < prompt.length; i++) {
          l = ref.step(prompt[i], i);
        }
        return l;
      }

      @Override
      public float[] decode(int token, int pos) {
        return ref.step(token, pos);
      }

      @Override
      public void close() {}
    };
  }
}
