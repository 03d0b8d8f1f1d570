package dev.sluice.engine.sampling;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vocabulary-wide loops of sampling (max, scale, exp-and-sum). Exp-and-sum runs on the Vector
 * API (its EXP is intrinsified, ten times faster than {@code Math.exp}), with a scalar reference
 * that the tests compare against; the max loops are scalar (see {@link #scaleAndMax}). NaN logits
 * are read as negative infinity.
 */
final class SamplerMath {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

  private SamplerMath() {}

  /**
   * dst[i] = src[off+i] * scale for i < n (NaN becomes -inf); returns the max of dst.
   *
   * <p>Scalar on purpose, like {@link #argmax}: the Vector API form of this loop (a NaN mask from
   * {@code test(IS_NAN)}, {@code blend}, {@code max}) was not intrinsified by C2 on JDK 25 with
   * 512-bit vectors, neither in the server nor in a standalone loop: every iteration fell back to
   * the boxed Java implementation (192 KB of garbage per call on a 32k vocabulary, 25-70 us), where
   * this loop takes about 20 us and allocates nothing, whatever the JIT decides.
   */
  static float scaleAndMax(float[] src, int off, float[] dst, int n, float scale) {
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

  /**
   * The index of the largest of a[off .. off+n), the lowest on ties; NaN never wins (0 when all are
   * NaN). One scalar pass, once per greedy token: see {@link #scaleAndMax} for why not the Vector
   * API (measured in the server: 860 KB of boxed vectors per generated token, young collections
   * every few requests, and the old generation filling).
   */
  static int argmax(float[] a, int off, int n) {
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
