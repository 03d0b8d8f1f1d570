package dev.sluice.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.util.Arrays;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Small batches ({@code 2 <= T <= VectorMatMul.perTokenMax}) run the fused single-token kernels
 * once per token (Q4_K on 512-bit vectors two tokens per weight unpack). The invariant they keep: a
 * token's result is bit-identical to a {@code T = 1} call on that token alone, whatever the batch
 * size up to the threshold, the token's place in it or the row range; above the threshold {@link
 * MatMul#fast} runs the tiles of {@link BatchedMatMul} (their own invariant is tested in {@link
 * BatchedMatMulTest}). The single-token kernels themselves are checked against llama.cpp's
 * arithmetic in {@link DecodeKernelTest}. Run also with {@code -XX:MaxVectorSize=32} for the 8-lane
 * kernels.
 */
class SmallBatchTest {

  private static final int MAX_T = 9;

  @BeforeAll
  static void vectorsAvailable() {
    Assumptions.assumeTrue(
        MatMul.vectorized(), "jdk.incubator.vector with 256/512-bit vectors is needed");
  }

  /** Odd shapes: vector tails for unquantized types, odd block counts for Q8_0 / Q4_0. */
  private static int colsFor(GgmlType type) {
    return switch (type) {
      case F32, F16, BF16 -> 83;
      case Q8_0, Q4_0 -> 96;
      case Q4_K, Q6_K -> 768;
    };
  }

  private static void perToken(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
    MatMul.validate(w, x, T, out, r0, r1);
    VectorMatMul.run(w, x, T, out, r0, r1, true);
  }

  private static void tiled(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
    MatMul.validate(w, x, T, out, r0, r1);
    VectorMatMul.run(w, x, T, out, r0, r1, false);
  }

  /** Each token alone, T = 1: (T, rows). */
  private static float[] oneByOne(GgufTensor w, float[] x, int T) {
    int rows = w.rows();
    int cols = w.cols();
    float[] out = new float[T * rows];
    float[] one = new float[rows];
    for (int t = 0; t < T; t++) {
      MatMul.vectorFast(w, Arrays.copyOfRange(x, t * cols, (t + 1) * cols), 1, one, 0, rows);
      System.arraycopy(one, 0, out, t * rows, rows);
    }
    return out;
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(GgmlType.class)
  void perTokenPathEqualsSingleTokenCallsBitForBit(GgmlType type) {
    int rows = 13;
    int cols = colsFor(type);
    GgufTensor w = QuantTestData.random(type, rows, cols, 41 + type.id);
    float[] x = QuantTestData.gaussian(MAX_T * cols, 42);
    float[] expected = oneByOne(w, x, MAX_T);
    for (int batch = 1; batch <= MAX_T; batch++) {
      float[] out = new float[batch * rows];
      perToken(w, x, batch, out, 0, rows);
      assertThat(out)
          .as("%s T=%d", type, batch)
          .containsExactly(Arrays.copyOf(expected, batch * rows));
    }
    // A token in the second slot of a pair equals the same token in the first slot.
    float[] swapped = new float[2 * cols];
    System.arraycopy(x, cols, swapped, 0, cols);
    System.arraycopy(x, 0, swapped, cols, cols);
    float[] out = new float[2 * rows];
    perToken(w, swapped, 2, out, 0, rows);
    assertThat(Arrays.copyOfRange(out, 0, rows))
        .containsExactly(Arrays.copyOfRange(expected, rows, 2 * rows));
    assertThat(Arrays.copyOfRange(out, rows, 2 * rows))
        .containsExactly(Arrays.copyOfRange(expected, 0, rows));
  }

  /** Rows wide enough for the byte-activation kernels (Q8_0, Q4_K), token by token. */
  @ParameterizedTest(name = "{0}")
  @EnumSource(
      value = GgmlType.class,
      names = {"Q8_0", "Q4_K"})
  void wideRowsPerTokenEqualSingleTokenCalls(GgmlType type) {
    int rows = 5;
    int cols = type == GgmlType.Q8_0 ? 5152 : 6912;
    GgufTensor w = QuantTestData.random(type, rows, cols, 91);
    float[] x = QuantTestData.gaussian(4 * cols, 92);
    float[] expected = oneByOne(w, x, 4);
    for (int batch = 2; batch <= 4; batch++) {
      float[] out = new float[batch * rows];
      perToken(w, x, batch, out, 0, rows);
      assertThat(out)
          .as("%s T=%d", type, batch)
          .containsExactly(Arrays.copyOf(expected, batch * rows));
      // MatMul.fast at this width: per token up to the (width-dependent) threshold, tiles above.
      float[] viaFast = new float[batch * rows];
      MatMul.vectorFast(w, x, batch, viaFast, 0, rows);
      if (batch > VectorMatMul.perTokenMax(type, cols)) {
        tiled(w, x, batch, out, 0, rows);
      }
      assertThat(viaFast).as("MatMul.fast %s T=%d", type, batch).containsExactly(out);
    }
  }

  /**
   * What {@link MatMul#fast} runs: up to the threshold every token equals its {@code T = 1} result,
   * above it the tiled result (which is batch-independent there).
   */
  @ParameterizedTest(name = "{0}")
  @EnumSource(GgmlType.class)
  void fastSwitchesToTheTilesAboveTheThreshold(GgmlType type) {
    int rows = 13;
    int cols = colsFor(type);
    int max = VectorMatMul.perTokenMax(type, cols);
    assertThat(max).as("threshold of %s", type).isBetween(1, 16);
    GgufTensor w = QuantTestData.random(type, rows, cols, 51 + type.id);
    float[] x = QuantTestData.gaussian((max + 2) * cols, 52);
    float[] single = oneByOne(w, x, max + 2);
    for (int batch = 1; batch <= max + 2; batch++) {
      float[] out = new float[batch * rows];
      MatMul.vectorFast(w, x, batch, out, 0, rows);
      float[] expected;
      if (batch <= max) {
        expected = Arrays.copyOf(single, batch * rows);
      } else {
        expected = new float[batch * rows];
        tiled(w, x, batch, expected, 0, rows);
      }
      assertThat(out).as("%s T=%d (threshold %d)", type, batch, max).containsExactly(expected);
    }
  }

  /** Row sub-ranges (as the worker threads split a product) write only their rows, same values. */
  @ParameterizedTest(name = "{0}")
  @EnumSource(GgmlType.class)
  void rowRangesWriteOnlyTheirRows(GgmlType type) {
    int rows = 23;
    int cols = colsFor(type);
    int batch = 3; // a Q4_K pair and a single token
    GgufTensor w = QuantTestData.random(type, rows, cols, 61);
    float[] x = QuantTestData.gaussian(batch * cols, 62);
    float[] all = new float[batch * rows];
    perToken(w, x, batch, all, 0, rows);
    int[][] ranges = {{3, 10}, {10, 11}, {11, 23}, {0, 5}};
    for (int[] range : ranges) {
      float[] part = new float[batch * rows];
      Arrays.fill(part, Float.NaN);
      perToken(w, x, batch, part, range[0], range[1]);
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
