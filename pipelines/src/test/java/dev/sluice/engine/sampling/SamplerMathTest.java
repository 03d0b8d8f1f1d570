package dev.sluice.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The vocabulary-wide loops against straightforward references, including odd lengths and NaN; the
 * Vector API exp-and-sum against its scalar reference.
 */
class SamplerMathTest {

  @Test
  void loopsMatchTheirReferences() {
    Random r = new Random(3);
    for (int n : new int[] {1, 7, 8, 15, 16, 33, 1000, 4099}) {
      float[] src = new float[n + 5];
      for (int i = 0; i < src.length; i++) {
        src[i] = (float) (r.nextGaussian() * 4);
      }
      if (n > 10) {
        src[5 + 3] = Float.NaN;
        src[5 + 9] = Float.NEGATIVE_INFINITY;
      }
      float[] a = new float[n];
      float ma = SamplerMath.scaleAndMax(src, 5, a, n, 1.3f);
      float mb = Float.NEGATIVE_INFINITY;
      int best = -1;
      for (int i = 0; i < n; i++) {
        float v = src[5 + i];
        assertThat(a[i]).isEqualTo(Float.isNaN(v) ? Float.NEGATIVE_INFINITY : v * 1.3f);
        mb = Math.max(mb, a[i]);
        if (!Float.isNaN(v) && (best < 0 || v > src[5 + best])) {
          best = i;
        }
      }
      assertThat(ma).isEqualTo(mb);
      float[] ea = a.clone();
      float[] eb = a.clone();
      double sa = SamplerMath.expAndSum(ea, n, ma);
      double sb = SamplerMath.expAndSumScalar(eb, n, mb);
      assertThat(sa).isCloseTo(sb, within(1e-5 * sb));
      double worst = 0;
      for (int i = 0; i < n; i++) {
        worst = Math.max(worst, Math.abs(ea[i] - eb[i]) / Math.max(eb[i], 1e-30));
      }
      assertThat(worst).as("largest relative exp error").isLessThan(2e-6);
      assertThat(SamplerMath.argmax(src, 5, n)).isEqualTo(best);
    }
  }

  @Test
  void argmaxTakesTheLowestIdOnTiesAndSkipsNaN() {
    float[] a = {Float.NaN, 1f, 3f, 3f, 2f, 3f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 3f};
    assertThat(SamplerMath.argmax(a, 0, a.length)).isEqualTo(2);
    float[] masked = {Float.NaN, Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY};
    assertThat(SamplerMath.argmax(masked, 0, masked.length)).isEqualTo(1);
    assertThat(SamplerMath.argmax(new float[] {Float.NaN, Float.NaN}, 0, 2)).isZero();
  }
}
