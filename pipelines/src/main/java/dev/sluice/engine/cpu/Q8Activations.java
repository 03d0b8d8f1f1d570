package dev.sluice.engine.cpu;

/**
 * Activations quantized to 8-bit blocks the way llama.cpp does before a quantized dot product:
 * {@code block_q8_0} (32 values, f16 scale) for Q8_0/Q4_0 weights and {@code block_q8_K} (256
 * values, f32 scale, sums per 16) for the k-quants.
 *
 * <p>The quantized integers are kept as {@code float} lanes: a product of a weight integer (|q| <=
 * 128) and an activation integer (|q| <= 127) summed over one block stays below 2^24, so the float
 * arithmetic of the kernels reproduces ggml's integer block sums exactly while using the fast float
 * FMA units (see docs/kernels.md for the measurement behind this choice).
 *
 * <p>One instance is scratch owned by one thread (held in a {@link ThreadLocal}); its arrays only
 * grow, so steady-state calls allocate nothing.
 */
final class Q8Activations {

  /** (T, cols): the quantized integers of each activation row, as floats. */
  float[] q = new float[0];

  /** (T, cols / blockSize): the scale of each block (Q8_0: f16-rounded; Q8_K: f32). */
  float[] d = new float[0];

  /** (T, cols / 32): Q8_K only, the sum of the integers of each 32-wide sub-block. */
  float[] sum32 = new float[0];

  private void ensure(int t, int cols, int blockSize) {
    int n = t * cols;
    if (q.length < n) {
      q = new float[n];
    }
    if (d.length < n / blockSize) {
      d = new float[n / blockSize];
    }
    if (sum32.length < n / 32) {
      sum32 = new float[n / 32];
    }
  }

  /**
   * Quantizes {@code t} rows of {@code cols} values to Q8_0 as ggml-cpu's x86 {@code
   * quantize_row_q8_0} does: {@code d = amax / 127} stored as f16, {@code q = rint(x * (127 /
   * amax))}.
   */
  void quantizeQ80(float[] x, int t, int cols) {
    ensure(t, cols, 32);
    int blocks = t * cols / 32;
    for (int b = 0; b < blocks; b++) {
      int o = b * 32;
      float amax = 0f;
      for (int j = 0; j < 32; j++) {
        amax = Math.max(amax, Math.abs(x[o + j]));
      }
      float id = amax != 0f ? 127f / amax : 0f;
      for (int j = 0; j < 32; j++) {
        q[o + j] = (float) Math.rint(x[o + j] * id);
      }
      d[b] = Float.float16ToFloat(Float.floatToFloat16(amax / 127f));
    }
  }

  /**
   * Quantizes {@code t} rows of {@code cols} values to Q8_K as ggml's {@code quantize_row_q8_K_ref}
   * does: the scale comes from the signed value of largest magnitude ({@code iscale = -127 / max}),
   * {@code q = min(127, rint(iscale * x))}, {@code d = 1 / iscale}.
   */
  void quantizeQ8K(float[] x, int t, int cols) {
    ensure(t, cols, 256);
    int blocks = t * cols / 256;
    for (int b = 0; b < blocks; b++) {
      int o = b * 256;
      float amax = 0f;
      float max = 0f;
      for (int j = 0; j < 256; j++) {
        float ax = Math.abs(x[o + j]);
        if (ax > amax) {
          amax = ax;
          max = x[o + j];
        }
      }
      if (amax == 0f) {
        java.util.Arrays.fill(q, o, o + 256, 0f);
        java.util.Arrays.fill(sum32, b * 8, b * 8 + 8, 0f);
        d[b] = 0f;
        continue;
      }
      float iscale = -127f / max;
      for (int s = 0; s < 8; s++) {
        int sum = 0;
        for (int j = s * 32; j < s * 32 + 32; j++) {
          int v = Math.min(127, (int) Math.rint(iscale * x[o + j]));
          q[o + j] = v;
          sum += v;
        }
        sum32[b * 8 + s] = sum;
      }
      d[b] = 1f / iscale;
    }
  }
}
