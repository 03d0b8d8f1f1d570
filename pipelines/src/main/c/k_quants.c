/*
 * Q4_K and Q6_K weights times q8_K activations with AVX-512 VNNI (see sluice_cpu.h for the
 * contract and docs/kernels.md, "Native VNNI kernels: Q4_K and Q6_K", for the design).
 *
 * Numerics: the activations are quantized as ggml's quantize_row_q8_K_ref, and each (row, token)
 * product reproduces ggml's AVX2 ggml_vec_dot_q4_K_q8_K / ggml_vec_dot_q6_K_q8_K bit for bit: the
 * integer sums land in the same 8 int32 lanes (lane k holds bytes 4k..4k+3 of every 32-value
 * group, times the group's scale), and the float steps are the same fused multiply-adds per
 * super-block followed by the same horizontal sums. The per-token order of float operations never
 * depends on T or on the row range (batch invariance).
 *
 * Integer products: one 512-bit vector holds 64 weights (two 32-value groups), vpdpbusd gives the
 * 16 lane sums of 4 products (|sum| < 2^15, so they fit int16), and vpdpwssd against a vector of
 * (scale, 0) word pairs multiplies each lane by its group's scale and accumulates. Q6_K's -32
 * offset: the activations are stored as unsigned x + 128 (vpdpbusd wants one unsigned operand),
 * the weights as signed q - 32, and the per-row correction -128 * sum(q - 32) (scaled) starts the
 * accumulator, so it is computed once per row and super-block, not per token.
 *
 * Weights are unpacked once per (row, super-block, block of up to 8 tokens) and applied to the
 * block's tokens from registers.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "sluice_cpu.h"

#define QK_K 256
#define Q4K_BYTES 144
#define Q6K_BYTES 210

#define KQ_INLINE static inline __attribute__((always_inline))

/* ---------------------------------------------------------------------------------------------
 * Scratch layout, per call: qs (T * cols bytes, token-major), d (T * nsb floats), then for Q4_K
 * the sums of each 32-value sub-block (T * nsb * 8 int16). T * cols * (1 + 20 / 256) bytes, well
 * inside SLUICE_SCRATCH_BYTES.
 *
 * Q4_K activations are stored with the 32-value sub-blocks of each super-block in the order
 * 0 2 1 3 4 6 5 7, so that 64 consecutive bytes meet one 512-bit vector of nibbles: bytes 0..31
 * of the weights' qs hold sub-block 0 (low nibbles) and 1 (high nibbles), bytes 32..63 hold 2 and
 * 3, so the low nibbles of a 64-byte load are sub-blocks 0 and 2, the high nibbles 1 and 3.
 * Q6_K activations are stored in natural order as x + 128 (unsigned).
 */

enum { KQ_Q4K = 0, KQ_Q6K = 1 };

/* ggml's quantize_row_q8_K_ref for one row of cols values. */
static void quantize_q8k_row(const float *x, int nsb, uint8_t *qs, float *dd, int16_t *s32,
                             int mode) {
  const __m512i q127 = _mm512_set1_epi32(127);
  for (int b = 0; b < nsb; b++) {
    const float *xb = x + (size_t)QK_K * b;
    uint8_t *qb = qs + (size_t)QK_K * b;
    __m512 v[16];
    __m512 m = _mm512_setzero_ps();
    for (int i = 0; i < 16; i++) {
      v[i] = _mm512_loadu_ps(xb + 16 * i);
      m = _mm512_max_ps(m, _mm512_abs_ps(v[i]));
    }
    float amax = _mm512_reduce_max_ps(m); /* max is exact in any order */
    if (amax == 0.0f) {
      memset(qb, mode == KQ_Q6K ? 0x80 : 0, QK_K);
      dd[b] = 0.0f;
      if (s32 != NULL) {
        memset(s32 + 8 * b, 0, 16);
      }
      continue;
    }
    /* ggml keeps the first value of largest magnitude, with its sign. */
    float max = amax;
    const __m512 vamax = _mm512_set1_ps(amax);
    for (int i = 0; i < 16; i++) {
      __mmask16 k = _mm512_cmp_ps_mask(_mm512_abs_ps(v[i]), vamax, _CMP_EQ_OQ);
      if (k != 0) {
        max = xb[16 * i + __builtin_ctz((unsigned)k)];
        break;
      }
    }
    const float iscale = -127.f / max;
    const __m512 vs = _mm512_set1_ps(iscale);
    int sum16[16];
    for (int i = 0; i < 16; i++) {
      __m512i q = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v[i], vs),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      q = _mm512_min_epi32(q, q127);
      sum16[i] = _mm512_reduce_add_epi32(q);
      __m128i q8 = _mm512_cvtepi32_epi8(q);
      if (mode == KQ_Q4K) {
        int s = i >> 1; /* 32-value sub-block */
        int slot = (s & 4) | ((s & 1) << 1) | ((s >> 1) & 1);
        _mm_storeu_si128((__m128i *)(qb + 32 * slot + 16 * (i & 1)), q8);
      } else {
        q8 = _mm_xor_si128(q8, _mm_set1_epi8((char)0x80));
        _mm_storeu_si128((__m128i *)(qb + 16 * i), q8);
      }
    }
    dd[b] = 1.0f / iscale;
    if (s32 != NULL) {
      for (int s = 0; s < 8; s++) {
        s32[8 * b + s] = (int16_t)(sum16[2 * s] + sum16[2 * s + 1]);
      }
    }
  }
}

KQ_INLINE float f16_to_f32(const uint8_t *p) {
  uint16_t h;
  memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

/* hsum_float_8 of ggml's x86 quants.c. */
KQ_INLINE float hsum_float_8(__m256 x) {
  __m128 res = _mm256_extractf128_ps(x, 1);
  res = _mm_add_ps(res, _mm256_castps256_ps128(x));
  res = _mm_add_ps(res, _mm_movehl_ps(res, res));
  res = _mm_add_ss(res, _mm_movehdup_ps(res));
  return _mm_cvtss_f32(res);
}

/* Lanes k and k + 8 of a 16-lane sum: ggml's 8-lane AVX2 layout. */
KQ_INLINE __m256i fold16(__m512i v) {
  return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

/* ---------------------------------------------------------------------------------------------
 * Q4_K
 */

typedef struct {
  __m512i w[4];  /* nibbles: sub-blocks {0,2}, {1,3}, {4,6}, {5,7} */
  __m512i sc[4]; /* (scale, 0) word pairs matching w */
  __m128i mins;  /* 8 int16 mins */
  float d, dmin;
} q4k_sb;

KQ_INLINE void q4k_unpack(const uint8_t *blk, q4k_sb *u) {
  const uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  uint32_t utmp[4];
  memcpy(utmp, blk + 4, 12);
  utmp[3] = ((utmp[2] >> 4) & kmask2) | (((utmp[1] >> 6) & kmask3) << 4);
  const uint32_t uaux = utmp[1] & kmask1;
  utmp[1] = (utmp[2] & kmask2) | (((utmp[0] >> 6) & kmask3) << 4);
  utmp[2] = uaux;
  utmp[0] &= kmask1;
  const __m128i ms = _mm_set_epi32((int)utmp[3], (int)utmp[2], (int)utmp[1], (int)utmp[0]);
  const __m512i ms32 = _mm512_cvtepu8_epi32(ms); /* sc0..sc7, m0..m7 */
  u->sc[0] = _mm512_permutexvar_epi32(
      _mm512_set_epi32(2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0), ms32);
  u->sc[1] = _mm512_permutexvar_epi32(
      _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), ms32);
  u->sc[2] = _mm512_permutexvar_epi32(
      _mm512_set_epi32(6, 6, 6, 6, 6, 6, 6, 6, 4, 4, 4, 4, 4, 4, 4, 4), ms32);
  u->sc[3] = _mm512_permutexvar_epi32(
      _mm512_set_epi32(7, 7, 7, 7, 7, 7, 7, 7, 5, 5, 5, 5, 5, 5, 5, 5), ms32);
  u->mins = _mm_cvtepu8_epi16(_mm_srli_si128(ms, 8));
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i a = _mm512_loadu_si512((const void *)(blk + 16));
  const __m512i b = _mm512_loadu_si512((const void *)(blk + 80));
  u->w[0] = _mm512_and_si512(a, m4);
  u->w[1] = _mm512_and_si512(_mm512_srli_epi16(a, 4), m4);
  u->w[2] = _mm512_and_si512(b, m4);
  u->w[3] = _mm512_and_si512(_mm512_srli_epi16(b, 4), m4);
  u->d = f16_to_f32(blk);
  u->dmin = f16_to_f32(blk + 2);
}

/* One token's super-block: ggml's acc = fma(d, sumi, acc), acc_m = fma(dmin, prod, acc_m). */
KQ_INLINE void q4k_token(const q4k_sb *u, const uint8_t *xq, float yd, const int16_t *ys32,
                         __m256 *acc, __m128 *accm) {
  const __m512i z = _mm512_setzero_si512();
  __m512i p0 = _mm512_dpbusd_epi32(z, u->w[0], _mm512_loadu_si512((const void *)xq));
  __m512i p1 = _mm512_dpbusd_epi32(z, u->w[1], _mm512_loadu_si512((const void *)(xq + 64)));
  __m512i p2 = _mm512_dpbusd_epi32(z, u->w[2], _mm512_loadu_si512((const void *)(xq + 128)));
  __m512i p3 = _mm512_dpbusd_epi32(z, u->w[3], _mm512_loadu_si512((const void *)(xq + 192)));
  __m512i s = _mm512_madd_epi16(p0, u->sc[0]);
  s = _mm512_dpwssd_epi32(s, p1, u->sc[1]);
  __m512i s2 = _mm512_madd_epi16(p2, u->sc[2]);
  s2 = _mm512_dpwssd_epi32(s2, p3, u->sc[3]);
  const __m256i sumi = fold16(_mm512_add_epi32(s, s2));
  const float d = yd * u->d;
  const float dmin = -yd * u->dmin;
  const __m128i prod = _mm_madd_epi16(u->mins, _mm_loadu_si128((const __m128i *)ys32));
  *accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), *accm);
  *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), *acc);
}

KQ_INLINE float q4k_finish(__m256 acc, __m128 accm) {
  accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
  accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
  return hsum_float_8(acc) + _mm_cvtss_f32(accm);
}

/* Rows [r0, r1) for the NT tokens starting at t0 (NT a compile-time constant after inlining). */
KQ_INLINE void q4k_block(const uint8_t *w, int64_t row_bytes, int nsb, const uint8_t *qs,
                         const float *dd, const int16_t *s32, int cols, int t0, const int NT,
                         float *out, int64_t out_stride, int r0, int r1) {
  for (int r = r0; r < r1; r++) {
    const uint8_t *row = w + (int64_t)r * row_bytes;
    __m256 acc[8];
    __m128 accm[8];
    for (int t = 0; t < NT; t++) {
      acc[t] = _mm256_setzero_ps();
      accm[t] = _mm_setzero_ps();
    }
    for (int b = 0; b < nsb; b++) {
      q4k_sb u;
      q4k_unpack(row + (int64_t)Q4K_BYTES * b, &u);
      for (int t = 0; t < NT; t++) {
        const int tt = t0 + t;
        q4k_token(&u, qs + (size_t)tt * cols + (size_t)QK_K * b, dd[(size_t)tt * nsb + b],
                  s32 + ((size_t)tt * nsb + b) * 8, &acc[t], &accm[t]);
      }
    }
    for (int t = 0; t < NT; t++) {
      out[(int64_t)(t0 + t) * out_stride + r] = q4k_finish(acc[t], accm[t]);
    }
  }
}

static void q4k_nt1(const uint8_t *w, int64_t rb, int nsb, const uint8_t *qs, const float *dd,
                    const int16_t *s32, int cols, int t0, float *out, int64_t os, int r0, int r1) {
  q4k_block(w, rb, nsb, qs, dd, s32, cols, t0, 1, out, os, r0, r1);
}
static void q4k_nt2(const uint8_t *w, int64_t rb, int nsb, const uint8_t *qs, const float *dd,
                    const int16_t *s32, int cols, int t0, float *out, int64_t os, int r0, int r1) {
  q4k_block(w, rb, nsb, qs, dd, s32, cols, t0, 2, out, os, r0, r1);
}
static void q4k_nt4(const uint8_t *w, int64_t rb, int nsb, const uint8_t *qs, const float *dd,
                    const int16_t *s32, int cols, int t0, float *out, int64_t os, int r0, int r1) {
  q4k_block(w, rb, nsb, qs, dd, s32, cols, t0, 4, out, os, r0, r1);
}
static void q4k_nt8(const uint8_t *w, int64_t rb, int nsb, const uint8_t *qs, const float *dd,
                    const int16_t *s32, int cols, int t0, float *out, int64_t os, int r0, int r1) {
  q4k_block(w, rb, nsb, qs, dd, s32, cols, t0, 8, out, os, r0, r1);
}

void sluice_q4_k(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x, int32_t T,
                 float *out, int64_t out_stride, int32_t r0, int32_t r1, uint8_t *scratch) {
  if (T <= 0 || r1 <= r0) {
    return;
  }
  const int nsb = cols / QK_K;
  uint8_t *qs = scratch;
  float *dd = (float *)(scratch + (size_t)T * cols);
  int16_t *s32 = (int16_t *)(dd + (size_t)T * nsb);
  for (int t = 0; t < T; t++) {
    quantize_q8k_row(x + (size_t)t * cols, nsb, qs + (size_t)t * cols, dd + (size_t)t * nsb,
                     s32 + (size_t)t * nsb * 8, KQ_Q4K);
  }
  int t = 0;
  for (; t + 8 <= T; t += 8) {
    q4k_nt8(w, row_bytes, nsb, qs, dd, s32, cols, t, out, out_stride, r0, r1);
  }
  if (t + 4 <= T) {
    q4k_nt4(w, row_bytes, nsb, qs, dd, s32, cols, t, out, out_stride, r0, r1);
    t += 4;
  }
  if (t + 2 <= T) {
    q4k_nt2(w, row_bytes, nsb, qs, dd, s32, cols, t, out, out_stride, r0, r1);
    t += 2;
  }
  if (t < T) {
    q4k_nt1(w, row_bytes, nsb, qs, dd, s32, cols, t, out, out_stride, r0, r1);
  }
}

/* ---------------------------------------------------------------------------------------------
 * Q6_K
 */

typedef struct {
  __m512i w[4];  /* q - 32 as int8: values 0..63, 64..127, 128..191, 192..255 */
  __m512i sc[4]; /* (scale, 0) word pairs, one scale per 4 lanes (16 values) */
  __m512i corr;  /* sum over the 4 vectors of scale * (-128 * sum of 4 (q - 32)) */
  float d;
} q6k_sb;

KQ_INLINE void q6k_unpack(const uint8_t *blk, q6k_sb *u) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i m30 = _mm512_set1_epi8(0x30);
  const __m512i m32 = _mm512_set1_epi8(32);
  const __m512i mneg128 = _mm512_set1_epi8((char)-128);
  const __m512i k16384 = _mm512_set1_epi32(16384);
  /* 16-bit lane shift counts: lower 256 bits, upper 256 bits. */
  const __m512i shl_lo = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
  const __m512i shr_hi = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  const __m512i sc32 = _mm512_cvtepu16_epi32(
      _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 192))));
  __m512i corr = _mm512_setzero_si512();
  for (int j = 0; j < 2; j++) {
    const __m512i l = _mm512_loadu_si512((const void *)(blk + 64 * j));
    const __m512i h =
        _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * j)));
    /* values 0..63 of the half: low nibbles, high bits 0-1 (first 32) and 2-3 (next 32) */
    __m512i q0 = _mm512_or_si512(_mm512_and_si512(l, m4),
                                 _mm512_and_si512(_mm512_sllv_epi16(h, shl_lo), m30));
    /* values 64..127: high nibbles, high bits 4-5 and 6-7 */
    __m512i q1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                 _mm512_and_si512(_mm512_srlv_epi16(h, shr_hi), m30));
    const int g = 2 * j;
    u->sc[g] = _mm512_permutexvar_epi32(
        _mm512_set_epi32(8 * j + 3, 8 * j + 3, 8 * j + 3, 8 * j + 3, 8 * j + 2, 8 * j + 2,
                         8 * j + 2, 8 * j + 2, 8 * j + 1, 8 * j + 1, 8 * j + 1, 8 * j + 1, 8 * j,
                         8 * j, 8 * j, 8 * j),
        sc32);
    u->sc[g + 1] = _mm512_permutexvar_epi32(
        _mm512_set_epi32(8 * j + 7, 8 * j + 7, 8 * j + 7, 8 * j + 7, 8 * j + 6, 8 * j + 6,
                         8 * j + 6, 8 * j + 6, 8 * j + 5, 8 * j + 5, 8 * j + 5, 8 * j + 5,
                         8 * j + 4, 8 * j + 4, 8 * j + 4, 8 * j + 4),
        sc32);
    /* -128 * sum of 4 (q - 32) = 16384 - 128 * sum of 4 q, within int16 */
    corr = _mm512_dpwssd_epi32(corr, _mm512_dpbusd_epi32(k16384, q0, mneg128), u->sc[g]);
    corr = _mm512_dpwssd_epi32(corr, _mm512_dpbusd_epi32(k16384, q1, mneg128), u->sc[g + 1]);
    u->w[g] = _mm512_sub_epi8(q0, m32);
    u->w[g + 1] = _mm512_sub_epi8(q1, m32);
  }
  u->corr = corr;
  u->d = f16_to_f32(blk + 208);
}

KQ_INLINE void q6k_token(const q6k_sb *u, const uint8_t *xu, float yd, __m256 *acc) {
  const __m512i z = _mm512_setzero_si512();
  /* (x + 128) * (q - 32) summed by 4: |sum| <= 4 * 255 * 32 < 2^15 */
  __m512i p0 = _mm512_dpbusd_epi32(z, _mm512_loadu_si512((const void *)xu), u->w[0]);
  __m512i p1 = _mm512_dpbusd_epi32(z, _mm512_loadu_si512((const void *)(xu + 64)), u->w[1]);
  __m512i p2 = _mm512_dpbusd_epi32(z, _mm512_loadu_si512((const void *)(xu + 128)), u->w[2]);
  __m512i p3 = _mm512_dpbusd_epi32(z, _mm512_loadu_si512((const void *)(xu + 192)), u->w[3]);
  __m512i s = _mm512_dpwssd_epi32(u->corr, p0, u->sc[0]);
  s = _mm512_dpwssd_epi32(s, p1, u->sc[1]);
  __m512i s2 = _mm512_madd_epi16(p2, u->sc[2]);
  s2 = _mm512_dpwssd_epi32(s2, p3, u->sc[3]);
  const __m256i sumi = fold16(_mm512_add_epi32(s, s2));
  const float d = yd * u->d;
  *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), *acc);
}

KQ_INLINE void q6k_block(const uint8_t *w, int64_t row_bytes, int nsb, const uint8_t *qs,
                         const float *dd, int cols, int t0, const int NT, float *out,
                         int64_t out_stride, int r0, int r1) {
  for (int r = r0; r < r1; r++) {
    const uint8_t *row = w + (int64_t)r * row_bytes;
    __m256 acc[8];
    for (int t = 0; t < NT; t++) {
      acc[t] = _mm256_setzero_ps();
    }
    for (int b = 0; b < nsb; b++) {
      q6k_sb u;
      q6k_unpack(row + (int64_t)Q6K_BYTES * b, &u);
      for (int t = 0; t < NT; t++) {
        const int tt = t0 + t;
        q6k_token(&u, qs + (size_t)tt * cols + (size_t)QK_K * b, dd[(size_t)tt * nsb + b],
                  &acc[t]);
      }
    }
    for (int t = 0; t < NT; t++) {
      out[(int64_t)(t0 + t) * out_stride + r] = hsum_float_8(acc[t]);
    }
  }
}

static void q6k_nt1(const uint8_t *w, int64_t rb, int nsb, const uint8_t *qs, const float *dd,
                    int cols, int t0, float *out, int64_t os, int r0, int r1) {
  q6k_block(w, rb, nsb, qs, dd, cols, t0, 1, out, os, r0, r1);
}
static void q6k_nt2(const uint8_t *w, int64_t rb, int nsb, const uint8_t *qs, const float *dd,
                    int cols, int t0, float *out, int64_t os, int r0, int r1) {
  q6k_block(w, rb, nsb, qs, dd, cols, t0, 2, out, os, r0, r1);
}
static void q6k_nt4(const uint8_t *w, int64_t rb, int nsb, const uint8_t *qs, const float *dd,
                    int cols, int t0, float *out, int64_t os, int r0, int r1) {
  q6k_block(w, rb, nsb, qs, dd, cols, t0, 4, out, os, r0, r1);
}
static void q6k_nt8(const uint8_t *w, int64_t rb, int nsb, const uint8_t *qs, const float *dd,
                    int cols, int t0, float *out, int64_t os, int r0, int r1) {
  q6k_block(w, rb, nsb, qs, dd, cols, t0, 8, out, os, r0, r1);
}

void sluice_q6_k(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x, int32_t T,
                 float *out, int64_t out_stride, int32_t r0, int32_t r1, uint8_t *scratch) {
  if (T <= 0 || r1 <= r0) {
    return;
  }
  const int nsb = cols / QK_K;
  uint8_t *qs = scratch;
  float *dd = (float *)(scratch + (size_t)T * cols);
  for (int t = 0; t < T; t++) {
    quantize_q8k_row(x + (size_t)t * cols, nsb, qs + (size_t)t * cols, dd + (size_t)t * nsb, NULL,
                     KQ_Q6K);
  }
  int t = 0;
  for (; t + 8 <= T; t += 8) {
    q6k_nt8(w, row_bytes, nsb, qs, dd, cols, t, out, out_stride, r0, r1);
  }
  if (t + 4 <= T) {
    q6k_nt4(w, row_bytes, nsb, qs, dd, cols, t, out, out_stride, r0, r1);
    t += 4;
  }
  if (t + 2 <= T) {
    q6k_nt2(w, row_bytes, nsb, qs, dd, cols, t, out, out_stride, r0, r1);
    t += 2;
  }
  if (t < T) {
    q6k_nt1(w, row_bytes, nsb, qs, dd, cols, t, out, out_stride, r0, r1);
  }
}
