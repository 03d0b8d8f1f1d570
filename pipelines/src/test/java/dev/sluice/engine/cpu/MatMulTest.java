package dev.sluice.engine.cpu;

import static dev.sluice.engine.cpu.QuantTestData.half;
import static dev.sluice.engine.cpu.QuantTestData.tensor;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import jdk.incubator.vector.ShortVector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

class MatMulTest {

  /**
   * The kernels under test: {@link MatMul#fast}, which runs the native kernels for quantized types
   * where {@link NativeKernels#available()}; {@link MatMulVectorPathTest} runs every test here on
   * the Vector API kernels instead.
   */
  void fast(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
    MatMul.fast(w, x, T, out, r0, r1);
  }

  /** Whether {@link #fast} quantizes activations like llama.cpp here (else it is the reference). */
  boolean quantizesActivations() {
    return MatMul.vectorized() || NativeKernels.available();
  }

  /** Columns per type: odd for unquantized (vector tails), a few blocks for the quantized. */
  static int colsFor(GgmlType type) {
    return switch (type) {
      case F32, F16, BF16 -> 67;
      case Q8_0, Q4_0 -> 96;
      case Q4_K, Q6_K -> 512;
    };
  }

  static boolean quantized(GgmlType type) {
    return type.blockSize > 1;
  }

  static Stream<Arguments> typesAndBatches() {
    return Arrays.stream(GgmlType.values())
        .flatMap(t -> Stream.of(1, 2, 3, 5, 16).map(n -> Arguments.of(t, n)));
  }

  // ------------------------------------------------------------------ fast vs reference (random)

  @ParameterizedTest(name = "{0} T={1}")
  @MethodSource("typesAndBatches")
  void fastMatchesReferenceOnRandomInputs(GgmlType type, int batch) {
    assertFastMatchesReference(type, 172, colsFor(type), batch);
  }

  /** A prefill-sized batch spans several activation tiles of the batched kernel. */
  @ParameterizedTest(name = "{0}")
  @EnumSource(
      value = GgmlType.class,
      names = {"F16", "Q8_0", "Q4_K"})
  void batchesLongerThanOneTileMatchReference(GgmlType type) {
    int cols = 8192;
    int batch = BatchedMatMul.tile(cols) + 5; // one full tile, then 4 + 1 rows
    assertFastMatchesReference(type, 9, cols, batch);
  }

  private void assertFastMatchesReference(GgmlType type, int rows, int cols, int batch) {
    GgufTensor w = QuantTestData.random(type, rows, cols, 42 + type.id);
    float[] x = QuantTestData.gaussian(batch * cols, 7 + batch);
    float[] ref = new float[batch * rows];
    float[] fast = new float[batch * rows];
    MatMul.reference(w, x, batch, ref, 0, rows);
    fast(w, x, batch, fast, 0, rows);

    float[] row = new float[cols];
    for (int r = 0; r < rows; r++) {
      MatMul.dequantizeRow(w, r, row, 0);
      for (int t = 0; t < batch; t++) {
        double absDot = 0;
        double quantErr = 0;
        for (int c = 0; c < cols; c++) {
          absDot += Math.abs((double) row[c] * x[t * cols + c]);
          if (quantized(type)) {
            // An 8-bit activation block is off by at most ~half a step (amax / 254) plus the f16
            // rounding of the Q8_0 scale: amax / 127 per element bounds both with margin.
            int bs = type == GgmlType.Q8_0 || type == GgmlType.Q4_0 ? 32 : 256;
            quantErr += Math.abs(row[c]) * blockAmax(x, t * cols + c / bs * bs, bs) / 127;
          }
        }
        double tol = 2e-6 * absDot + quantErr + 1e-6;
        assertThat((double) fast[t * rows + r])
            .as("%s row %d t %d", type, r, t)
            .isCloseTo(ref[t * rows + r], org.assertj.core.data.Offset.offset(tol));
      }
    }
    // The bound above is loose; the typical error must be far below it, or the kernel is wrong
    // in a way that the bound hides (e.g. a wrong scale on one sub-block).
    double num = 0;
    double den = 0;
    for (int i = 0; i < ref.length; i++) {
      num += Math.pow(fast[i] - ref[i], 2);
      den += Math.pow(ref[i], 2);
    }
    double relRms = Math.sqrt(num / den);
    assertThat(relRms)
        .as("relative RMS error of %s", type)
        .isLessThan(quantized(type) ? 2e-2 : 1e-6);
  }

  private static double blockAmax(float[] x, int from, int n) {
    double m = 0;
    for (int i = from; i < from + n; i++) {
      m = Math.max(m, Math.abs(x[i]));
    }
    return m;
  }

  /**
   * The quantized fast path follows llama.cpp: quantize activations to Q8_0 / Q8_K, dot with the
   * weight integers, scale. Emulated here in float64 from ggml's formulas; the kernel must agree to
   * float rounding, which is what keeps greedy tokens equal to llama.cpp's.
   */
  @ParameterizedTest(name = "{0}")
  @EnumSource(
      value = GgmlType.class,
      names = {"Q8_0", "Q4_0", "Q4_K", "Q6_K"})
  void quantizedFastPathFollowsLlamaCppActivationQuantization(GgmlType type) {
    org.junit.jupiter.api.Assumptions.assumeTrue(
        quantizesActivations(),
        "fast falls back to the reference without native kernels or 256/512-bit vectors");
    int rows = 37;
    int cols = colsFor(type);
    int batch = 3;
    GgufTensor w = QuantTestData.random(type, rows, cols, 99);
    float[] x = QuantTestData.gaussian(batch * cols, 5);
    float[] fast = new float[batch * rows];
    fast(w, x, batch, fast, 0, rows);
    assertFollowsLlamaCpp(w, x, batch, fast);
  }

  /**
   * {@code out} (all rows of {@code w} for {@code batch} tokens of {@code x}) agrees to float
   * rounding with a float64 emulation of llama.cpp: the activations quantized as ggml does for the
   * weight type, then exact products of the dequantized weights with them.
   */
  static void assertFollowsLlamaCpp(GgufTensor w, float[] x, int batch, float[] out) {
    int rows = w.rows();
    int cols = w.cols();
    GgmlType type = w.type();
    float[] xq = type == GgmlType.Q8_0 || type == GgmlType.Q4_0 ? ggmlQ80(x) : ggmlQ8K(x);
    float[] row = new float[cols];
    for (int r = 0; r < rows; r++) {
      MatMul.dequantizeRow(w, r, row, 0);
      for (int t = 0; t < batch; t++) {
        double dot = 0;
        double abs = 0;
        for (int c = 0; c < cols; c++) {
          dot += (double) row[c] * xq[t * cols + c];
          abs += Math.abs((double) row[c] * xq[t * cols + c]);
        }
        assertThat((double) out[t * rows + r])
            .as("%s row %d token %d of %d", type, r, t, batch)
            .isCloseTo(dot, org.assertj.core.data.Offset.offset(1e-5 * abs + 1e-7));
      }
    }
  }

  /** ggml x86 quantize_row_q8_0, returned dequantized. */
  static float[] ggmlQ80(float[] x) {
    float[] y = new float[x.length];
    for (int b = 0; b < x.length / 32; b++) {
      float amax = 0;
      for (int j = 0; j < 32; j++) {
        amax = Math.max(amax, Math.abs(x[32 * b + j]));
      }
      float d = Float.float16ToFloat(half(amax / 127f));
      float id = amax != 0 ? 127f / amax : 0f;
      for (int j = 0; j < 32; j++) {
        y[32 * b + j] = (float) Math.rint(x[32 * b + j] * id) * d;
      }
    }
    return y;
  }

  /** ggml quantize_row_q8_K_ref, returned dequantized. */
  static float[] ggmlQ8K(float[] x) {
    float[] y = new float[x.length];
    for (int b = 0; b < x.length / 256; b++) {
      float amax = 0;
      float max = 0;
      for (int j = 0; j < 256; j++) {
        if (Math.abs(x[256 * b + j]) > amax) {
          amax = Math.abs(x[256 * b + j]);
          max = x[256 * b + j];
        }
      }
      float iscale = -127f / max;
      for (int j = 0; j < 256; j++) {
        y[256 * b + j] = Math.min(127, (int) Math.rint(iscale * x[256 * b + j])) * (1f / iscale);
      }
    }
    return y;
  }

  // ------------------------------------------------------------------ sub-ranges, threads

  @ParameterizedTest(name = "{0}")
  @EnumSource(GgmlType.class)
  void rowSubRangeWritesOnlyThoseRows(GgmlType type) {
    int rows = 172;
    int cols = colsFor(type);
    int batch = 3;
    GgufTensor w = QuantTestData.random(type, rows, cols, 3);
    float[] x = QuantTestData.gaussian(batch * cols, 4);
    float[] all = new float[batch * rows];
    fast(w, x, batch, all, 0, rows);
    for (boolean fast : new boolean[] {false, true}) {
      float[] part = new float[batch * rows];
      Arrays.fill(part, Float.NaN);
      if (fast) {
        fast(w, x, batch, part, 17, 100);
      } else {
        MatMul.reference(w, x, batch, part, 17, 100);
      }
      for (int t = 0; t < batch; t++) {
        for (int r = 0; r < rows; r++) {
          float v = part[t * rows + r];
          if (r >= 17 && r < 100) {
            assertThat(v).isNotNaN();
            if (fast) {
              assertThat(v).isEqualTo(all[t * rows + r]);
            }
          } else {
            assertThat(v).as("row %d outside [17, 100) must stay untouched", r).isNaN();
          }
        }
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(GgmlType.class)
  void concurrentCallsOnDisjointRowsMatchOneCall(GgmlType type) throws Exception {
    int rows = 172;
    int cols = colsFor(type);
    int batch = 16;
    GgufTensor w = QuantTestData.random(type, rows, cols, 11);
    float[] x = QuantTestData.gaussian(batch * cols, 12);
    float[] single = new float[batch * rows];
    fast(w, x, batch, single, 0, rows);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      for (int round = 0; round < 20; round++) {
        float[] split = new float[batch * rows];
        Future<?> a = pool.submit(() -> fast(w, x, batch, split, 0, 83));
        Future<?> b = pool.submit(() -> fast(w, x, batch, split, 83, rows));
        a.get();
        b.get();
        assertThat(split).containsExactly(single);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  // ------------------------------------------------------------------ hand-built blocks

  /** Checks dequantizeRow against {@code expected} and reference against a float64 dot. */
  private static void assertRowValues(GgufTensor w, double[] expected) {
    int cols = w.cols();
    float[] row = new float[cols];
    MatMul.dequantizeRow(w, 0, row, 0);
    for (int c = 0; c < cols; c++) {
      assertThat((double) row[c]).as("element %d", c).isCloseTo(expected[c], within(expected[c]));
    }
    float[] x = QuantTestData.gaussian(2 * cols, 1);
    float[] out = new float[2 * w.rows()];
    MatMul.reference(w, x, 2, out, 0, w.rows());
    for (int t = 0; t < 2; t++) {
      double dot = 0;
      double abs = 0;
      for (int c = 0; c < cols; c++) {
        dot += expected[c] * x[t * cols + c];
        abs += Math.abs(expected[c] * x[t * cols + c]);
      }
      assertThat((double) out[t * w.rows()])
          .isCloseTo(dot, org.assertj.core.data.Offset.offset(1e-6 * abs));
    }
  }

  private static org.assertj.core.data.Offset<Double> within(double v) {
    return org.assertj.core.data.Offset.offset(Math.abs(v) * 1e-6 + 1e-12);
  }

  @Test
  void q80BlockDequantizesToScaleTimesQuant() {
    ByteBuffer b = ByteBuffer.allocate(2 * 34).order(ByteOrder.LITTLE_ENDIAN);
    double[] expected = new double[64];
    float[] scales = {0.5f, -0.0078125f};
    for (int blk = 0; blk < 2; blk++) {
      b.putShort(half(scales[blk]));
      for (int j = 0; j < 32; j++) {
        int q = blk == 0 ? j - 16 : (j * 37) % 256 - 128;
        b.put((byte) q);
        expected[32 * blk + j] = (double) scales[blk] * q;
      }
    }
    assertRowValues(tensor("q8", GgmlType.Q8_0, 1, 64, b.array()), expected);
  }

  @Test
  void q40BlockDequantizesLowNibblesFirst() {
    ByteBuffer b = ByteBuffer.allocate(18).order(ByteOrder.LITTLE_ENDIAN);
    b.putShort(half(0.25f));
    double[] expected = new double[32];
    for (int j = 0; j < 16; j++) {
      int lo = j;
      int hi = (j * 5 + 3) & 0xF;
      b.put((byte) (lo | hi << 4));
      expected[j] = 0.25 * (lo - 8);
      expected[j + 16] = 0.25 * (hi - 8);
    }
    assertRowValues(tensor("q4", GgmlType.Q4_0, 1, 32, b.array()), expected);
  }

  @Test
  void q4KBlockUsesSixBitScalesAndMins() {
    int[] sc = new int[8];
    int[] m = new int[8];
    for (int j = 0; j < 8; j++) {
      sc[j] = (j * 23 + 5) % 64; // includes values >= 16, whose top bits live elsewhere
      m[j] = 63 - j * 7;
    }
    int[] q = new int[256];
    for (int i = 0; i < 256; i++) {
      q[i] = (i * 11 + i / 7) & 0xF;
    }
    float d = 0.5f;
    float dmin = 0.125f;
    ByteBuffer b = ByteBuffer.allocate(144).order(ByteOrder.LITTLE_ENDIAN);
    b.putShort(half(d)).putShort(half(dmin)).put(QuantTestData.packQ4KScales(sc, m));
    // 32 bytes per 64 values: value 64c + l is the low nibble of byte l, 64c + 32 + l the high.
    for (int c = 0; c < 4; c++) {
      for (int l = 0; l < 32; l++) {
        b.put((byte) (q[64 * c + l] | q[64 * c + 32 + l] << 4));
      }
    }
    double[] expected = new double[256];
    for (int i = 0; i < 256; i++) {
      int sub = i / 32;
      expected[i] = (double) d * sc[sub] * q[i] - (double) dmin * m[sub];
    }
    assertRowValues(tensor("q4k", GgmlType.Q4_K, 1, 256, b.array()), expected);
  }

  @Test
  void q6KBlockUsesSignedScalesPerSixteen() {
    int[] q6 = new int[256];
    for (int i = 0; i < 256; i++) {
      q6[i] = (i * 7 + i / 16) & 63;
    }
    byte[] ql = new byte[128];
    byte[] qh = new byte[64];
    QuantTestData.packQ6K(q6, ql, qh);
    byte[] scales = new byte[16];
    for (int i = 0; i < 16; i++) {
      scales[i] = (byte) (i * 9 - 70);
    }
    float d = 0.125f;
    ByteBuffer b = ByteBuffer.allocate(210).order(ByteOrder.LITTLE_ENDIAN);
    b.put(ql).put(qh).put(scales).putShort(half(d));
    double[] expected = new double[256];
    for (int i = 0; i < 256; i++) {
      expected[i] = (double) d * scales[i / 16] * (q6[i] - 32);
    }
    assertRowValues(tensor("q6k", GgmlType.Q6_K, 1, 256, b.array()), expected);
  }

  @Test
  void halfAndBfloatRowsDecodeExactly() {
    float[] values = {1.5f, -2.25f, 0.0f, 61440f, 0x1p-24f, -0x1p-14f, 3.140625f};
    ByteBuffer h = ByteBuffer.allocate(2 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    ByteBuffer bf = ByteBuffer.allocate(2 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    ByteBuffer f = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    double[] expected = new double[values.length];
    for (int i = 0; i < values.length; i++) {
      h.putShort(half(values[i]));
      bf.putShort((short) (Float.floatToRawIntBits(values[i]) >>> 16));
      f.putFloat(values[i]);
      expected[i] = values[i];
    }
    int n = values.length;
    assertRowValues(tensor("f16", GgmlType.F16, 1, n, h.array()), expected);
    assertRowValues(tensor("bf16", GgmlType.BF16, 1, n, bf.array()), expected);
    assertRowValues(tensor("f32", GgmlType.F32, 1, n, f.array()), expected);
  }

  @Test
  void vectorHalfConversionMatchesJavaForEveryBitPattern() {
    org.junit.jupiter.api.Assumptions.assumeTrue(MatMul.vectorized(), "no 256/512-bit vectors");
    short[] bits = new short[VectorMatMul.L];
    float[] got = new float[VectorMatMul.L];
    for (int base = 0; base < 65536; base += VectorMatMul.L) {
      for (int i = 0; i < VectorMatMul.L; i++) {
        bits[i] = (short) (base + i);
      }
      VectorMatMul.halfToFloat(
              ShortVector.fromArray(
                  jdk.incubator.vector.VectorShape.forBitSize(VectorMatMul.L * 16)
                      .withLanes(short.class),
                  bits,
                  0))
          .intoArray(got, 0);
      for (int i = 0; i < VectorMatMul.L; i++) {
        float want = Float.float16ToFloat(bits[i]);
        if (Float.isNaN(want)) {
          assertThat(got[i]).isNaN();
        } else {
          assertThat(Float.floatToRawIntBits(got[i]))
              .as("half 0x%04x", bits[i] & 0xFFFF)
              .isEqualTo(Float.floatToRawIntBits(want));
        }
      }
    }
  }

  // ------------------------------------------------------------------ validation

  @Test
  void badShapesAreRejectedNamingTheTensor() {
    GgufTensor w = QuantTestData.random(GgmlType.Q8_0, 4, 64, 1);
    float[] x = new float[2 * 64];
    float[] out = new float[2 * 4];
    assertThatThrownBy(() -> MatMul.fast(w, new float[64], 2, out, 0, 4))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("random.Q8_0")
        .hasMessageContaining("activations");
    assertThatThrownBy(() -> MatMul.reference(w, x, 2, new float[7], 0, 4))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("output");
    assertThatThrownBy(() -> MatMul.fast(w, x, 2, out, 3, 5))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[3, 5)");
    GgufTensor truncated = tensor("blk.0.ffn_up.weight", GgmlType.Q4_K, 2, 256, new byte[144]);
    assertThatThrownBy(() -> MatMul.fast(truncated, new float[256], 1, new float[2], 0, 2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("blk.0.ffn_up.weight")
        .hasMessageContaining("288");
    GgufTensor ragged = tensor("blk.0.attn_q.weight", GgmlType.Q4_0, 1, 48, new byte[64]);
    assertThatThrownBy(() -> MatMul.dequantizeRow(ragged, 0, new float[48], 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("blk.0.attn_q.weight");
    assertThatThrownBy(() -> MatMul.dequantizeRow(w, 4, new float[64], 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("row 4");
  }
}
