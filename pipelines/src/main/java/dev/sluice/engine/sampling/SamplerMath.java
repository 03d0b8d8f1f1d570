package dev.sluice.engine.sampling;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vocabulary-wide loops of sampling (max, scale, exp-and-sum), on the Vector API, with scalar
 * reference versions that the tests compare against. NaN logits are read as negative infinity.
 */
final class SamplerMath {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final FloatVector NEG_INF = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);

  private SamplerMath() {}

  /** dst[i] = src[off+i] * scale for i < n (NaN becomes -inf); returns the max of dst. */
  static float scaleAndMax(float[] src, int off, float[] dst, int n, float scale) {
    FloatVector vmax = NEG_INF;
    int i = 0;
    int bound = S.loopBound(n);
    for (; i < bound; i += S.length()) {
      FloatVector v = FloatVector.fromArray(S, src, off + i).mul(scale);
      VectorMask<Float> nan = v.test(VectorOperators.IS_NAN);
      v = v.blend(NEG_INF, nan);
      v.intoArray(dst, i);
      vmax = vmax.max(v);
    }
    float max = vmax.reduceLanes(VectorOperators.MAX);
    for (; i < n; i++) {
      float v = src[off + i] * scale;
      v = v != v ? Float.NEGATIVE_INFINITY : v;
      dst[i] = v;
      max = Math.max(max, v);
    }
    return max;
  }

  static float scaleAndMaxScalar(float[] src, int off, float[] dst, int n, float scale) {
    float max = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      float v = src[off + i] * scale;
      v = v != v ? Float.NEGATIVE_INFINITY : v;
      dst[i] = v;
      max = Math.max(max, v);
    }
    return max;
  }

  /** a[i] = exp(a[i] - max) for i < n; returns the sum. */
  static double expAndSum(float[] a, int n, float max) {
    FloatVector vsum = FloatVector.zero(S);
    int i = 0;
    int bound = S.loopBound(n);
    for (; i < bound; i += S.length()) {
      FloatVector e = FloatVector.fromArray(S, a, i).sub(max).lanewise(VectorOperators.EXP);
      e.intoArray(a, i);
      vsum = vsum.add(e);
    }
    double sum = vsum.reduceLanes(VectorOperators.ADD);
    for (; i < n; i++) {
      float e = (float) Math.exp(a[i] - max);
      a[i] = e;
      sum += e;
    }
    return sum;
  }

  static double expAndSumScalar(float[] a, int n, float max) {
    double sum = 0;
    for (int i = 0; i < n; i++) {
      float e = (float) Math.exp(a[i] - max);
      a[i] = e;
      sum += e;
    }
    return sum;
  }

  /** The index of the largest of a[off .. off+n), the lowest on ties; NaN never wins. */
  static int argmax(float[] a, int off, int n) {
    FloatVector vmax = NEG_INF;
    int i = 0;
    int bound = S.loopBound(n);
    for (; i < bound; i += S.length()) {
      FloatVector v = FloatVector.fromArray(S, a, off + i);
      v = v.blend(NEG_INF, v.test(VectorOperators.IS_NAN));
      vmax = vmax.max(v);
    }
    float max = vmax.reduceLanes(VectorOperators.MAX);
    for (; i < n; i++) {
      float v = a[off + i];
      if (v == v) {
        max = Math.max(max, v);
      }
    }
    for (int j = 0; j < n; j++) {
      if (a[off + j] == max) {
        return j;
      }
    }
    return 0; // all NaN
  }

  static int argmaxScalar(float[] a, int off, int n) {
    int best = 0;
    float bv = Float.NEGATIVE_INFINITY;
    boolean any = false;
    for (int i = 0; i < n; i++) {
      float v = a[off + i];
      if (v > bv || (!any && v == bv)) {
        bv = v;
        best = i;
        any = true;
      }
    }
    return best;
  }
}
