package dev.sluice.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.data.Offset.offset;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The vectorized element-wise kernels against their scalar twins, on odd sizes too. */
class VectorOpsTest {
  private static final int[] SIZES = {1, 3, 7, 8, 15, 16, 17, 64, 172, 1000};
  private final Random rnd = new Random(42);

  private float[] random(int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = (float) rnd.nextGaussian() * 3;
    }
    return a;
  }

  @Test
  void rmsnormMatchesScalar() {
    for (int n : SIZES) {
      float[] in = random(n + 5);
      float[] wt = random(n);
      float[] a = new float[n + 2];
      float[] b = new float[n + 2];
      VectorOps.rmsnorm(in, 5, wt, a, 2, n, 1e-5f);
      VectorOps.rmsnormScalar(in, 5, wt, b, 2, n, 1e-5f);
      for (int i = 0; i < n + 2; i++) {
        assertThat(a[i])
            .as("n=%d i=%d", n, i)
            .isCloseTo(b[i], offset(1e-5f * (1 + Math.abs(b[i]))));
      }
    }
  }

  @Test
  void softmaxMatchesScalar() {
    for (int n : SIZES) {
      float[] a = random(n);
      float[] b = a.clone();
      VectorOps.softmax(a, n);
      VectorOps.softmaxScalar(b, n);
      for (int i = 0; i < n; i++) {
        assertThat(a[i]).as("n=%d i=%d", n, i).isCloseTo(b[i], offset(1e-6f));
      }
    }
  }

  @Test
  void dotAxpyAddSwigluMatchScalar() {
    for (int n : SIZES) {
      float[] x = random(n + 3);
      float[] y = random(n + 1);
      double dot = 0;
      for (int i = 0; i < n; i++) {
        dot += (double) x[3 + i] * y[1 + i];
      }
      assertThat((double) VectorOps.dot(x, 3, y, 1, n)).isCloseTo(dot, offset(1e-3 * n));

      float[] ya = y.clone();
      VectorOps.axpy(0.5f, x, 3, ya, 1, n);
      for (int i = 0; i < n; i++) {
        assertThat(ya[1 + i]).isCloseTo(y[1 + i] + 0.5f * x[3 + i], offset(1e-5f));
      }

      float[] g = random(n);
      float[] u = random(n);
      float[] g2 = g.clone();
      VectorOps.swiglu(g, u, n);
      VectorOps.swigluScalar(g2, u, n);
      for (int i = 0; i < n; i++) {
        assertThat(g[i]).isCloseTo(g2[i], offset(1e-5f * (1 + Math.abs(g2[i]))));
      }
    }
  }
}
