package dev.sluice.engine;

import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.model.ModelWeights;
import java.lang.reflect.InvocationTargetException;
import java.util.ArrayList;
import java.util.List;

/**
 * Sluice's engine as the parity tests drive it: {@code ModelLoader.load(GgufFile)} and the
 * backends, found by name so that these tests compile on branches where the engine is not merged
 * yet (they then run against the reference forward pass only and say so).
 */
final class SluiceEngines {
  private static final String LOADER = "dev.sluice.engine.model.ModelLoader";
  private static final String[] SCALAR = {
    "dev.sluice.engine.cpu.ScalarBackend", "dev.sluice.engine.ScalarBackend"
  };
  private static final String[] CPU = {"dev.sluice.engine.cpu.CpuBackend"};

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

  static boolean available() {
    return find(new String[] {LOADER}) != null && find(CPU) != null;
  }

  static String missingReason() {
    return "Sluice's engine is not on this branch yet ("
        + LOADER
        + " and "
        + CPU[0]
        + " not found): merge the engine and kernels branches";
  }

  /** The backends present on the classpath, as engines over {@code file}. */
  static List<Engine> open(GgufFile file, int threads, int ctx) {
    List<Engine> engines = new ArrayList<>();
    Class<?> loader = find(new String[] {LOADER});
    if (loader == null) {
      return engines;
    }
    ModelWeights weights;
    try {
      weights = (ModelWeights) loader.getMethod("load", GgufFile.class).invoke(null, file);
    } catch (InvocationTargetException e) {
      throw new AssertionError("ModelLoader.load failed on " + file.path(), e.getCause());
    } catch (ReflectiveOperationException e) {
      throw new AssertionError("ModelLoader.load(GgufFile) not callable", e);
    }
    Class<?> scalar = find(SCALAR);
    if (scalar != null) {
      engines.add(new RunnerEngine(newBackend(scalar), weights, ctx));
    }
    Class<?> cpu = find(CPU);
    if (cpu != null) {
      try {
        Backend b = (Backend) cpu.getConstructor(int.class).newInstance(threads);
        engines.add(new RunnerEngine(b, weights, ctx));
      } catch (ReflectiveOperationException e) {
        throw new AssertionError("CpuBackend(int threads) not callable", e);
      }
    }
    return engines;
  }

  private static Backend newBackend(Class<?> c) {
    try {
      return (Backend) c.getConstructor().newInstance();
    } catch (ReflectiveOperationException e) {
      throw new AssertionError(c.getName() + "() not callable", e);
    }
  }

  private static Class<?> find(String[] names) {
    for (String n : names) {
      try {
        return Class.forName(n);
      } catch (ClassNotFoundException e) {
        // try the next name
      }
    }
    return null;
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
