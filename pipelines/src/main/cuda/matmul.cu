// y[t, r] = sum_c W[r, c] * x[t, c] (+ bias[r]) (+ y[t, r] when accumulate), for weights in their
// GGUF type. One warp per output row, 4 rows per 128-thread block; a warp dequantizes its lane's
// slice of the row once per chunk of NT tokens and applies it to all of them, so a decode batch
// reads each weight row once from memory (later chunks hit L1). Weight loads are 16 bytes wide where
// the layout allows it (F32, F16, BF16, Q4_K) and 2 or 4 bytes for the odd-sized Q8_0/Q4_0/Q6_K
// blocks (34, 18 and 210 bytes, only 2-byte aligned), with neighbouring lanes on neighbouring bytes.
// Grid: (ceil(rows / 4), ceil(T / TOK_PER_BLOCK)).
#include "sluice_common.cuh"

#define MM_WARPS 4
#define TOK_PER_BLOCK 32

// Each DOT accumulates, per lane, partial sums acc[t] for tokens t < nt of x (token stride cols).
// Single-token (decode) variants unroll deeper so more weight loads are in flight per warp: decode is
// bound by memory latency x parallelism, not arithmetic.

// ---- single-token dot products: loads first, then arithmetic ----
// A plain loop unrolled by U leaves a remainder loop that issues one iteration's loads, waits for
// them, and only then the next: a row part of 12 Q8_0 blocks (3 lane-group steps) took 3 dependent
// memory round trips. These variants load U steps into registers at clamped (always valid) indices,
// then do the arithmetic, discarding the out-of-range steps with a select, so every round trip
// carries U steps and a part costs ceil(steps / U) rounds. Used for NT == 1 (decode).

template <int U>
SL_HD void dot1_f32(const uint8_t* row, int cols, const float* x, float* acc, int lane) {
  const float4* w4 = reinterpret_cast<const float4*>(row);
  const float4* x4 = reinterpret_cast<const float4*>(x);
  int n4 = cols >> 2;
  for (int base = 0; base < n4; base += WARP * U) {
    float4 a[U], b[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
      int i = min(base + lane + u * WARP, n4 - 1);
      a[u] = SL_LDG(w4 + i);
      b[u] = x4[i];
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
      float v = a[u].x * b[u].x + a[u].y * b[u].y + a[u].z * b[u].z + a[u].w * b[u].w;
      acc[0] += (base + lane + u * WARP < n4) ? v : 0.f;
    }
  }
}

template <int U, bool BF>
SL_HD void dot1_16(const uint8_t* row, int cols, const float* x, float* acc, int lane) {
  const uint4* w8 = reinterpret_cast<const uint4*>(row);
  const float4* x4 = reinterpret_cast<const float4*>(x);
  int n8 = cols >> 3;
  for (int base = 0; base < n8; base += WARP * U) {
    uint4 raw[U];
    float4 b0[U], b1[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
      int i = min(base + lane + u * WARP, n8 - 1);
      raw[u] = SL_LDG(w8 + i);
      b0[u] = x4[2 * i];
      b1[u] = x4[2 * i + 1];
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
      uint32_t words[4] = {raw[u].x, raw[u].y, raw[u].z, raw[u].w};
      float a[8];
#pragma unroll
      for (int k = 0; k < 4; k++) {
        uint16_t lo = (uint16_t)(words[k] & 0xFFFF), hi = (uint16_t)(words[k] >> 16);
        a[2 * k] = BF ? bf16_to_float(lo) : half_bits_to_float(lo);
        a[2 * k + 1] = BF ? bf16_to_float(hi) : half_bits_to_float(hi);
      }
      float v = a[0] * b0[u].x + a[1] * b0[u].y + a[2] * b0[u].z + a[3] * b0[u].w +
                a[4] * b1[u].x + a[5] * b1[u].y + a[6] * b1[u].z + a[7] * b1[u].w;
      acc[0] += (base + lane + u * WARP < n8) ? v : 0.f;
    }
  }
}

template <int U>
SL_HD void dot1_q8_0(const uint8_t* row, int cols, const float* x, float* acc, int lane) {
  int nb = cols / QK8_0, sub = lane & 7, g = lane >> 3;
  for (int base = 0; base < nb; base += 4 * U) {
    uint16_t dh[U], lo[U], hi[U];
    float4 xv[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
      int b = min(base + g + 4 * u, nb - 1);
      const uint8_t* blk = row + (long long)b * Q8_0_BYTES;
      const uint16_t* qs = reinterpret_cast<const uint16_t*>(blk + 2 + sub * 4);
      dh[u] = *reinterpret_cast<const uint16_t*>(blk);
      lo[u] = qs[0];
      hi[u] = qs[1];
      xv[u] = *reinterpret_cast<const float4*>(x + b * QK8_0 + sub * 4);
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
      float d = half_bits_to_float(dh[u]);
      float v = (float)(int8_t)(lo[u] & 0xFF) * xv[u].x + (float)(int8_t)(lo[u] >> 8) * xv[u].y +
                (float)(int8_t)(hi[u] & 0xFF) * xv[u].z + (float)(int8_t)(hi[u] >> 8) * xv[u].w;
      acc[0] += (base + g + 4 * u < nb) ? d * v : 0.f;
    }
  }
}

template <int U>
SL_HD void dot1_q4_0(const uint8_t* row, int cols, const float* x, float* acc, int lane) {
  int nb = cols / QK4_0, sub = lane & 7, g = lane >> 3;
  for (int base = 0; base < nb; base += 4 * U) {
    uint16_t dh[U], qv[U];
    float2 xl[U], xh[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
      int b = min(base + g + 4 * u, nb - 1);
      const uint8_t* blk = row + (long long)b * Q4_0_BYTES;
      dh[u] = *reinterpret_cast<const uint16_t*>(blk);
      qv[u] = *reinterpret_cast<const uint16_t*>(blk + 2 + sub * 2);
      const float* xt = x + b * QK4_0 + sub * 2;
      xl[u] = *reinterpret_cast<const float2*>(xt);
      xh[u] = *reinterpret_cast<const float2*>(xt + 16);
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
      int b0 = qv[u] & 0xFF, b1 = qv[u] >> 8;
      float v = (float)((b0 & 0xF) - 8) * xl[u].x + (float)((b1 & 0xF) - 8) * xl[u].y +
                (float)((b0 >> 4) - 8) * xh[u].x + (float)((b1 >> 4) - 8) * xh[u].y;
      acc[0] += (base + g + 4 * u < nb) ? half_bits_to_float(dh[u]) * v : 0.f;
    }
  }
}

// Byte k (0..11) of the Q4_K scales held in three 32-bit words, without a local-memory array.
SL_HD uint32_t scale_byte(uint32_t w0, uint32_t w1, uint32_t w2, int k) {
  uint32_t w = k < 4 ? w0 : (k < 8 ? w1 : w2);
  return (w >> (8 * (k & 3))) & 0xFF;
}

// q4k_scale_min on the scale words: 6-bit scale and min of sub-block j (0..7).
SL_HD void q4k_scale_min_w(int j, uint32_t w0, uint32_t w1, uint32_t w2, float* sc, float* m) {
  uint32_t a = scale_byte(w0, w1, w2, j), b = scale_byte(w0, w1, w2, j + 4);
  if (j < 4) {
    *sc = (float)(a & 63);
    *m = (float)(b & 63);
  } else {
    uint32_t c = scale_byte(w0, w1, w2, j - 4);
    *sc = (float)((b & 0xF) | ((c >> 6) << 4));
    *m = (float)((b >> 4) | ((a >> 6) << 4));
  }
}

template <int U>
SL_HD void dot1_q4_k(const uint8_t* row, int cols, const float* x, float* acc, int lane) {
  int nb = cols / QK_K, chunk = lane >> 3, sub8 = lane & 7;
  for (int base = 0; base < nb; base += U) {
    uint32_t dm[U], sc[U][3], q[U];
    float4 xa[U], xc[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
      int b = min(base + u, nb - 1);
      const uint8_t* blk = row + (long long)b * Q4_K_BYTES;  // 16-byte aligned (144 = 9 x 16)
      const uint32_t* w = reinterpret_cast<const uint32_t*>(blk);
      dm[u] = w[0];
      sc[u][0] = w[1];
      sc[u][1] = w[2];
      sc[u][2] = w[3];
      q[u] = *reinterpret_cast<const uint32_t*>(blk + 16 + chunk * 32 + sub8 * 4);
      const float* xt = x + b * QK_K + chunk * 64 + sub8 * 4;
      xa[u] = *reinterpret_cast<const float4*>(xt);
      xc[u] = *reinterpret_cast<const float4*>(xt + 32);
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
      float d = half_bits_to_float((uint16_t)(dm[u] & 0xFFFF));
      float dmin = half_bits_to_float((uint16_t)(dm[u] >> 16));
      float sc0, m0, sc1, m1;
      q4k_scale_min_w(2 * chunk, sc[u][0], sc[u][1], sc[u][2], &sc0, &m0);
      q4k_scale_min_w(2 * chunk + 1, sc[u][0], sc[u][1], sc[u][2], &sc1, &m1);
      float d0 = d * sc0, mm0 = dmin * m0, d1 = d * sc1, mm1 = dmin * m1;
      float xs[4] = {xa[u].x, xa[u].y, xa[u].z, xa[u].w};
      float xt[4] = {xc[u].x, xc[u].y, xc[u].z, xc[u].w};
      float v = 0.f;
#pragma unroll
      for (int k = 0; k < 4; k++) {
        uint32_t byte = (q[u] >> (8 * k)) & 0xFF;
        v += (d0 * (float)(byte & 0xF) - mm0) * xs[k] + (d1 * (float)(byte >> 4) - mm1) * xt[k];
      }
      acc[0] += (base + u < nb) ? v : 0.f;
    }
  }
}

template <int U>
SL_HD void dot1_q6_k(const uint8_t* row, int cols, const float* x, float* acc, int lane) {
  int nb = cols / QK_K, n = lane >> 4, li = (lane & 15) * 2, is = li / 16;
  for (int base = 0; base < nb; base += U) {
    uint16_t qla[U], qlb[U], qhv[U], dh[U];
    int8_t s[U][4];
    float2 xv[U][4];
#pragma unroll
    for (int u = 0; u < U; u++) {
      int b = min(base + u, nb - 1);
      const uint8_t* blk = row + (long long)b * Q6_K_BYTES;
      const uint8_t* ql = blk + 64 * n;
      const uint8_t* qh = blk + 128 + 32 * n;
      const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192) + 8 * n;
      qla[u] = *reinterpret_cast<const uint16_t*>(ql + li);
      qlb[u] = *reinterpret_cast<const uint16_t*>(ql + 32 + li);
      qhv[u] = *reinterpret_cast<const uint16_t*>(qh + li);
      dh[u] = *reinterpret_cast<const uint16_t*>(blk + 208);
#pragma unroll
      for (int k = 0; k < 4; k++) s[u][k] = sc[is + 2 * k];
      const float* xt = x + b * QK_K + 128 * n + li;
#pragma unroll
      for (int k = 0; k < 4; k++) xv[u][k] = *reinterpret_cast<const float2*>(xt + 32 * k);
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
      float d = half_bits_to_float(dh[u]);
      float v = 0.f;
#pragma unroll
      for (int k = 0; k < 2; k++) {
        int a = (qla[u] >> (8 * k)) & 0xFF, c = (qlb[u] >> (8 * k)) & 0xFF;
        int h = (qhv[u] >> (8 * k)) & 0xFF;
        float x0 = k ? xv[u][0].y : xv[u][0].x, x1 = k ? xv[u][1].y : xv[u][1].x;
        float x2 = k ? xv[u][2].y : xv[u][2].x, x3 = k ? xv[u][3].y : xv[u][3].x;
        v += (float)s[u][0] * (float)(((a & 0xF) | (((h >> 0) & 3) << 4)) - 32) * x0 +
             (float)s[u][1] * (float)(((c & 0xF) | (((h >> 2) & 3) << 4)) - 32) * x1 +
             (float)s[u][2] * (float)(((a >> 4) | (((h >> 4) & 3) << 4)) - 32) * x2 +
             (float)s[u][3] * (float)(((c >> 4) | (((h >> 6) & 3) << 4)) - 32) * x3;
      }
      acc[0] += (base + u < nb) ? d * v : 0.f;
    }
  }
}

template <int NT>
SL_HD void dot_f32(const uint8_t* row, int cols, const float* x, int nt,
                                        float* acc, int lane) {
  if constexpr (NT == 1) {
    if ((cols & 3) == 0) {
      dot1_f32<8>(row, cols, x, acc, lane);
      return;
    }
  }
  const float* w = reinterpret_cast<const float*>(row);
  if ((cols & 3) == 0) {
    const float4* w4 = reinterpret_cast<const float4*>(w);
    int n4 = cols >> 2;
#pragma unroll(NT == 1 ? 8 : 4)
    for (int i = lane; i < n4; i += WARP) {
      float4 a = SL_LDG(w4 + i);
#pragma unroll
      for (int t = 0; t < NT; t++) {
        if (t < nt) {
          float4 b = *(reinterpret_cast<const float4*>(x + (long long)t * cols) + i);
          acc[t] += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
        }
      }
    }
  } else {
    for (int i = lane; i < cols; i += WARP) {
      float a = w[i];
#pragma unroll
      for (int t = 0; t < NT; t++)
        if (t < nt) acc[t] += a * x[(long long)t * cols + i];
    }
  }
}

// 16-bit floats: 8 per 16-byte load when rows are 16-byte aligned (cols % 8 == 0).
template <int NT, bool BF>
SL_HD void dot_16(const uint8_t* row, int cols, const float* x, int nt,
                                       float* acc, int lane) {
  if constexpr (NT == 1) {
    if ((cols & 7) == 0) {
      dot1_16<4, BF>(row, cols, x, acc, lane);
      return;
    }
  }
  const uint16_t* w = reinterpret_cast<const uint16_t*>(row);
  if ((cols & 7) == 0) {
    const uint4* w8 = reinterpret_cast<const uint4*>(w);
    int n8 = cols >> 3;
#pragma unroll(NT == 1 ? 4 : 2)
    for (int i = lane; i < n8; i += WARP) {
      uint4 raw = SL_LDG(w8 + i);
      uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
      float a[8];
#pragma unroll
      for (int k = 0; k < 4; k++) {
        uint16_t lo = (uint16_t)(words[k] & 0xFFFF), hi = (uint16_t)(words[k] >> 16);
        a[2 * k] = BF ? bf16_to_float(lo) : half_bits_to_float(lo);
        a[2 * k + 1] = BF ? bf16_to_float(hi) : half_bits_to_float(hi);
      }
#pragma unroll
      for (int t = 0; t < NT; t++) {
        if (t < nt) {
          const float4* xb = reinterpret_cast<const float4*>(x + (long long)t * cols) + 2 * i;
          float4 b0 = xb[0], b1 = xb[1];
          acc[t] += a[0] * b0.x + a[1] * b0.y + a[2] * b0.z + a[3] * b0.w + a[4] * b1.x +
                    a[5] * b1.y + a[6] * b1.z + a[7] * b1.w;
        }
      }
    }
  } else {
    for (int i = lane; i < cols; i += WARP) {
      float a = BF ? bf16_to_float(w[i]) : half_bits_to_float(w[i]);
#pragma unroll
      for (int t = 0; t < NT; t++)
        if (t < nt) acc[t] += a * x[(long long)t * cols + i];
    }
  }
}

template <int NT>
SL_HD void dot_f16(const uint8_t* row, int cols, const float* x, int nt,
                                        float* acc, int lane) {
  dot_16<NT, false>(row, cols, x, nt, acc, lane);
}
template <int NT>
SL_HD void dot_bf16(const uint8_t* row, int cols, const float* x, int nt,
                                         float* acc, int lane) {
  dot_16<NT, true>(row, cols, x, nt, acc, lane);
}

// Q8_0: 8 lanes per 34-byte block (4 quants each), 4 blocks per warp step.
template <int NT>
SL_HD void dot_q8_0(const uint8_t* row, int cols, const float* x, int nt,
                                         float* acc, int lane) {
  if constexpr (NT == 1) {
    dot1_q8_0<8>(row, cols, x, acc, lane);
    return;
  }
  int nb = cols / QK8_0, sub = lane & 7;
#pragma unroll(NT == 1 ? 8 : 4)
  for (int b = lane >> 3; b < nb; b += 4) {
    const uint8_t* blk = row + (long long)b * Q8_0_BYTES;
    float d = ld_half(blk);
    const uint16_t* qs = reinterpret_cast<const uint16_t*>(blk + 2 + sub * 4);
    uint16_t lo = qs[0], hi = qs[1];
    float w0 = d * (float)(int8_t)(lo & 0xFF), w1 = d * (float)(int8_t)(lo >> 8);
    float w2 = d * (float)(int8_t)(hi & 0xFF), w3 = d * (float)(int8_t)(hi >> 8);
    int xi = b * QK8_0 + sub * 4;
#pragma unroll
    for (int t = 0; t < NT; t++) {
      if (t < nt) {
        float4 v = *reinterpret_cast<const float4*>(x + (long long)t * cols + xi);
        acc[t] += w0 * v.x + w1 * v.y + w2 * v.z + w3 * v.w;
      }
    }
  }
}

// Q4_0: 8 lanes per 18-byte block (2 quant bytes = 4 values each), 4 blocks per warp step.
template <int NT>
SL_HD void dot_q4_0(const uint8_t* row, int cols, const float* x, int nt,
                                         float* acc, int lane) {
  if constexpr (NT == 1) {
    dot1_q4_0<8>(row, cols, x, acc, lane);
    return;
  }
  int nb = cols / QK4_0, sub = lane & 7;
#pragma unroll(NT == 1 ? 8 : 4)
  for (int b = lane >> 3; b < nb; b += 4) {
    const uint8_t* blk = row + (long long)b * Q4_0_BYTES;
    float d = ld_half(blk);
    uint16_t v = *reinterpret_cast<const uint16_t*>(blk + 2 + sub * 2);
    int b0 = v & 0xFF, b1 = v >> 8;
    float w0 = d * (float)((b0 & 0xF) - 8), w1 = d * (float)((b1 & 0xF) - 8);
    float w16 = d * (float)((b0 >> 4) - 8), w17 = d * (float)((b1 >> 4) - 8);
    int xi = b * QK4_0 + sub * 2;
#pragma unroll
    for (int t = 0; t < NT; t++) {
      if (t < nt) {
        const float* xt = x + (long long)t * cols + xi;
        float2 lo = *reinterpret_cast<const float2*>(xt);
        float2 hi = *reinterpret_cast<const float2*>(xt + 16);
        acc[t] += w0 * lo.x + w1 * lo.y + w16 * hi.x + w17 * hi.y;
      }
    }
  }
}

// Q4_K: a warp takes one 144-byte super-block per step; lane l reads 4 quant bytes (one 32-bit
// load) of 64-element chunk l/8: 4 low nibbles (sub-block 2*chunk) and 4 high (2*chunk + 1).
template <int NT>
SL_HD void dot_q4_k(const uint8_t* row, int cols, const float* x, int nt,
                                         float* acc, int lane) {
  if constexpr (NT == 1) {
    dot1_q4_k<2>(row, cols, x, acc, lane);
    return;
  }
  int nb = cols / QK_K, chunk = lane >> 3, sub8 = lane & 7;
#pragma unroll(NT == 1 ? 4 : 2)
  for (int b = 0; b < nb; b++) {
    const uint8_t* blk = row + (long long)b * Q4_K_BYTES;
    float d = ld_half(blk), dmin = ld_half(blk + 2);
    float sc0, m0, sc1, m1;
    q4k_scale_min(2 * chunk, blk + 4, &sc0, &m0);
    q4k_scale_min(2 * chunk + 1, blk + 4, &sc1, &m1);
    float d0 = d * sc0, mm0 = dmin * m0, d1 = d * sc1, mm1 = dmin * m1;
    uint32_t q = *reinterpret_cast<const uint32_t*>(blk + 16 + chunk * 32 + sub8 * 4);
    float lo[4], hi[4];
#pragma unroll
    for (int k = 0; k < 4; k++) {
      uint32_t byte = (q >> (8 * k)) & 0xFF;
      lo[k] = d0 * (float)(byte & 0xF) - mm0;
      hi[k] = d1 * (float)(byte >> 4) - mm1;
    }
    int xi = b * QK_K + chunk * 64 + sub8 * 4;
#pragma unroll
    for (int t = 0; t < NT; t++) {
      if (t < nt) {
        const float* xt = x + (long long)t * cols + xi;
        float4 a = *reinterpret_cast<const float4*>(xt);
        float4 c = *reinterpret_cast<const float4*>(xt + 32);
        acc[t] += lo[0] * a.x + lo[1] * a.y + lo[2] * a.z + lo[3] * a.w + hi[0] * c.x +
                  hi[1] * c.y + hi[2] * c.z + hi[3] * c.w;
      }
    }
  }
}

// Q6_K: a warp takes one 210-byte super-block per step; lanes 0-15 the first 128 elements, 16-31
// the second; each lane two adjacent positions l of ggml's loop, i.e. 8 values.
template <int NT>
SL_HD void dot_q6_k(const uint8_t* row, int cols, const float* x, int nt,
                                         float* acc, int lane) {
  if constexpr (NT == 1) {
    dot1_q6_k<4>(row, cols, x, acc, lane);
    return;
  }
  int nb = cols / QK_K, n = lane >> 4, li = (lane & 15) * 2, is = li / 16;
#pragma unroll(NT == 1 ? 4 : 2)
  for (int b = 0; b < nb; b++) {
    const uint8_t* blk = row + (long long)b * Q6_K_BYTES;
    const uint8_t* ql = blk + 64 * n;
    const uint8_t* qh = blk + 128 + 32 * n;
    const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192) + 8 * n;
    float d = ld_half(blk + 208);
    uint16_t qla = *reinterpret_cast<const uint16_t*>(ql + li);
    uint16_t qlb = *reinterpret_cast<const uint16_t*>(ql + 32 + li);
    uint16_t qhv = *reinterpret_cast<const uint16_t*>(qh + li);
    float s0 = d * sc[is], s1 = d * sc[is + 2], s2 = d * sc[is + 4], s3 = d * sc[is + 6];
    float w[2][4];
#pragma unroll
    for (int k = 0; k < 2; k++) {
      int a = (qla >> (8 * k)) & 0xFF, c = (qlb >> (8 * k)) & 0xFF, h = (qhv >> (8 * k)) & 0xFF;
      w[k][0] = s0 * (float)(((a & 0xF) | (((h >> 0) & 3) << 4)) - 32);
      w[k][1] = s1 * (float)(((c & 0xF) | (((h >> 2) & 3) << 4)) - 32);
      w[k][2] = s2 * (float)(((a >> 4) | (((h >> 4) & 3) << 4)) - 32);
      w[k][3] = s3 * (float)(((c >> 4) | (((h >> 6) & 3) << 4)) - 32);
    }
    int xi = b * QK_K + 128 * n + li;
#pragma unroll
    for (int t = 0; t < NT; t++) {
      if (t < nt) {
        const float* xt = x + (long long)t * cols + xi;
        float2 x0 = *reinterpret_cast<const float2*>(xt);
        float2 x1 = *reinterpret_cast<const float2*>(xt + 32);
        float2 x2 = *reinterpret_cast<const float2*>(xt + 64);
        float2 x3 = *reinterpret_cast<const float2*>(xt + 96);
        acc[t] += w[0][0] * x0.x + w[1][0] * x0.y + w[0][1] * x1.x + w[1][1] * x1.y +
                  w[0][2] * x2.x + w[1][2] * x2.y + w[0][3] * x3.x + w[1][3] * x3.y;
      }
    }
  }
}

// The token loop shared by the matmul kernels: for tokens [blockIdx.y * TOK_PER_BLOCK, +32) in
// chunks of NT, warp-reduce the lanes' partial sums and let lane 0 write y[t, r] (+ bias, + old y).
#define MM_TOKENS(DOT, NT, ROW, Y, ROWS, R, BIAS, ACCUMULATE)                                   \
  {                                                                                            \
    int tEnd = min(T, (int)(blockIdx.y + 1) * TOK_PER_BLOCK);                                  \
    for (int t0 = blockIdx.y * TOK_PER_BLOCK; t0 < tEnd; t0 += NT) {                           \
      int nt = min(NT, tEnd - t0);                                                             \
      float acc[NT];                                                                           \
      _Pragma("unroll") for (int t = 0; t < NT; t++) acc[t] = 0.f;                             \
      DOT<NT>(ROW, cols, x + (long long)t0 * cols, nt, acc, lane);                             \
      _Pragma("unroll") for (int t = 0; t < NT; t++) {                                         \
        if (t < nt) {                                                                          \
          float s = warp_sum(acc[t]);                                                          \
          if (lane == 0) {                                                                     \
            if (BIAS != nullptr) s += BIAS[R];                                                 \
            long long o = (long long)(t0 + t) * ROWS + R;                                      \
            Y[o] = (ACCUMULATE) ? Y[o] + s : s;                                                \
          }                                                                                    \
        }                                                                                      \
      }                                                                                        \
    }                                                                                          \
  }

// y (T, rows) = x (T, cols) W^T (+ bias) (+ y when accumulate); w: rows x rowBytes; bias or null.
#define MATMUL(NAME, DOT, NT)                                                                  \
  extern "C" __global__ void __launch_bounds__(MM_WARPS * WARP)                                \
      NAME(const uint8_t* __restrict__ w, long long rowBytes, const float* __restrict__ x,     \
           float* __restrict__ y, const float* __restrict__ bias, int rows, int cols, int T,   \
           int accumulate) {                                                                   \
    int r = blockIdx.x * MM_WARPS + (threadIdx.x >> 5);                                        \
    int lane = threadIdx.x & 31;                                                               \
    if (r >= rows) return;                                                                     \
    const uint8_t* row = w + (long long)r * rowBytes;                                          \
    MM_TOKENS(DOT, NT, row, y, rows, r, bias, accumulate)                                      \
  }

// Q, K and V projections in one launch (same weight type and width): warps [0, rowsQ) compute q,
// the next rowsKV k, the last rowsKV v, each with its bias (or null).
#define MATMUL_QKV(NAME, DOT, NT)                                                              \
  extern "C" __global__ void __launch_bounds__(MM_WARPS * WARP)                                \
      NAME(const uint8_t* __restrict__ wq, const uint8_t* __restrict__ wk,                     \
           const uint8_t* __restrict__ wv, long long rowBytes, const float* __restrict__ x,    \
           float* __restrict__ yq, float* __restrict__ yk, float* __restrict__ yv,             \
           const float* __restrict__ bq, const float* __restrict__ bk,                         \
           const float* __restrict__ bv, int rowsQ, int rowsKV, int cols, int T) {             \
    int r = blockIdx.x * MM_WARPS + (threadIdx.x >> 5);                                        \
    int lane = threadIdx.x & 31;                                                               \
    if (r >= rowsQ + 2 * rowsKV) return;                                                       \
    const uint8_t* w;                                                                          \
    float* y;                                                                                  \
    const float* b;                                                                            \
    int rows;                                                                                  \
    if (r < rowsQ) {                                                                           \
      w = wq; y = yq; b = bq; rows = rowsQ;                                                    \
    } else if (r < rowsQ + rowsKV) {                                                           \
      r -= rowsQ; w = wk; y = yk; b = bk; rows = rowsKV;                                       \
    } else {                                                                                   \
      r -= rowsQ + rowsKV; w = wv; y = yv; b = bv; rows = rowsKV;                              \
    }                                                                                          \
    const uint8_t* row = w + (long long)r * rowBytes;                                          \
    MM_TOKENS(DOT, NT, row, y, rows, r, b, 0)                                                  \
  }

// SwiGLU feed-forward input in one launch: y[t, r] = silu(gate_r . x_t) * (up_r . x_t).
#define MATMUL_GATE_UP(NAME, DOT, NT)                                                          \
  extern "C" __global__ void __launch_bounds__(MM_WARPS * WARP)                                \
      NAME(const uint8_t* __restrict__ wg, const uint8_t* __restrict__ wu, long long rowBytes, \
           const float* __restrict__ x, float* __restrict__ y, int rows, int cols, int T) {    \
    int r = blockIdx.x * MM_WARPS + (threadIdx.x >> 5);                                        \
    int lane = threadIdx.x & 31;                                                               \
    if (r >= rows) return;                                                                     \
    const uint8_t* rowG = wg + (long long)r * rowBytes;                                        \
    const uint8_t* rowU = wu + (long long)r * rowBytes;                                        \
    int tEnd = min(T, (int)(blockIdx.y + 1) * TOK_PER_BLOCK);                                  \
    for (int t0 = blockIdx.y * TOK_PER_BLOCK; t0 < tEnd; t0 += NT) {                           \
      int nt = min(NT, tEnd - t0);                                                             \
      float g[NT], u[NT];                                                                      \
      _Pragma("unroll") for (int t = 0; t < NT; t++) { g[t] = 0.f; u[t] = 0.f; }               \
      DOT<NT>(rowG, cols, x + (long long)t0 * cols, nt, g, lane);                              \
      DOT<NT>(rowU, cols, x + (long long)t0 * cols, nt, u, lane);                              \
      _Pragma("unroll") for (int t = 0; t < NT; t++) {                                         \
        if (t < nt) {                                                                          \
          float gs = warp_sum(g[t]);                                                           \
          float us = warp_sum(u[t]);                                                           \
          if (lane == 0) y[(long long)(t0 + t) * rows + r] = gs / (1.0f + expf(-gs)) * us;     \
        }                                                                                      \
      }                                                                                        \
    }                                                                                          \
  }

// ---- single-token (decode) kernels: split-K ----
// One token leaves a narrow matrix (1536 rows: o-proj, down) with one warp per row far too few warps
// to keep enough loads in flight, and each warp walks its whole row (8960 columns for down) in
// dependent rounds of loads. These kernels give each row `split` (1, 2, 4 or 8) consecutive warps of
// a 256-thread block, each over a contiguous run of whole units (G elements, UB bytes: 16-byte
// vectors for F32/F16/BF16, quant blocks otherwise), and add the warps' sums in shared memory. The
// host picks split so rows * split fills the GPU (CudaKernels.splitFor); split 1 covers the whole row
// as before (any width, scalar tails included).
#define MM1_WARPS 8
#define NORM_NR 8

// Columns [*c0, *c0 + *n) and the row byte offset *off of part `part` of `split`.
SL_HD void split_cols(int cols, int g, int ub, int part, int split, int* c0, int* n,
                      long long* off) {
  if (split <= 1) {
    *c0 = 0;
    *n = cols;
    *off = 0;
    return;
  }
  int nu = cols / g;
  int u0 = (int)((long long)nu * part / split), u1 = (int)((long long)nu * (part + 1) / split);
  *c0 = u0 * g;
  *n = (u1 - u0) * g;
  *off = (long long)u0 * ub;
}

// Adds the other parts' sums (warps wi + 1 .. wi + split - 1) into part 0's s. Every thread of the
// block must call it (it has a barrier).
__device__ __forceinline__ float split_reduce(float s, float* red, int wi, int part, int split) {
  if (split > 1) {
    if ((threadIdx.x & 31) == 0) red[wi] = s;
    __syncthreads();
    if (part == 0)
      for (int j = 1; j < split; j++) s += red[wi + j];
  }
  return s;
}

// Optional RMSNorm of the single input row, fused into the QKV and gate/up kernels (it saves a
// launch per use, two per layer): with normW set, every block normalises x (cols floats) into
// dynamic shared memory, in the same order and expression as the rmsnorm kernel (256 threads), so
// the result is bit-identical to running rmsnorm first; the dots then read x from shared memory.
// Returns the row the dots read. Every thread of the block must call it (barriers).
__device__ __forceinline__ const float* norm_prologue(const float* __restrict__ x,
                                                      const float* __restrict__ normW, float eps,
                                                      int cols) {
  if (normW == nullptr) return x;
  extern __shared__ float4 mm_xs4[];
  float* xs = reinterpret_cast<float*>(mm_xs4);
  float ss = 0.f;
  if (cols <= NORM_NR * (int)blockDim.x) {
    // Up to NORM_NR elements per thread (cols <= 2048 with 256 threads: every 1.5B-8B width but
    // the FFN's): x and normW loaded together into registers before any use, one round trip
    // instead of 2 x cols / 256 dependent ones (a run-time loop issues load, use, load, use...).
    // Same sum order and expressions as below and as the rmsnorm kernel: bit-identical.
    float xv[NORM_NR], wv[NORM_NR];
#pragma unroll
    for (int k = 0; k < NORM_NR; k++) {
      int i = threadIdx.x + k * blockDim.x;
      xv[k] = i < cols ? x[i] : 0.f;
      wv[k] = i < cols ? normW[i] : 0.f;
    }
#pragma unroll
    for (int k = 0; k < NORM_NR; k++)
      if (threadIdx.x + k * blockDim.x < cols) ss += xv[k] * xv[k];
    ss = block_sum(ss);
    float inv = 1.0f / sqrtf(ss / (float)cols + eps);
#pragma unroll
    for (int k = 0; k < NORM_NR; k++) {
      int i = threadIdx.x + k * blockDim.x;
      if (i < cols) xs[i] = xv[k] * inv * wv[k];
    }
    __syncthreads();
    return xs;
  }
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    float v = x[i];
    xs[i] = v;
    ss += v * v;
  }
  ss = block_sum(ss);
  float inv = 1.0f / sqrtf(ss / (float)cols + eps);
  for (int i = threadIdx.x; i < cols; i += blockDim.x) xs[i] = xs[i] * inv * normW[i];
  __syncthreads();
  return xs;
}

#define MATMUL1(NAME, DOT, G, UB)                                                              \
  extern "C" __global__ void __launch_bounds__(MM1_WARPS * WARP)                               \
      NAME(const uint8_t* __restrict__ w, long long rowBytes, const float* __restrict__ x,     \
           float* __restrict__ y, const float* __restrict__ bias, int rows, int cols, int T,   \
           int accumulate, int split) {                                                        \
    __shared__ float red[MM1_WARPS];                                                           \
    int wi = threadIdx.x >> 5, lane = threadIdx.x & 31;                                        \
    int part = wi % split;                                                                     \
    int r = blockIdx.x * (MM1_WARPS / split) + wi / split;                                     \
    int c0, n;                                                                                 \
    long long off;                                                                             \
    split_cols(cols, G, UB, part, split, &c0, &n, &off);                                       \
    float acc[1] = {0.f};                                                                      \
    if (r < rows) DOT<1>(w + (long long)r * rowBytes + off, n, x + c0, 1, acc, lane);          \
    float s = split_reduce(warp_sum(acc[0]), red, wi, part, split);                            \
    if (lane == 0 && part == 0 && r < rows) {                                                  \
      if (bias != nullptr) s += bias[r];                                                       \
      y[r] = accumulate ? y[r] + s : s;                                                        \
    }                                                                                          \
  }

#define MATMUL_QKV1(NAME, DOT, G, UB)                                                          \
  extern "C" __global__ void __launch_bounds__(MM1_WARPS * WARP)                               \
      NAME(const uint8_t* __restrict__ wq, const uint8_t* __restrict__ wk,                     \
           const uint8_t* __restrict__ wv, long long rowBytes, const float* __restrict__ x,    \
           float* __restrict__ yq, float* __restrict__ yk, float* __restrict__ yv,             \
           const float* __restrict__ bq, const float* __restrict__ bk,                         \
           const float* __restrict__ bv, int rowsQ, int rowsKV, int cols, int T, int split,    \
           const float* __restrict__ normW, float eps) {                                       \
    __shared__ float red[MM1_WARPS];                                                           \
    const float* xin = norm_prologue(x, normW, eps, cols);                                     \
    int wi = threadIdx.x >> 5, lane = threadIdx.x & 31;                                        \
    int part = wi % split;                                                                     \
    int r = blockIdx.x * (MM1_WARPS / split) + wi / split;                                     \
    bool active = r < rowsQ + 2 * rowsKV;                                                      \
    const uint8_t* w;                                                                          \
    float* y;                                                                                  \
    const float* b;                                                                            \
    if (r < rowsQ) {                                                                           \
      w = wq; y = yq; b = bq;                                                                  \
    } else if (r < rowsQ + rowsKV) {                                                           \
      r -= rowsQ; w = wk; y = yk; b = bk;                                                      \
    } else {                                                                                   \
      r -= rowsQ + rowsKV; w = wv; y = yv; b = bv;                                             \
    }                                                                                          \
    int c0, n;                                                                                 \
    long long off;                                                                             \
    split_cols(cols, G, UB, part, split, &c0, &n, &off);                                       \
    float acc[1] = {0.f};                                                                      \
    if (active) DOT<1>(w + (long long)r * rowBytes + off, n, xin + c0, 1, acc, lane);          \
    float s = split_reduce(warp_sum(acc[0]), red, wi, part, split);                            \
    if (lane == 0 && part == 0 && active) y[r] = (b != nullptr) ? s + b[r] : s;                \
  }

#define MATMUL_GATE_UP1(NAME, DOT, G, UB)                                                      \
  extern "C" __global__ void __launch_bounds__(MM1_WARPS * WARP)                               \
      NAME(const uint8_t* __restrict__ wg, const uint8_t* __restrict__ wu, long long rowBytes, \
           const float* __restrict__ x, float* __restrict__ y, int rows, int cols, int T,      \
           int split, const float* __restrict__ normW, float eps) {                            \
    __shared__ float redG[MM1_WARPS], redU[MM1_WARPS];                                         \
    const float* xin = norm_prologue(x, normW, eps, cols);                                     \
    int wi = threadIdx.x >> 5, lane = threadIdx.x & 31;                                        \
    int part = wi % split;                                                                     \
    int r = blockIdx.x * (MM1_WARPS / split) + wi / split;                                     \
    int c0, n;                                                                                 \
    long long off;                                                                             \
    split_cols(cols, G, UB, part, split, &c0, &n, &off);                                       \
    float g[1] = {0.f}, u[1] = {0.f};                                                          \
    if (r < rows) {                                                                            \
      DOT<1>(wg + (long long)r * rowBytes + off, n, xin + c0, 1, g, lane);                     \
      DOT<1>(wu + (long long)r * rowBytes + off, n, xin + c0, 1, u, lane);                     \
    }                                                                                          \
    float gs = split_reduce(warp_sum(g[0]), redG, wi, part, split);                            \
    float us = split_reduce(warp_sum(u[0]), redU, wi, part, split);                            \
    if (lane == 0 && part == 0 && r < rows) y[r] = gs / (1.0f + expf(-gs)) * us;               \
  }

// Suffix-less names take one token (decode of one sequence, split-K); _b names take batches
// (NT = 8 tokens per pass). G, UB: elements and bytes of the unit a split boundary falls on.
#define ALL(TYPE, G, UB)                                   \
  MATMUL1(matmul_##TYPE, dot_##TYPE, G, UB)                \
  MATMUL(matmul_##TYPE##_b, dot_##TYPE, 8)                 \
  MATMUL_QKV1(matmul_qkv_##TYPE, dot_##TYPE, G, UB)        \
  MATMUL_QKV(matmul_qkv_##TYPE##_b, dot_##TYPE, 8)         \
  MATMUL_GATE_UP1(matmul_gate_up_##TYPE, dot_##TYPE, G, UB) \
  MATMUL_GATE_UP(matmul_gate_up_##TYPE##_b, dot_##TYPE, 8)

// matmul_repacked.cu includes this file for its dot products and kernel macros only.
#ifndef SLUICE_MATMUL_NO_KERNELS
ALL(f32, 4, 16)
ALL(f16, 8, 16)
ALL(bf16, 8, 16)
ALL(q8_0, QK8_0, Q8_0_BYTES)
ALL(q4_0, QK4_0, Q4_0_BYTES)
ALL(q4_k, QK_K, Q4_K_BYTES)
ALL(q6_k, QK_K, Q6_K_BYTES)
#endif
