package dev.sluice.engine.gguf;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The reference quantizers: byte layouts, rounding rules and reconstruction error. */
class QuantizerTest {

  private static float[] gaussian(int n, long seed) {
    Random r = new Random(seed);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }

  private static float[] roundTrip(GgmlType t, float[] x) {
    byte[] q = Quantizer.quantize(t, x);
    assertThat(q).hasSize((int) t.bytesFor(x.length));
    float[] y = new float[x.length];
    Quantizer.dequantizeRow(t, q, 0, x.length, y, 0);
    return y;
  }

  /** Root-mean-square error relative to the RMS of x. */
  private static double relRmse(float[] x, float[] y) {
    double e = 0;
    double s = 0;
    for (int i = 0; i < x.length; i++) {
      e += (x[i] - y[i]) * (double) (x[i] - y[i]);
      s += x[i] * (double) x[i];
    }
    return Math.sqrt(e / s);
  }

  @Test
  void reconstructionErrorMatchesEachTypesBitWidth() {
    float[] x = gaussian(256 * 64, 3);
    assertThat(relRmse(x, roundTrip(GgmlType.F32, x))).isZero();
    assertThat(relRmse(x, roundTrip(GgmlType.F16, x))).isLessThan(3e-4);
    assertThat(relRmse(x, roundTrip(GgmlType.BF16, x))).isLessThan(3e-3);
    assertThat(relRmse(x, roundTrip(GgmlType.Q8_0, x))).isLessThan(0.01);
    assertThat(relRmse(x, roundTrip(GgmlType.Q6_K, x))).isLessThan(0.04);
    assertThat(relRmse(x, roundTrip(GgmlType.Q4_K, x))).isLessThan(0.11);
    assertThat(relRmse(x, roundTrip(GgmlType.Q4_0, x))).isLessThan(0.13);
    // the k-quants' searched scales beat plain absmax scaling at the same width
    assertThat(relRmse(x, roundTrip(GgmlType.Q4_K, x)))
        .isLessThan(relRmse(x, roundTrip(GgmlType.Q4_0, x)));
  }

  @Test
  void q8_0LayoutAndRounding() {
    float[] x = new float[32];
    x[0] = 127f; // amax -> d = 1
    x[1] = -2.5f; // roundf: half away from zero -> -3
    x[2] = 2.5f; // -> 3
    x[3] = 0.49f;
    byte[] q = Quantizer.quantize(GgmlType.Q8_0, x);
    assertThat(Float.float16ToFloat((short) ((q[0] & 0xff) | (q[1] << 8)))).isEqualTo(1f);
    assertThat(q[2]).isEqualTo((byte) 127);
    assertThat(q[3]).isEqualTo((byte) -3);
    assertThat(q[4]).isEqualTo((byte) 3);
    assertThat(q[5]).isEqualTo((byte) 0);
  }

  @Test
  void q4_0LayoutPairsValueJWithJPlus16() {
    float[] x = new float[32];
    x[0] = -8f; // the signed extreme sets d = max / -8 = 1
    x[16] = 7f; // q = 7 + 8 = 15 in the high nibble of byte 0
    x[1] = 3f; // q = 11 in the low nibble of byte 1
    byte[] q = Quantizer.quantize(GgmlType.Q4_0, x);
    assertThat(Float.float16ToFloat((short) ((q[0] & 0xff) | (q[1] << 8)))).isEqualTo(1f);
    assertThat(q[2] & 0xff).isEqualTo(0 | (15 << 4));
    assertThat(q[3] & 0xf).isEqualTo(11);
    assertThat((q[3] & 0xff) >> 4).isEqualTo(8); // x[17] = 0
  }

  @Test
  void kQuantsKeepTheirSubBlockScales() {
    // sub-blocks of very different magnitude: each keeps its own scale (6-bit scales for Q4_K,
    // int8 scales for Q6_K), so small values are not flushed to zero by a big neighbour
    float[] x = gaussian(256, 5);
    for (int i = 0; i < 32; i++) {
      x[i] *= 8;
    }
    for (GgmlType t : new GgmlType[] {GgmlType.Q4_K, GgmlType.Q6_K}) {
      float[] y = roundTrip(t, x);
      float[] small = java.util.Arrays.copyOfRange(x, 128, 256);
      float[] smallY = java.util.Arrays.copyOfRange(y, 128, 256);
      assertThat(relRmse(small, smallY))
          .as(t.toString())
          .isLessThan(t == GgmlType.Q4_K ? 0.2 : 0.1);
    }
  }

  @Test
  void zerosStayZero() {
    float[] x = new float[512];
    for (GgmlType t : GgmlType.values()) {
      for (float v : roundTrip(t, x)) {
        assertThat(v == 0f).as(t.toString()).isTrue(); // Q4_0 gives -0.0 (d = -0 / 8), as ggml
      }
    }
  }

  @Test
  void nearestIntRoundsHalfToEvenLikeGgml() {
    assertThat(Quantizer.nearestInt(2.5f)).isEqualTo(2);
    assertThat(Quantizer.nearestInt(3.5f)).isEqualTo(4);
    assertThat(Quantizer.nearestInt(-2.5f)).isEqualTo(-2);
    assertThat(Quantizer.nearestInt(-0.6f)).isEqualTo(-1);
    assertThat(Quantizer.toBf16(1.00390625f)).isEqualTo((short) 0x3f80); // tie -> even
    assertThat(Quantizer.toBf16(1.01171875f)).isEqualTo((short) 0x3f82); // tie -> even (up)
    assertThat(Quantizer.toBf16(Float.NaN) & 0x7fc0).isEqualTo(0x7fc0);
  }
}
