package dev.sluice.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The single-token (T = 1) kernels of {@link MatMul#fast} against a float64 emulation of
 * llama.cpp's quantized dot product (activations quantized to Q8_0 / Q8_K, integer block sums,
 * scales), at the real models' widths and at block counts that leave loop remainders, plus blocks
 * at the extremes of their integer ranges, where a kernel that sums products in 16-bit lanes would
 * overflow first. On AVX-512 these run the 16-bit integer kernels; with {@code
 * -XX:MaxVectorSize=32} the 8-lane float kernels.
 */
class DecodeKernelTest {

  static Stream<Arguments> quantizedWidths() {
    return Stream.of(
        Arguments.of(GgmlType.Q8_0, 32), // one block: no pair of blocks
        Arguments.of(GgmlType.Q8_0, 96), // odd block count
        Arguments.of(GgmlType.Q8_0, 896), // Qwen2.5-0.5B
        Arguments.of(GgmlType.Q8_0, 1536), // R1-Distill-Qwen-1.5B
        Arguments.of(GgmlType.Q8_0, 5152), // byte activations (> 5120), odd block count
        Arguments.of(GgmlType.Q8_0, 8960), // 1.5B ffn_down, byte activations
        Arguments.of(GgmlType.Q4_0, 32),
        Arguments.of(GgmlType.Q4_0, 96),
        Arguments.of(GgmlType.Q4_0, 896),
        Arguments.of(GgmlType.Q4_0, 4864),
        Arguments.of(GgmlType.Q4_K, 256), // one super-block
        Arguments.of(GgmlType.Q4_K, 1536),
        Arguments.of(GgmlType.Q4_K, 4864), // 19 super-blocks (0.5B ffn_down)
        Arguments.of(GgmlType.Q4_K, 6912), // byte activations (> 6656), odd super-block count
        Arguments.of(GgmlType.Q4_K, 8960), // 1.5B ffn_down, byte activations
        Arguments.of(GgmlType.Q6_K, 256),
        Arguments.of(GgmlType.Q6_K, 1536));
  }

  @ParameterizedTest(name = "{0} cols={1}")
  @MethodSource("quantizedWidths")
  void singleTokenFollowsLlamaCppOnRandomWeights(GgmlType type, int cols) {
    Assumptions.assumeTrue(MatMul.vectorized(), "fast is the reference without vectors");
    int rows = 13;
    GgufTensor w = QuantTestData.random(type, rows, cols, 1000 + cols + type.id);
    float[] x = QuantTestData.gaussian(cols, cols);
    assertFollowsLlamaCpp(w, x);
  }

  /**
   * Weights at the ends of their integer ranges (all nibbles 15 or 0, Q8_0 bytes -128 and 127, Q4_K
   * scales 63) against activations that all quantize to +-127: the largest partial sums the integer
   * kernels can meet.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("extremeTypes")
  void extremeBlocksDoNotOverflow(GgmlType type) {
    Assumptions.assumeTrue(MatMul.vectorized(), "fast is the reference without vectors");
    int cols = type.blockSize == 32 ? 128 : 512;
    for (int pattern = 0; pattern < 4; pattern++) {
      GgufTensor w = extremeTensor(type, 4, cols, pattern);
      float[] x = new float[cols];
      for (int c = 0; c < cols; c++) {
        // Same magnitude everywhere: every activation quantizes to +-127.
        x[c] =
            switch (pattern) {
              case 0 -> 1f;
              case 1 -> -1f;
              case 2 -> (c & 1) == 0 ? 1f : -1f;
              default -> ((c >> 3) & 1) == 0 ? -1f : 1f;
            };
      }
      assertFollowsLlamaCpp(w, x);
    }
  }

  static Stream<GgmlType> extremeTypes() {
    return Stream.of(GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K);
  }

  /**
   * On wide rows the Q8_0 kernel reads the activations as bytes instead of shorts; same products in
   * the same order, so the two kernels agree bit for bit (the short kernel is the one checked
   * against llama.cpp at every width below the switch).
   */
  @Test
  void q80ByteActivationsEqualShortActivations() {
    Assumptions.assumeTrue(
        MatMul.vectorized() && VectorMatMul.WIDE, "the byte kernel is the 512-bit one");
    for (int cols : new int[] {32, 96, 1536, 5152, 8960}) {
      GgufTensor w = QuantTestData.random(GgmlType.Q8_0, 5, cols, 70 + cols);
      Q8Activations a = new Q8Activations();
      a.quantizeQ80(QuantTestData.gaussian(cols, cols), 1, cols, false);
      float[] lanes = new float[16 * VectorMatMul.L];
      for (int r = 0; r < 5; r++) {
        long off = r * MatMul.rowBytes(w);
        float viaShorts = VectorMatMul.dotQ80Wide(w.data(), off, a.qs, a.d, cols, lanes);
        float viaBytes = VectorMatMul.dotQ80WideBytes(w.data(), off, a.qb, a.d, cols, lanes);
        assertThat(viaBytes).as("cols %d row %d", cols, r).isEqualTo(viaShorts);
      }
    }
  }

  /** Same for Q4_K: the byte-activation kernel equals the short one bit for bit. */
  @Test
  void q4kByteActivationsEqualShortActivations() {
    Assumptions.assumeTrue(
        MatMul.vectorized() && VectorMatMul.WIDE, "the byte kernel is the 512-bit one");
    for (int cols : new int[] {256, 1536, 6912, 8960}) {
      GgufTensor w = QuantTestData.random(GgmlType.Q4_K, 5, cols, 80 + cols);
      Q8Activations a = new Q8Activations();
      a.quantizeQ8K(QuantTestData.gaussian(cols, cols + 1), 1, cols, false);
      a.permuteQ4K(cols);
      float[] lanes = new float[16 * VectorMatMul.L];
      for (int r = 0; r < 5; r++) {
        long off = r * MatMul.rowBytes(w);
        float viaShorts = VectorMatMul.dotQ4KWide(w.data(), off, a, cols, lanes);
        float viaBytes = VectorMatMul.dotQ4KWideBytes(w.data(), off, a, cols, lanes);
        assertThat(viaBytes).as("cols %d row %d", cols, r).isEqualTo(viaShorts);
      }
    }
  }

  /** Row ranges, and scratch reused across types and widths, give the same values. */
  @Test
  void scratchReuseAndRowRangesDoNotChangeResults() {
    Assumptions.assumeTrue(MatMul.vectorized(), "fast is the reference without vectors");
    GgufTensor wide = QuantTestData.random(GgmlType.Q4_K, 40, 1536, 5);
    GgufTensor narrow = QuantTestData.random(GgmlType.Q4_K, 40, 512, 6);
    GgufTensor q80 = QuantTestData.random(GgmlType.Q8_0, 40, 1536, 7);
    float[] xw = QuantTestData.gaussian(1536, 8);
    float[] xn = QuantTestData.gaussian(512, 9);
    float[] first = new float[40];
    MatMul.vectorFast(narrow, xn, 1, first, 0, 40);
    float[] sink = new float[40];
    MatMul.vectorFast(wide, xw, 1, sink, 0, 40);
    MatMul.vectorFast(q80, xw, 1, sink, 0, 40);
    float[] again = new float[40];
    Arrays.fill(again, Float.NaN);
    MatMul.vectorFast(narrow, xn, 1, again, 8, 31);
    for (int r = 0; r < 40; r++) {
      if (r >= 8 && r < 31) {
        assertThat(again[r]).as("row %d", r).isEqualTo(first[r]);
      } else {
        assertThat(again[r]).as("row %d outside the range", r).isNaN();
      }
    }
  }

  // ------------------------------------------------------------------------------------------

  private static void assertFollowsLlamaCpp(GgufTensor w, float[] x) {
    int rows = w.rows();
    int cols = w.cols();
    GgmlType type = w.type();
    float[] xq =
        type == GgmlType.Q8_0 || type == GgmlType.Q4_0
            ? MatMulTest.ggmlQ80(x)
            : MatMulTest.ggmlQ8K(x);
    float[] fast = new float[rows];
    MatMul.vectorFast(w, x, 1, fast, 0, rows);
    float[] row = new float[cols];
    for (int r = 0; r < rows; r++) {
      MatMul.dequantizeRow(w, r, row, 0);
      double dot = 0;
      double abs = 0;
      for (int c = 0; c < cols; c++) {
        dot += (double) row[c] * xq[c];
        abs += Math.abs((double) row[c] * xq[c]);
      }
      assertThat((double) fast[r])
          .as("%s %d cols row %d", type, cols, r)
          .isCloseTo(dot, org.assertj.core.data.Offset.offset(1e-5 * abs + 1e-7));
    }
  }

  /**
   * Rows of blocks at the range ends. pattern 0: largest unsigned integers (nibbles 15, Q8_0 127,
   * Q6_K 63); 1: smallest (0, -128, 0); 2 and 3: the two mixed by element and by row.
   */
  private static GgufTensor extremeTensor(GgmlType type, int rows, int cols, int pattern) {
    Random rnd = new Random(pattern);
    int blocks = rows * cols / type.blockSize;
    ByteBuffer b =
        ByteBuffer.allocate(Math.toIntExact(type.bytesFor((long) rows * cols)))
            .order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < blocks; i++) {
      boolean high = pattern == 0 || (pattern == 3 && (i & 1) == 0);
      switch (type) {
        case Q8_0 -> {
          b.putShort(QuantTestData.half(0.01f));
          for (int j = 0; j < 32; j++) {
            byte v = (byte) (high ? 127 : -128);
            b.put(pattern == 2 && (j & 1) == 1 ? (byte) (127 + -128 - v) : v);
          }
        }
        case Q4_0 -> {
          b.putShort(QuantTestData.half(0.01f));
          for (int j = 0; j < 16; j++) {
            int v = high ? 0xFF : 0x00;
            b.put((byte) (pattern == 2 && (j & 1) == 1 ? 0xF0 : v));
          }
        }
        case Q4_K -> {
          b.putShort(QuantTestData.half(0.002f));
          b.putShort(QuantTestData.half(0.001f));
          int[] sc = new int[8];
          int[] m = new int[8];
          Arrays.fill(sc, 63);
          for (int k = 0; k < 8; k++) {
            m[k] = rnd.nextInt(64);
          }
          b.put(QuantTestData.packQ4KScales(sc, m));
          for (int j = 0; j < 128; j++) {
            int v = high ? 0xFF : 0x00;
            b.put((byte) (pattern == 2 && (j & 1) == 1 ? 0x0F : v));
          }
        }
        case Q6_K -> {
          int[] q6 = new int[256];
          for (int j = 0; j < 256; j++) {
            q6[j] = high ? 63 : 0;
            if (pattern == 2 && (j & 1) == 1) {
              q6[j] = 63 - q6[j];
            }
          }
          byte[] ql = new byte[128];
          byte[] qh = new byte[64];
          QuantTestData.packQ6K(q6, ql, qh);
          b.put(ql).put(qh);
          for (int k = 0; k < 16; k++) {
            b.put((byte) ((k & 1) == 0 ? 127 : -128));
          }
          b.putShort(QuantTestData.half(0.002f));
        }
        default -> throw new IllegalArgumentException(type.toString());
      }
    }
    return QuantTestData.tensor("extreme." + type, type, rows, cols, b.array());
  }
}
