package dev.sluice.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The vectorized activation quantizers produce exactly ggml's integers and scales. */
class Q8ActivationsTest {

  private float[] x;

  @BeforeEach
  void input() {
    assumeTrue(MatMul.vectorized(), "the quantizers run on the Vector API");
    x = QuantTestData.gaussian(3 * 512, 77);
    // Exact ties for the rounding (x * 127 / amax = k + 0.5) and an all-zero block.
    for (int j = 1; j < 32; j++) {
      x[32 + j] = (j + 0.5f) / 127f * 4f;
    }
    x[32] = 4f;
    java.util.Arrays.fill(x, 256, 512, 0f);
  }

  @Test
  void q80MatchesGgmlQuantizeRowQ80() {
    Q8Activations a = new Q8Activations();
    a.quantizeQ80(x, 3, 512, true);
    for (int b = 0; b < x.length / 32; b++) {
      float amax = 0;
      for (int j = 0; j < 32; j++) {
        amax = Math.max(amax, Math.abs(x[32 * b + j]));
      }
      float id = amax != 0 ? 127f / amax : 0f;
      float d = Float.float16ToFloat(Float.floatToFloat16(amax / 127f));
      assertThat(a.d[b]).as("scale of block %d", b).isEqualTo(d);
      for (int j = 0; j < 32; j++) {
        int i = 32 * b + j;
        float want = (float) Math.rint(x[i] * id);
        assertThat(a.q[i]).as("q[%d]", i).isEqualTo(want);
        assertThat(a.qs[i]).isEqualTo((short) want);
        assertThat(a.deq[i]).isEqualTo(want * d);
      }
    }
  }

  @Test
  void q8KMatchesGgmlQuantizeRowQ8KRef() {
    Q8Activations a = new Q8Activations();
    a.quantizeQ8K(x, 3, 512, true);
    for (int b = 0; b < x.length / 256; b++) {
      float amax = 0;
      float max = 0;
      for (int j = 0; j < 256; j++) {
        if (Math.abs(x[256 * b + j]) > amax) {
          amax = Math.abs(x[256 * b + j]);
          max = x[256 * b + j];
        }
      }
      float iscale = amax == 0 ? 0 : -127f / max;
      assertThat(a.d[b]).isEqualTo(amax == 0 ? 0f : 1f / iscale);
      for (int s = 0; s < 8; s++) {
        int sum = 0;
        for (int j = 0; j < 32; j++) {
          int i = 256 * b + 32 * s + j;
          int want = amax == 0 ? 0 : Math.min(127, (int) Math.rint(iscale * x[i]));
          assertThat(a.q[i]).as("q[%d]", i).isEqualTo((float) want);
          sum += want;
        }
        assertThat(a.sum32[8 * b + s]).isEqualTo((float) sum);
      }
    }
  }
}
