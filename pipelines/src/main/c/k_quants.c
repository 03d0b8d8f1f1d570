/*
 * Q4_K and Q6_K weights times q8_K-quantized activations.
 * PLACEHOLDER: plain scalar C with the final numerics, replaced by the VNNI kernels (branch nqk).
 */
#include <math.h>
#include <string.h>

#include "sluice_cpu.h"

static float f16_to_f32(const uint8_t *p) {
  uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
  _Float16 v;
  memcpy(&v, &h, 2);
  return (float)v;
}

/* q8_K activations: per 256 values int8 q, float d, int16 sums per 16. */
static void quantize_q8_k(const float *x, int32_t n, int8_t *q, float *d, int16_t *bsums) {
  for (int32_t b = 0; b < n / 256; b++) {
    const float *xb = x + 256 * b;
    float amax = 0.f, max = 0.f;
    for (int j = 0; j < 256; j++) {
      float ax = fabsf(xb[j]);
      if (ax > amax) {
        amax = ax;
        max = xb[j];
      }
    }
    if (amax == 0.f) {
      memset(q + 256 * b, 0, 256);
      memset(bsums + 16 * b, 0, 32);
      d[b] = 0.f;
      continue;
    }
    float iscale = -127.f / max;
    for (int j = 0; j < 256; j++) q[256 * b + j] = (int8_t)fminf(rintf(iscale * xb[j]), 127.f);
    for (int s = 0; s < 16; s++) {
      int sum = 0;
      for (int j = 0; j < 16; j++) sum += q[256 * b + 16 * s + j];
      bsums[16 * b + s] = (int16_t)sum;
    }
    d[b] = 1.f / iscale;
  }
}

typedef struct {
  int8_t *q;
  float *d;
  int16_t *bsums;
} q8k;

static q8k quantize_all(const float *x, int32_t cols, int32_t T, uint8_t *scratch) {
  size_t n = (size_t)T * cols;
  q8k a;
  a.q = (int8_t *)scratch;
  a.d = (float *)(scratch + ((n + 63) & ~(size_t)63));
  a.bsums = (int16_t *)((uint8_t *)a.d + ((n / 256 * 4 + 63) & ~(size_t)63));
  quantize_q8_k(x, (int32_t)n, a.q, a.d, a.bsums);
  return a;
}

static void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

void sluice_q4_k(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x, int32_t T,
                 float *out, int64_t out_stride, int32_t r0, int32_t r1, uint8_t *scratch) {
  q8k a = quantize_all(x, cols, T, scratch);
  int32_t nb = cols / 256;
  for (int32_t r = r0; r < r1; r++) {
    const uint8_t *row = w + (int64_t)r * row_bytes;
    for (int32_t t = 0; t < T; t++) {
      float sum = 0.f;
      for (int32_t b = 0; b < nb; b++) {
        const uint8_t *blk = row + 144 * b;
        const int8_t *qa = a.q + (size_t)t * cols + 256 * b;
        const int16_t *bs = a.bsums + ((size_t)t * nb + b) * 16;
        float dx = a.d[(size_t)t * nb + b];
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
          int sc, m;
          scale_min_k4(j, blk + 4, &sc, &m);
          const uint8_t *qs = blk + 16 + 32 * (j / 2);
          int32_t isum = 0;
          for (int l = 0; l < 32; l++) {
            int v = (j % 2 == 0) ? (qs[l] & 0xF) : (qs[l] >> 4);
            isum += v * qa[32 * j + l];
          }
          sumi += sc * isum;
          summ += m * (bs[2 * j] + bs[2 * j + 1]);
        }
        sum += dx * f16_to_f32(blk) * (float)sumi - dx * f16_to_f32(blk + 2) * (float)summ;
      }
      out[t * out_stride + r] = sum;
    }
  }
}

void sluice_q6_k(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x, int32_t T,
                 float *out, int64_t out_stride, int32_t r0, int32_t r1, uint8_t *scratch) {
  q8k a = quantize_all(x, cols, T, scratch);
  int32_t nb = cols / 256;
  for (int32_t r = r0; r < r1; r++) {
    const uint8_t *row = w + (int64_t)r * row_bytes;
    for (int32_t t = 0; t < T; t++) {
      float sum = 0.f;
      for (int32_t b = 0; b < nb; b++) {
        const uint8_t *blk = row + 210 * b;
        const int8_t *qa = a.q + (size_t)t * cols + 256 * b;
        float dx = a.d[(size_t)t * nb + b];
        int32_t sumi = 0;
        for (int n = 0; n < 2; n++) {
          const uint8_t *ql = blk + 64 * n, *qh = blk + 128 + 32 * n;
          const int8_t *sc = (const int8_t *)(blk + 192 + 8 * n);
          const int8_t *qn = qa + 128 * n;
          for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            sumi += sc[is] * q1 * qn[l] + sc[is + 2] * q2 * qn[l + 32] +
                    sc[is + 4] * q3 * qn[l + 64] + sc[is + 6] * q4 * qn[l + 96];
          }
        }
        sum += dx * f16_to_f32(blk + 208) * (float)sumi;
      }
      out[t * out_stride + r] = sum;
    }
  }
}
