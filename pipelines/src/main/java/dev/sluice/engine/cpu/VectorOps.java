package dev.sluice.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The element-wise kernels of the fast CPU backend (Vector API), each with a scalar twin used by
 * the differential tests. All work on slices of heap arrays and allocate nothing.
 */
final class VectorOps {
  static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

  private VectorOps() {}

  /**
   * Sum of the lanes in a fixed order: {@code reduceLanes(ADD)} leaves the order open and it
   * differs between the interpreter and C2, which would make results depend on JIT warm-up.
   */
  static float sum(FloatVector v) {
    if (MatMul.VECTOR_OK) {
      return MatMul.sum(v);
    }
    float s = 0;
    for (int i = 0; i < v.length(); i++) {
      s += v.lane(i);
    }
    return s;
  }

  /** {@code sum(a[ao+i] * b[bo+i])} for i in [0, n). */
  static float dot(float[] a, int ao, float[] b, int bo, int n) {
    int i = 0;
    float sum = 0;
    if (n >= S.length()) {
      FloatVector acc = FloatVector.zero(S);
      for (int bound = S.loopBound(n); i < bound; i += S.length()) {
        acc = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), acc);
      }
      sum = sum(acc);
    }
    for (; i < n; i++) {
      sum += a[ao + i] * b[bo + i];
    }
    return sum;
  }

  /** {@code y[yo+i] += alpha * x[xo+i]} for i in [0, n). */
  static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
    int i = 0;
    if (n >= S.length()) {
      FloatVector va = FloatVector.broadcast(S, alpha);
      for (int bound = S.loopBound(n); i < bound; i += S.length()) {
        FloatVector.fromArray(S, x, xo + i)
            .fma(va, FloatVector.fromArray(S, y, yo + i))
            .intoArray(y, yo + i);
      }
    }
    for (; i < n; i++) {
      y[yo + i] += alpha * x[xo + i];
    }
  }

  /** {@code y[i] += x[i]} for i in [0, n). */
  static void add(float[] x, float[] y, int n) {
    int i = 0;
    for (int bound = S.loopBound(n); i < bound; i += S.length()) {
      FloatVector.fromArray(S, x, i).add(FloatVector.fromArray(S, y, i)).intoArray(y, i);
    }
    for (; i < n; i++) {
      y[i] += x[i];
    }
  }

  /** RMSNorm of one row: {@code out = in * weight / sqrt(mean(in^2) + eps)}. */
  static void rmsnorm(float[] in, int io, float[] weight, float[] out, int oo, int n, float eps) {
    int i = 0;
    FloatVector acc = FloatVector.zero(S);
    for (int bound = S.loopBound(n); i < bound; i += S.length()) {
      FloatVector v = FloatVector.fromArray(S, in, io + i);
      acc = v.fma(v, acc);
    }
    double ss = sum(acc);
    for (; i < n; i++) {
      ss += (double) in[io + i] * in[io + i];
    }
    float scale = (float) (1.0 / Math.sqrt(ss / n + eps));
    i = 0;
    for (int bound = S.loopBound(n); i < bound; i += S.length()) {
      FloatVector.fromArray(S, in, io + i)
          .mul(scale)
          .mul(FloatVector.fromArray(S, weight, i))
          .intoArray(out, oo + i);
    }
    for (; i < n; i++) {
      out[oo + i] = in[io + i] * scale * weight[i];
    }
  }

  static void rmsnormScalar(
      float[] in, int io, float[] weight, float[] out, int oo, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) {
      ss += (double) in[io + i] * in[io + i];
    }
    float scale = (float) (1.0 / Math.sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) {
      out[oo + i] = in[io + i] * scale * weight[i];
    }
  }

  /** In-place softmax of {@code x[0..n)}. */
  static void softmax(float[] x, int n) {
    int i = 0;
    float max = Float.NEGATIVE_INFINITY;
    if (n >= S.length()) {
      FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
      for (int bound = S.loopBound(n); i < bound; i += S.length()) {
        vmax = vmax.max(FloatVector.fromArray(S, x, i));
      }
      max = vmax.reduceLanes(VectorOperators.MAX);
    }
    for (; i < n; i++) {
      max = Math.max(max, x[i]);
    }
    i = 0;
    float sum = 0;
    if (n >= S.length()) {
      FloatVector vsum = FloatVector.zero(S);
      for (int bound = S.loopBound(n); i < bound; i += S.length()) {
        FloatVector e = FloatVector.fromArray(S, x, i).sub(max).lanewise(VectorOperators.EXP);
        e.intoArray(x, i);
        vsum = vsum.add(e);
      }
      sum = sum(vsum);
    }
    for (; i < n; i++) {
      x[i] = (float) Math.exp(x[i] - max);
      sum += x[i];
    }
    float inv = 1f / sum;
    i = 0;
    for (int bound = S.loopBound(n); i < bound; i += S.length()) {
      FloatVector.fromArray(S, x, i).mul(inv).intoArray(x, i);
    }
    for (; i < n; i++) {
      x[i] *= inv;
    }
  }

  static void softmaxScalar(float[] x, int n) {
    float max = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      max = Math.max(max, x[i]);
    }
    float sum = 0;
    for (int i = 0; i < n; i++) {
      x[i] = (float) Math.exp(x[i] - max);
      sum += x[i];
    }
    for (int i = 0; i < n; i++) {
      x[i] /= sum;
    }
  }

  /** SwiGLU in place: {@code gate[i] = silu(gate[i]) * up[i]}. */
  static void swiglu(float[] gate, float[] up, int n) {
    int i = 0;
    for (int bound = S.loopBound(n); i < bound; i += S.length()) {
      FloatVector g = FloatVector.fromArray(S, gate, i);
      FloatVector sig = g.neg().lanewise(VectorOperators.EXP).add(1f);
      g.div(sig).mul(FloatVector.fromArray(S, up, i)).intoArray(gate, i);
    }
    for (; i < n; i++) {
      float g = gate[i];
      gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
    }
  }

  static void swigluScalar(float[] gate, float[] up, int n) {
    for (int i = 0; i < n; i++) {
      float g = gate[i];
      gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
    }
  }
}
