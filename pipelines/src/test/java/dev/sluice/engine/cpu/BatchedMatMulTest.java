package dev.sluice.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The batched ({@code T >= 2}) kernels of {@link BatchedMatMul}, called through {@code
 * VectorMatMul.run} with the tiled path forced (MatMul.fast sends small batches to the per-token
 * kernels instead, see {@link SmallBatchTest}): every weight type, odd row counts (a last row quad
 * that repeats rows), every remainder of the 4-token register tile, and unaligned row sub-ranges.
 * The oracle is exact: the dequantized weights times the activations as the kernels see them (for
 * quantized types, quantized to 8 bits and back like llama.cpp), summed in double, so a wrong
 * scale, row or token cannot hide inside the activation quantization error that {@link MatMulTest}
 * allows.
 */
class BatchedMatMulTest {

  private static final int[] BATCHES = {2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 16, 17};
  private static final int MAX_T = 17;

  @BeforeAll
  static void vectorsAvailable() {
    // Without the vector module MatMul.fast is the reference and this class tests nothing new.
    org.junit.jupiter.api.Assumptions.assumeTrue(
        MatMul.vectorized(), "jdk.incubator.vector with 256/512-bit vectors is needed");
  }

  /** The tiled path whatever T (MatMul.fast takes it only above VectorMatMul.perTokenMax). */
  private static void tiled(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
    MatMul.validate(w, x, T, out, r0, r1);
    VectorMatMul.run(w, x, T, out, r0, r1, false);
  }

  /** Columns per type: odd for unquantized (vector tails), a few blocks for the quantized. */
  private static int colsFor(GgmlType type) {
    return switch (type) {
      case F32, F16, BF16 -> 83;
      case Q8_0, Q4_0 -> 160;
      case Q4_K, Q6_K -> 768;
    };
  }

  /** The activations as the batched kernels multiply them (see {@link Q8Activations#deq}). */
  private static float[] asKernelSees(GgmlType type, float[] x, int t, int cols) {
    Q8Activations a = new Q8Activations();
    switch (type) {
      case Q8_0, Q4_0 -> a.quantizeQ80(x, t, cols, true);
      case Q4_K, Q6_K -> a.quantizeQ8K(x, t, cols, true);
      default -> {
        return x;
      }
    }
    return Arrays.copyOf(a.deq, t * cols);
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(GgmlType.class)
  void everyBatchSizeMatchesTheExactProduct(GgmlType type) {
    int rows = 13;
    int cols = colsFor(type);
    GgufTensor w = QuantTestData.random(type, rows, cols, 101 + type.id);
    float[] x = QuantTestData.gaussian(MAX_T * cols, 202);
    float[] xs = asKernelSees(type, x, MAX_T, cols);
    float[][] wRows = new float[rows][cols];
    for (int r = 0; r < rows; r++) {
      MatMul.dequantizeRow(w, r, wRows[r], 0);
    }
    for (int batch : BATCHES) {
      float[] out = new float[batch * rows];
      tiled(w, x, batch, out, 0, rows);
      for (int t = 0; t < batch; t++) {
        for (int r = 0; r < rows; r++) {
          double dot = 0;
          double abs = 0;
          for (int c = 0; c < cols; c++) {
            double p = (double) wRows[r][c] * xs[t * cols + c];
            dot += p;
            abs += Math.abs(p);
          }
          assertThat((double) out[t * rows + r])
              .as("%s T=%d token %d row %d", type, batch, t, r)
              .isCloseTo(dot, within(2e-6 * abs + 1e-6));
        }
      }
    }
  }

  /**
   * A token's result does not depend on the batch it rides in: the 4-, 3-, 2- and 1-token tiles sum
   * in the same order, so batched decode gives a sequence the same logits whatever joins it (above
   * VectorMatMul.perTokenMax; up to it, see {@link SmallBatchTest}).
   */
  @ParameterizedTest(name = "{0}")
  @EnumSource(GgmlType.class)
  void aTokensResultDoesNotDependOnTheBatch(GgmlType type) {
    int rows = 13;
    int cols = colsFor(type);
    GgufTensor w = QuantTestData.random(type, rows, cols, 7 + type.id);
    float[] x = QuantTestData.gaussian(MAX_T * cols, 8);
    float[] full = new float[MAX_T * rows];
    tiled(w, x, MAX_T, full, 0, rows);
    for (int batch : BATCHES) {
      float[] out = new float[batch * rows];
      tiled(w, x, batch, out, 0, rows);
      assertThat(out).as("%s T=%d", type, batch).containsExactly(Arrays.copyOf(full, out.length));
      if (batch > VectorMatMul.perTokenMax(type, cols)) { // what MatMul.fast runs at this T
        float[] viaFast = new float[batch * rows];
        MatMul.vectorFast(w, x, batch, viaFast, 0, rows);
        assertThat(viaFast).as("MatMul.fast %s T=%d", type, batch).containsExactly(out);
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(GgmlType.class)
  void unalignedRowRangesWriteOnlyTheirRows(GgmlType type) {
    int rows = 23;
    int cols = colsFor(type);
    int batch = 7;
    GgufTensor w = QuantTestData.random(type, rows, cols, 31);
    float[] x = QuantTestData.gaussian(batch * cols, 32);
    float[] all = new float[batch * rows];
    tiled(w, x, batch, all, 0, rows);
    int[][] ranges = {{3, 10}, {10, 11}, {11, 23}, {0, 5}};
    for (int[] range : ranges) {
      float[] part = new float[batch * rows];
      Arrays.fill(part, Float.NaN);
      tiled(w, x, batch, part, range[0], range[1]);
      for (int t = 0; t < batch; t++) {
        for (int r = 0; r < rows; r++) {
          float v = part[t * rows + r];
          if (r >= range[0] && r < range[1]) {
            assertThat(v).as("row %d token %d", r, t).isEqualTo(all[t * rows + r]);
          } else {
            assertThat(v).as("row %d outside [%d, %d)", r, range[0], range[1]).isNaN();
          }
        }
      }
    }
  }
}
