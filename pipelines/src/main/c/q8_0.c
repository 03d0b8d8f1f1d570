/*
 * Q8_0 and Q4_0 weights times q8_0-quantized activations.
 * PLACEHOLDER: plain scalar C with the final numerics, replaced by the VNNI kernels (branch nq8).
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

/* q8_0 activations: per 32 values int8 q and float d (f16-rounded). */
static void quantize_q8_0(const float *x, int32_t n, int8_t *q, float *d) {
  for (int32_t o = 0; o < n; o += 32) {
    float amax = 0.f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[o + j]));
    float id = amax != 0.f ? 127.f / amax : 0.f;
    for (int j = 0; j < 32; j++) q[o + j] = (int8_t)rintf(x[o + j] * id);
    d[o / 32] = (float)(_Float16)(amax / 127.f);
  }
}

/* no-tree-vectorize: GCC 12 at -O2/-O3 with -mavx512vnni turns the signed int8 x int8 sum below
   into vpdpbusd, which reads one operand as unsigned (wrong results). */
__attribute__((optimize("no-tree-vectorize"))) static void q8_0_like(int q4, const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x,
                      int32_t T, float *out, int64_t out_stride, int32_t r0, int32_t r1,
                      uint8_t *scratch) {
  int8_t *q = (int8_t *)scratch;
  float *d = (float *)(scratch + (((size_t)T * cols + 63) & ~(size_t)63));
  quantize_q8_0(x, T * cols, q, d);
  int32_t nb = cols / 32;
  for (int32_t r = r0; r < r1; r++) {
    const uint8_t *row = w + (int64_t)r * row_bytes;
    for (int32_t t = 0; t < T; t++) {
      const int8_t *qt = q + (size_t)t * cols;
      const float *dt = d + (size_t)t * nb;
      float sum = 0.f;
      for (int32_t b = 0; b < nb; b++) {
        int32_t isum = 0;
        if (q4) {
          const uint8_t *blk = row + 18 * b;
          for (int j = 0; j < 16; j++) {
            isum += ((blk[2 + j] & 0xF) - 8) * qt[32 * b + j];
            isum += ((blk[2 + j] >> 4) - 8) * qt[32 * b + j + 16];
          }
          sum += f16_to_f32(blk) * dt[b] * (float)isum;
        } else {
          const uint8_t *blk = row + 34 * b;
          for (int j = 0; j < 32; j++) isum += (int8_t)blk[2 + j] * qt[32 * b + j];
          sum += f16_to_f32(blk) * dt[b] * (float)isum;
        }
      }
      out[t * out_stride + r] = sum;
    }
  }
}

void sluice_q8_0(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x, int32_t T,
                 float *out, int64_t out_stride, int32_t r0, int32_t r1, uint8_t *scratch) {
  q8_0_like(0, w, row_bytes, cols, x, T, out, out_stride, r0, r1, scratch);
}

void sluice_q4_0(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x, int32_t T,
                 float *out, int64_t out_stride, int32_t r0, int32_t r1, uint8_t *scratch) {
  q8_0_like(1, w, row_bytes, cols, x, T, out, out_stride, r0, r1, scratch);
}
