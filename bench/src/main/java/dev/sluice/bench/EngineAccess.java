package dev.sluice.bench;

import dev.sluice.engine.Backend;
import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.model.ModelWeights;
import java.lang.reflect.InvocationTargetException;

/**
 * Sluice's model loader and CPU backend, looked up by name: the benchmark builds on branches where
 * the engine is not merged yet and then reports its columns as missing instead of failing to
 * compile. Once merged, these are plain calls to {@code ModelLoader.load(GgufFile)} and {@code new
 * CpuBackend(threads)}.
 */
final class EngineAccess {
  static final String LOADER = "dev.sluice.engine.model.ModelLoader";
  static final String CPU = "dev.sluice.engine.cpu.CpuBackend";

  private EngineAccess() {}

  static boolean available() {
    try {
      Class.forName(LOADER);
      Class.forName(CPU);
      return true;
    } catch (ClassNotFoundException e) {
      return false;
    }
  }

  static String missingReason() {
    return LOADER + " / " + CPU + " are not on this branch (merge the engine and kernels branches)";
  }

  static ModelWeights load(GgufFile f) throws ReflectiveOperationException {
    try {
      return (ModelWeights) Class.forName(LOADER).getMethod("load", GgufFile.class).invoke(null, f);
    } catch (InvocationTargetException e) {
      throw unwrap(e);
    }
  }

  static Backend cpuBackend(int threads) throws ReflectiveOperationException {
    try {
      return (Backend) Class.forName(CPU).getConstructor(int.class).newInstance(threads);
    } catch (InvocationTargetException e) {
      throw unwrap(e);
    }
  }

  private static RuntimeException unwrap(InvocationTargetException e) {
    Throwable c = e.getCause();
    return c instanceof RuntimeException r ? r : new IllegalStateException(c);
  }
}
