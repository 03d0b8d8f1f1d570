package dev.sluice.engine;

import dev.sluice.engine.model.ModelWeights;

/**
 * A compute device that runs models: the scalar reference, the fast CPU backend, or a CUDA GPU.
 * Device-neutral: callers see only {@link ModelRunner}s. A backend owns its device resources and is
 * used from one thread (the device's owner thread).
 */
public interface Backend extends AutoCloseable {

  /** Short name for logs and metrics, e.g. {@code cpu-scalar}, {@code cpu}, {@code cuda:0}. */
  String name();

  /**
   * Uploads the weights once (the CPU backends read the mapped file in place) and allocates the
   * KV-cache block storage.
   *
   * @throws IllegalArgumentException when the model uses a tensor type or shape this backend cannot
   *     run, naming the tensor
   */
  ModelRunner load(ModelWeights weights, KvCacheSpec kvCache);

  @Override
  void close();
}
