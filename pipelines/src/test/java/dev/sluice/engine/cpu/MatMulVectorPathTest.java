package dev.sluice.engine.cpu;

import dev.sluice.engine.gguf.GgufTensor;

/**
 * Every {@link MatMulTest} on the Vector API kernels, which {@link MatMul#fast} bypasses for
 * quantized weights where the native kernels are available: they stay the fallback on machines
 * without AVX-512 VNNI or without the library, so they keep their own coverage.
 */
class MatMulVectorPathTest extends MatMulTest {

  @Override
  void fast(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
    MatMul.vectorFast(w, x, T, out, r0, r1);
  }

  @Override
  boolean quantizesActivations() {
    return MatMul.vectorized();
  }
}
