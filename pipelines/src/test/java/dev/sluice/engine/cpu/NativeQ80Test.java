package dev.sluice.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The native Q8_0/Q4_0 kernels (q8_0.c) on the paths {@link NativeKernelsTest} does not reach with
 * its 896-column rows: wide rows, where a batch of 2 does not fit a padded token quad in the
 * scratch and its tokens take the single-token kernel instead (more than 15872 columns), and
 * batches whose last quad is padded or left to that kernel. Each result must agree with a float64
 * emulation of the quantized dot product and be bit-identical to the token computed alone.
 */
class NativeQ80Test {

  @ParameterizedTest(name = "{0} {1} cols T={2}")
  @CsvSource({
    "Q8_0, 16416, 2", // T = 2 beyond the padded-quad limit: two single-token passes
    "Q4_0, 16416, 2",
    "Q8_0, 16416, 3",
    "Q8_0, 4864, 2", // padded quad
    "Q4_0, 4864, 6", // one quad + a padded one
    "Q8_0, 4864, 13"
  })
  void wideRowsAndQuadTails(GgmlType type, int cols, int batch) {
    assumeTrue(NativeKernels.available(), NativeKernels.status());
    int rows = 7; // a tile of 6 rows and a tail of 1; single-token tiles of 4 + 3
    GgufTensor w = QuantTestData.random(type, rows, cols, 11 + cols + batch);
    float[] x = QuantTestData.gaussian(batch * cols, 3 + batch);
    float[] out = new float[batch * rows];
    Arrays.fill(out, Float.NaN);
    NativeKernels.matmul(w, x, batch, out, 0, rows);
    MatMulTest.assertFollowsLlamaCpp(w, x, batch, out);
    for (int t = 0; t < batch; t++) {
      float[] one = new float[rows];
      NativeKernels.matmul(w, Arrays.copyOfRange(x, t * cols, (t + 1) * cols), 1, one, 1, rows);
      for (int r = 1; r < rows; r++) {
        assertThat(Float.floatToRawIntBits(one[r]))
            .as("%s token %d of %d alone, row %d", type, t, batch, r)
            .isEqualTo(Float.floatToRawIntBits(out[t * rows + r]));
      }
    }
  }
}
