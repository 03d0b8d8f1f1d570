package dev.sluice.engine.gguf;

/**
 * Converts floats to the GGUF tensor types Sluice reads, block by block, following ggml's reference
 * quantizers ({@code quantize_row_*_ref} in {@code ggml-quants.c}) and the block layouts of {@code
 * ggml-common.h}. Used to write test and benchmark models; the matching {@link #dequantizeRow} is a
 * plain reading of the same layouts, for round-trip tests.
 *
 * <p>Layouts (little-endian, one block after another):
 *
 * <ul>
 *   <li>Q8_0 (32 values, 34 bytes): f16 d, int8 qs[32]; x = d * q.
 *   <li>Q4_0 (32 values, 18 bytes): f16 d, qs[16]; value j in the low nibble of qs[j], value j+16
 *       in the high nibble; x = d * (q - 8).
 *   <li>Q4_K (256 values, 144 bytes): f16 d, f16 dmin, scales[12] (eight 6-bit scales and mins),
 *       qs[128]; eight sub-blocks of 32; x = d * sc * q - dmin * m.
 *   <li>Q6_K (256 values, 210 bytes): ql[128] low nibbles, qh[64] high 2 bits, int8 scales[16], f16
 *       d; sixteen sub-blocks of 16; x = d * scale * (q - 32).
 * </ul>
 *
 * <p>Stateless; the methods allocate only small scratch arrays per call.
 */
public final class Quantizer {
  private static final float GROUP_MAX_EPS = 1e-15f;
  private static final int QK_K = 256;

  private Quantizer() {}

  /** Bytes that {@code n} values of {@code type} take. */
  public static int rowBytes(GgmlType type, int n) {
    return Math.toIntExact(type.bytesFor(n));
  }

  /** Quantizes all of {@code src} into a new array. */
  public static byte[] quantize(GgmlType type, float[] src) {
    byte[] out = new byte[rowBytes(type, src.length)];
    quantizeRow(type, src, 0, src.length, out, 0);
    return out;
  }

  /**
   * Writes {@code n} values {@code src[off..]} as {@code type} into {@code dst[dstOff..]}; {@code
   * n} must be a multiple of the type's block size.
   */
  public static void quantizeRow(
      GgmlType type, float[] src, int off, int n, byte[] dst, int dstOff) {
    if (n % type.blockSize != 0) {
      throw new IllegalArgumentException(
          type + " needs a multiple of " + type.blockSize + " values, got " + n);
    }
    switch (type) {
      case F32 -> {
        for (int i = 0; i < n; i++) {
          putI32(dst, dstOff + 4 * i, Float.floatToRawIntBits(src[off + i]));
        }
      }
      case F16 -> {
        for (int i = 0; i < n; i++) {
          putI16(dst, dstOff + 2 * i, Float.floatToFloat16(src[off + i]));
        }
      }
      case BF16 -> {
        for (int i = 0; i < n; i++) {
          putI16(dst, dstOff + 2 * i, toBf16(src[off + i]));
        }
      }
      case Q8_0 -> {
        for (int b = 0; b < n / 32; b++) {
          q8_0(src, off + 32 * b, dst, dstOff + 34 * b);
        }
      }
      case Q4_0 -> {
        for (int b = 0; b < n / 32; b++) {
          q4_0(src, off + 32 * b, dst, dstOff + 18 * b);
        }
      }
      case Q4_K -> {
        Scratch s = new Scratch();
        for (int b = 0; b < n / QK_K; b++) {
          q4_K(src, off + QK_K * b, dst, dstOff + 144 * b, s);
        }
      }
      case Q6_K -> {
        Scratch s = new Scratch();
        for (int b = 0; b < n / QK_K; b++) {
          q6_K(src, off + QK_K * b, dst, dstOff + 210 * b, s);
        }
      }
    }
  }

  /**
   * Reads {@code n} values of {@code type} from {@code src[srcOff..]} into {@code dst[dstOff..]}.
   */
  public static void dequantizeRow(
      GgmlType type, byte[] src, int srcOff, int n, float[] dst, int dstOff) {
    switch (type) {
      case F32 -> {
        for (int i = 0; i < n; i++) {
          dst[dstOff + i] = Float.intBitsToFloat(getI32(src, srcOff + 4 * i));
        }
      }
      case F16 -> {
        for (int i = 0; i < n; i++) {
          dst[dstOff + i] = f16(src, srcOff + 2 * i);
        }
      }
      case BF16 -> {
        for (int i = 0; i < n; i++) {
          dst[dstOff + i] = Float.intBitsToFloat((getI16(src, srcOff + 2 * i) & 0xffff) << 16);
        }
      }
      case Q8_0 -> {
        for (int b = 0; b < n / 32; b++) {
          int p = srcOff + 34 * b;
          float d = f16(src, p);
          for (int j = 0; j < 32; j++) {
            dst[dstOff + 32 * b + j] = d * src[p + 2 + j];
          }
        }
      }
      case Q4_0 -> {
        for (int b = 0; b < n / 32; b++) {
          int p = srcOff + 18 * b;
          float d = f16(src, p);
          for (int j = 0; j < 16; j++) {
            int q = src[p + 2 + j] & 0xff;
            dst[dstOff + 32 * b + j] = d * ((q & 0xf) - 8);
            dst[dstOff + 32 * b + j + 16] = d * ((q >> 4) - 8);
          }
        }
      }
      case Q4_K -> {
        for (int b = 0; b < n / QK_K; b++) {
          int p = srcOff + 144 * b;
          float d = f16(src, p);
          float dmin = f16(src, p + 2);
          int scales = p + 4;
          int qs = p + 16;
          int[] scMin = new int[2];
          for (int j = 0; j < 8; j++) {
            scaleMinK4(j, src, scales, scMin);
            float dl = d * scMin[0];
            float ml = dmin * scMin[1];
            // sub-blocks 2i and 2i+1 share 32 bytes: low nibbles, then high nibbles
            int bytes = qs + 32 * (j / 2);
            int shift = (j % 2) * 4;
            for (int l = 0; l < 32; l++) {
              int q = ((src[bytes + l] & 0xff) >> shift) & 0xf;
              dst[dstOff + QK_K * b + 32 * j + l] = dl * q - ml;
            }
          }
        }
      }
      case Q6_K -> {
        for (int b = 0; b < n / QK_K; b++) {
          int p = srcOff + 210 * b;
          int ql = p;
          int qh = p + 128;
          int sc = p + 192;
          float d = f16(src, p + 208);
          int y = dstOff + QK_K * b;
          for (int half = 0; half < 2; half++) {
            for (int l = 0; l < 32; l++) {
              int is = l / 16;
              int h = src[qh + l] & 0xff;
              int q1 = ((src[ql + l] & 0xf) | ((h & 3) << 4)) - 32;
              int q2 = ((src[ql + l + 32] & 0xf) | (((h >> 2) & 3) << 4)) - 32;
              int q3 = (((src[ql + l] & 0xff) >> 4) | (((h >> 4) & 3) << 4)) - 32;
              int q4 = (((src[ql + l + 32] & 0xff) >> 4) | (((h >> 6) & 3) << 4)) - 32;
              dst[y + l] = d * src[sc + is] * q1;
              dst[y + l + 32] = d * src[sc + is + 2] * q2;
              dst[y + l + 64] = d * src[sc + is + 4] * q3;
              dst[y + l + 96] = d * src[sc + is + 6] * q4;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
          }
        }
      }
    }
  }

  // ---- reference quantizers (ggml-quants.c) ----

  private static void q8_0(float[] x, int o, byte[] y, int p) {
    float amax = 0;
    for (int j = 0; j < 32; j++) {
      amax = Math.max(amax, Math.abs(x[o + j]));
    }
    float d = amax / 127;
    float id = d != 0 ? 1.0f / d : 0.0f;
    putI16(y, p, Float.floatToFloat16(d));
    for (int j = 0; j < 32; j++) {
      y[p + 2 + j] = (byte) roundf(x[o + j] * id);
    }
  }

  private static void q4_0(float[] x, int o, byte[] y, int p) {
    float amax = 0;
    float max = 0;
    for (int j = 0; j < 32; j++) {
      float v = x[o + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    float d = max / -8;
    float id = d != 0 ? 1.0f / d : 0.0f;
    putI16(y, p, Float.floatToFloat16(d));
    for (int j = 0; j < 16; j++) {
      float x0 = x[o + j] * id;
      float x1 = x[o + 16 + j] * id;
      // (int8_t)(x + 8.5f) truncates toward zero, then MIN(15, .)
      int xi0 = Math.min(15, (byte) (int) (x0 + 8.5f));
      int xi1 = Math.min(15, (byte) (int) (x1 + 8.5f));
      y[p + 2 + j] = (byte) ((xi0 & 0xf) | (xi1 << 4));
    }
  }

  /** Per-call scratch of the k-quants (ggml keeps these on the stack). */
  private static final class Scratch {
    final int[] l = new int[QK_K];
    final int[] laux = new int[32];
    final float[] weights = new float[32];
    final float[] mins = new float[QK_K / 32];
    final float[] scales = new float[QK_K / 16];
    final float[] theMin = new float[1];
    final int[] scMin = new int[2];
  }

  private static void q4_K(float[] x, int o, byte[] y, int p, Scratch s) {
    float maxScale = 0;
    float maxMin = 0;
    for (int j = 0; j < QK_K / 32; j++) {
      float sumX2 = 0;
      for (int l = 0; l < 32; l++) {
        sumX2 += x[o + 32 * j + l] * x[o + 32 * j + l];
      }
      float avX = (float) Math.sqrt(sumX2 / 32);
      for (int l = 0; l < 32; l++) {
        s.weights[l] = avX + Math.abs(x[o + 32 * j + l]);
      }
      s.scales[j] =
          makeQkx2Quants(
              32, 15, x, o + 32 * j, s.weights, s.l, 32 * j, s.theMin, s.laux, -1f, 0.1f, 20);
      s.mins[j] = s.theMin[0];
      maxScale = Math.max(maxScale, s.scales[j]);
      maxMin = Math.max(maxMin, s.mins[j]);
    }
    float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
    float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
    int scales = p + 4;
    for (int i = 0; i < 12; i++) {
      y[scales + i] = 0;
    }
    for (int j = 0; j < QK_K / 32; j++) {
      int ls = Math.min(63, nearestInt(invScale * s.scales[j]) & 0xff);
      int lm = Math.min(63, nearestInt(invMin * s.mins[j]) & 0xff);
      if (j < 4) {
        y[scales + j] = (byte) ls;
        y[scales + j + 4] = (byte) lm;
      } else {
        y[scales + j + 4] = (byte) ((ls & 0xf) | ((lm & 0xf) << 4));
        y[scales + j - 4] |= (byte) ((ls >> 4) << 6);
        y[scales + j] |= (byte) ((lm >> 4) << 6);
      }
    }
    short dBits = Float.floatToFloat16(maxScale / 63.f);
    short dminBits = Float.floatToFloat16(maxMin / 63.f);
    putI16(y, p, dBits);
    putI16(y, p + 2, dminBits);
    float dAll = Float.float16ToFloat(dBits);
    float dminAll = Float.float16ToFloat(dminBits);
    for (int j = 0; j < QK_K / 32; j++) {
      scaleMinK4(j, y, scales, s.scMin);
      float d = dAll * s.scMin[0];
      if (d == 0) {
        continue;
      }
      float dm = dminAll * s.scMin[1];
      for (int ii = 0; ii < 32; ii++) {
        int l = nearestInt((x[o + 32 * j + ii] + dm) / d);
        s.l[32 * j + ii] = Math.max(0, Math.min(15, l));
      }
    }
    int q = p + 16;
    for (int j = 0; j < QK_K; j += 64) {
      for (int l = 0; l < 32; l++) {
        y[q + l] = (byte) (s.l[j + l] | (s.l[j + l + 32] << 4));
      }
      q += 32;
    }
  }

  private static void q6_K(float[] x, int o, byte[] y, int p, Scratch s) {
    float maxScale = 0;
    float maxAbsScale = 0;
    for (int ib = 0; ib < QK_K / 16; ib++) {
      float scale = makeQxQuants(16, 32, x, o + 16 * ib, s.l, 16 * ib);
      s.scales[ib] = scale;
      float abs = Math.abs(scale);
      if (abs > maxAbsScale) {
        maxAbsScale = abs;
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      for (int i = 0; i < 210; i++) {
        y[p + i] = 0;
      }
      return;
    }
    int ql = p;
    int qh = p + 128;
    int sc = p + 192;
    float iscale = -128.f / maxScale;
    short dBits = Float.floatToFloat16(1 / iscale);
    putI16(y, p + 208, dBits);
    for (int ib = 0; ib < QK_K / 16; ib++) {
      y[sc + ib] = (byte) Math.min(127, nearestInt(iscale * s.scales[ib]));
    }
    float dAll = Float.float16ToFloat(dBits);
    for (int j = 0; j < QK_K / 16; j++) {
      float d = dAll * y[sc + j];
      if (d == 0) {
        continue;
      }
      for (int ii = 0; ii < 16; ii++) {
        int l = nearestInt(x[o + 16 * j + ii] / d);
        l = Math.max(-32, Math.min(31, l));
        s.l[16 * j + ii] = l + 32;
      }
    }
    int[] l = s.l;
    for (int j = 0; j < QK_K; j += 128) {
      for (int i = 0; i < 32; i++) {
        int q1 = l[j + i] & 0xf;
        int q2 = l[j + i + 32] & 0xf;
        int q3 = l[j + i + 64] & 0xf;
        int q4 = l[j + i + 96] & 0xf;
        y[ql + i] = (byte) (q1 | (q3 << 4));
        y[ql + i + 32] = (byte) (q2 | (q4 << 4));
        y[qh + i] =
            (byte)
                ((l[j + i] >> 4)
                    | ((l[j + i + 32] >> 4) << 2)
                    | ((l[j + i + 64] >> 4) << 4)
                    | ((l[j + i + 96] >> 4) << 6));
      }
      ql += 64;
      qh += 32;
    }
  }

  /** ggml's make_qkx2_quants (use_mad = false): a scale and a min for one sub-block. */
  private static float makeQkx2Quants(
      int n,
      int nmax,
      float[] x,
      int o,
      float[] weights,
      int[] lOut,
      int lo,
      float[] theMin,
      int[] laux,
      float rmin,
      float rdelta,
      int nstep) {
    float min = x[o];
    float max = x[o];
    float sumW = weights[0];
    float sumX = sumW * x[o];
    for (int i = 1; i < n; i++) {
      if (x[o + i] < min) {
        min = x[o + i];
      }
      if (x[o + i] > max) {
        max = x[o + i];
      }
      float w = weights[i];
      sumW += w;
      sumX += w * x[o + i];
    }
    if (min > 0) {
      min = 0;
    }
    if (max == min) {
      for (int i = 0; i < n; i++) {
        lOut[lo + i] = 0;
      }
      theMin[0] = -min;
      return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float bestError = 0;
    for (int i = 0; i < n; i++) {
      int l = nearestInt(iscale * (x[o + i] - min));
      lOut[lo + i] = Math.max(0, Math.min(nmax, l));
      float diff = scale * lOut[lo + i] + min - x[o + i];
      bestError += weights[i] * diff * diff;
    }
    for (int is = 0; is <= nstep; is++) {
      iscale = (rmin + rdelta * is + nmax) / (max - min);
      float sumL = 0;
      float sumL2 = 0;
      float sumXl = 0;
      for (int i = 0; i < n; i++) {
        int l = nearestInt(iscale * (x[o + i] - min));
        l = Math.max(0, Math.min(nmax, l));
        laux[i] = l;
        float w = weights[i];
        sumL += w * l;
        sumL2 += w * l * l;
        sumXl += w * l * x[o + i];
      }
      float det = sumW * sumL2 - sumL * sumL;
      if (det > 0) {
        float thisScale = (sumW * sumXl - sumX * sumL) / det;
        float thisMin = (sumL2 * sumX - sumL * sumXl) / det;
        if (thisMin > 0) {
          thisMin = 0;
          thisScale = sumXl / sumL2;
        }
        float error = 0;
        for (int i = 0; i < n; i++) {
          float diff = thisScale * laux[i] + thisMin - x[o + i];
          error += weights[i] * diff * diff;
        }
        if (error < bestError) {
          bestError = error;
          for (int i = 0; i < n; i++) {
            lOut[lo + i] = laux[i];
          }
          scale = thisScale;
          min = thisMin;
        }
      }
    }
    theMin[0] = -min;
    return scale;
  }

  /** ggml's make_qx_quants with rmse_type 1 and no importance weights (as Q6_K uses it). */
  private static float makeQxQuants(int n, int nmax, float[] x, int o, int[] lOut, int lo) {
    float max = 0;
    float amax = 0;
    for (int i = 0; i < n; i++) {
      float ax = Math.abs(x[o + i]);
      if (ax > amax) {
        amax = ax;
        max = x[o + i];
      }
    }
    if (amax < GROUP_MAX_EPS) {
      for (int i = 0; i < n; i++) {
        lOut[lo + i] = 0;
      }
      return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; i++) {
      int l = nearestInt(iscale * x[o + i]);
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      lOut[lo + i] = l + nmax;
      float w = x[o + i] * x[o + i];
      sumlx += w * x[o + i] * l;
      suml2 += w * l * l;
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
      if (is == 0) {
        continue;
      }
      iscale = -(nmax + 0.1f * is) / max;
      sumlx = 0;
      suml2 = 0;
      for (int i = 0; i < n; i++) {
        int l = nearestInt(iscale * x[o + i]);
        l = Math.max(-nmax, Math.min(nmax - 1, l));
        float w = x[o + i] * x[o + i];
        sumlx += w * x[o + i] * l;
        suml2 += w * l * l;
      }
      if (suml2 > 0 && sumlx * sumlx > best * suml2) {
        for (int i = 0; i < n; i++) {
          int l = nearestInt(iscale * x[o + i]);
          lOut[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
        }
        scale = sumlx / suml2;
        best = scale * sumlx;
      }
    }
    return scale;
  }

  /** ggml's get_scale_min_k4: the 6-bit scale and min of sub-block {@code j}. */
  static void scaleMinK4(int j, byte[] q, int p, int[] out) {
    if (j < 4) {
      out[0] = q[p + j] & 63;
      out[1] = q[p + j + 4] & 63;
    } else {
      out[0] = (q[p + j + 4] & 0xf) | (((q[p + j - 4] & 0xff) >> 6) << 4);
      out[1] = ((q[p + j + 4] & 0xff) >> 4) | (((q[p + j] & 0xff) >> 6) << 4);
    }
  }

  /** ggml's nearest_int: round half to even through the float mantissa trick. */
  static int nearestInt(float fval) {
    float val = fval + 12582912.f;
    int i = Float.floatToRawIntBits(val);
    return (i & 0x007fffff) - 0x00400000;
  }

  /** C's roundf: half away from zero. */
  private static int roundf(float v) {
    return (int) Math.copySign(Math.floor(Math.abs((double) v) + 0.5), v);
  }

  /** ggml_compute_fp32_to_bf16: round to nearest even, NaN kept quiet. */
  static short toBf16(float f) {
    int u = Float.floatToRawIntBits(f);
    if ((u & 0x7fffffff) > 0x7f800000) {
      return (short) ((u >>> 16) | 64);
    }
    return (short) ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16);
  }

  private static float f16(byte[] b, int p) {
    return Float.float16ToFloat(getI16(b, p));
  }

  private static void putI16(byte[] b, int p, short v) {
    b[p] = (byte) v;
    b[p + 1] = (byte) (v >> 8);
  }

  private static void putI32(byte[] b, int p, int v) {
    b[p] = (byte) v;
    b[p + 1] = (byte) (v >> 8);
    b[p + 2] = (byte) (v >> 16);
    b[p + 3] = (byte) (v >> 24);
  }

  private static short getI16(byte[] b, int p) {
    return (short) ((b[p] & 0xff) | (b[p + 1] << 8));
  }

  private static int getI32(byte[] b, int p) {
    return (b[p] & 0xff) | ((b[p + 1] & 0xff) << 8) | ((b[p + 2] & 0xff) << 16) | (b[p + 3] << 24);
  }
}
