package dev.sluice.engine.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.util.List;

/** Shared checks of the GPU tests: CUDA present (else a clear failure), float arrays close. */
final class GpuAssert {
  private GpuAssert() {}

  /** Fails (not skips: these tests run only when a GPU run was asked for) when CUDA is absent. */
  static void requireCuda() {
    List<CudaDevice> devices = CudaDevices.discover();
    assertThat(devices)
        .as("CUDA devices; reason: %s", CudaDevices.unavailableReason())
        .isNotEmpty();
  }

  /** |actual - expected| <= atol + rtol * |expected| everywhere; reports the worst index. */
  static void assertClose(String what, float[] actual, float[] expected, double atol, double rtol) {
    assertThat(actual.length).as(what + " length").isGreaterThanOrEqualTo(expected.length);
    int worst = -1;
    double worstExcess = 0;
    for (int i = 0; i < expected.length; i++) {
      double err = Math.abs((double) actual[i] - expected[i]);
      double excess = err - (atol + rtol * Math.abs(expected[i]));
      if (Double.isNaN(actual[i]) || excess > worstExcess) {
        worstExcess = Double.isNaN(actual[i]) ? Double.POSITIVE_INFINITY : excess;
        worst = i;
      }
    }
    if (worst >= 0) {
      fail(
          "%s: index %d is %s, expected %s (atol %s, rtol %s)",
          what, worst, actual[worst], expected[worst], atol, rtol);
    }
  }

  static double maxAbs(float[] v) {
    double m = 0;
    for (float x : v) {
      m = Math.max(m, Math.abs(x));
    }
    return m;
  }
}
