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
 * Integer products: one 512-bit vector holds 64 weights (two 32-value groups) and vpdpbusd gives
 * its 16 lane sums of 4 products, which fit int16; two such vectors are packed as word pairs in
 * each 32-bit lane and one vpdpwssd against (scale, scale) word pairs scales and accumulates both
 * (6 multiply instructions per row, token and super-block instead of 8: llama.cpp's AVX2 code
 * needs the equivalent of 8). Q6_K's -32 offset and Q4_K's pairs of several tokens use
 * activations stored as unsigned x + 128 and a per-row correction computed once per row and
 * super-block, not per token.
 *
 * Weights are unpacked once per (row, super-block, block of up to 8 tokens) and applied to the
 * block's tokens from registers, four tokens at a time.
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
 * Scratch layout, per call (q8k_act): qs (T * cols bytes, token-major), then per super-block and
 * token (super-block-major, so that the tokens of a block are adjacent): d (float), -d 4 times
 * (Q4_K), the 8 sums of each 32-value sub-block (int16, Q4_K) and d 8 times. T * cols * (1 + 68 /
 * 256) bytes, inside SLUICE_SCRATCH_BYTES (2 * T * cols + 4096).
 *
 * Q4_K activations are stored with the 32-value sub-blocks of each super-block in the order
 * 0 2 1 3 4 6 5 7, so that 64 consecutive bytes meet one 512-bit vector of nibbles: bytes 0..31
 * of the weights' qs hold sub-block 0 (low nibbles) and 1 (high nibbles), bytes 32..63 hold 2 and
 * 3, so the low nibbles of a 64-byte load are sub-blocks 0 and 2, the high nibbles 1 and 3.
 * Q6_K activations are stored in natural order as x + 128 (unsigned); Q4_K's as x + 128 too,
 * except in a call with T = 1 (signed, see KQ_SIGNED).
 */

enum { KQ_Q4K = 0, KQ_Q6K = 1 };

/*
 * How q4k_token reads the activations: stored signed (a call with T = 1), stored as x + 128 and
 * turned back to signed, or stored as x + 128 and used as such (word pairs, several tokens).
 * All three give the same integer lane sums.
 */
enum { KQ_SIGNED = 0, KQ_UNSIGNED = 1, KQ_PAIRS = 2 };

/* Activation bytes of one token block above which rows go in pairs (half of a 32 KiB L1D). */
#define KQ_L1_ACTIVATIONS 16384

/* ggml's quantize_row_q8_K_ref for one row of cols values. */
static void quantize_q8k_row(const float *x, int nsb, uint8_t *qs, float *dd, int16_t *s32,
                             int mode, int flip) {
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
      memset(qb, flip, QK_K);
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
      /* flip 0x80: stored as x + 128, the unsigned operand of vpdpbusd */
      __m128i q8 = _mm_xor_si128(_mm512_cvtepi32_epi8(q), _mm_set1_epi8((char)flip));
      if (mode == KQ_Q4K) {
        int s = i >> 1; /* 32-value sub-block */
        int slot = (s & 4) | ((s & 1) << 1) | ((s >> 1) & 1);
        _mm_storeu_si128((__m128i *)(qb + 32 * slot + 16 * (i & 1)), q8);
      } else {
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

/*
 * Prefetch distance for the one-token products (a hint the hardware prefetcher alone does not
 * match: +10-15% bandwidth at DRAM sizes), never past the end of the caller's rows.
 */
#define KQ_PREFETCH 2048

KQ_INLINE void prefetch_block(const uint8_t *blk, const uint8_t *end, int bytes) {
  const uint8_t *p = blk + KQ_PREFETCH;
  if (p + bytes <= end) {
    _mm_prefetch((const char *)p, _MM_HINT_T0);
    _mm_prefetch((const char *)p + 64, _MM_HINT_T0);
    _mm_prefetch((const char *)p + 128, _MM_HINT_T0);
    if (bytes > 192) {
      _mm_prefetch((const char *)p + 192, _MM_HINT_T0);
    }
  }
}

/* Lanes k and k + 8 of a 16-lane sum: ggml's 8-lane AVX2 layout. */
KQ_INLINE __m256i fold16(__m512i v) {
  return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

/*
 * Two vectors of lane sums that fit int16, as word pairs (a, b) in each 32-bit lane, so that one
 * vpdpwssd against (scale_a, scale_b) pairs scales both: each lane keeps its own column group.
 */
KQ_INLINE __m512i pair16(__m512i a, __m512i b) {
  return _mm512_mask_blend_epi16(0xAAAAAAAAu, a, _mm512_slli_epi32(b, 16));
}

/* q8_K activations in scratch (see the layout above). */
typedef struct {
  const uint8_t *qs; /* [T][cols] */
  const float *yd;   /* [nsb][T] */
  const float *nyd4; /* [nsb][T][4] */
  const int16_t *s32; /* [nsb][T][8] */
  const float *yd8;   /* [nsb][T][8]: y.d 8 times */
  int T, cols, nsb;
} q8k_act;

/*
 * ggml's acc = fma(d, sumi, acc) for two tokens at once: s0, s1 are their 16-lane sums, acc holds
 * token 0's 8 lanes then token 1's, yd8 their y.d 8 times each; lane for lane the operations of
 * the one-token form (fold16, then d = y.d * x.d, fma).
 */
KQ_INLINE __m512 fma2(__m512i s0, __m512i s1, const float *yd8, float xd, __m512 acc) {
  const __m512i f = _mm512_add_epi32(_mm512_shuffle_i64x2(s0, s1, 0x44),
                                     _mm512_shuffle_i64x2(s0, s1, 0xEE));
  const __m512 d = _mm512_mul_ps(_mm512_loadu_ps(yd8), _mm512_set1_ps(xd));
  return _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(f), acc);
}

/* Token 0's (half 0) or token 1's (half 1) 8 lanes of a fma2 accumulator. */
KQ_INLINE __m256 half8(__m512 acc, const int half) {
  return _mm256_castsi256_ps(_mm512_extracti64x4_epi64(_mm512_castps_si512(acc), half));
}

/* ---------------------------------------------------------------------------------------------
 * Q4_K
 */

typedef struct {
  __m512i w[4];  /* nibbles: sub-blocks {0,2}, {1,3}, {4,6}, {5,7} */
  __m512i sp[2]; /* (scale of w[0], scale of w[1]) and (w[2], w[3]) word pairs */
  __m512i corr;  /* KQ_PAIRS only: -128 * (scale * sum of 4 w) per lane, over all 8 sub-blocks */
  __m128i mins;  /* 8 int16 mins */
  float d, dmin;
} q4k_sb;

/*
 * The lane sums of 4 w * (x + 128) of two vectors as (lo, hi) word pairs in each 32-bit lane, for
 * one vpdpwssd against (scale lo, scale hi) pairs. Both sums are in [0, 15300] (nibbles times
 * unsigned bytes), so the hi sums shifted left by 16 bits can be the accumulator of the lo
 * vpdpbusd: no borrow, no blend.
 */
KQ_INLINE __m512i q4k_pair(__m512i xlo, __m512i xhi, __m512i wlo, __m512i whi) {
  const __m512i hi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), xhi, whi);
  return _mm512_dpbusd_epi32(_mm512_slli_epi32(hi, 16), xlo, wlo);
}

KQ_INLINE void q4k_unpack(const uint8_t *blk, q4k_sb *u, const int unsigned_form) {
  /*
   * ggml's get_scale_min_k4 (its utmp masks) on 32-bit lanes: u0, u1, u2 are the 12 scale bytes;
   * lane 0 scales 0-3, lane 1 scales 4-7, lane 2 mins 0-3, lane 3 mins 4-7 (16 bytes are read,
   * the last 4 are the block's first nibbles, unused).
   */
  const __m128i v = _mm_loadu_si128((const __m128i *)(blk + 4));
  const __m128i lo = _mm_and_si128(v, _mm_set1_epi8(0x3f)); /* (u0, u1) & 0x3f */
  const __m128i u2 = _mm_srlv_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(2, 2, 2, 2)),
                                    _mm_set_epi32(0, 0, 4, 0)); /* (u2, u2 >> 4) */
  const __m128i hi = _mm_or_si128(_mm_and_si128(u2, _mm_set1_epi8(0x0f)),
                                  _mm_and_si128(_mm_srli_epi32(v, 2), _mm_set1_epi8(0x30)));
  const __m128i ms = _mm_unpacklo_epi32(lo, hi); /* bytes: sc0..sc7, m0..m7 */
  const __m256i ms16 = _mm256_cvtepu8_epi16(ms);
  const __m512i ms512 = _mm512_castsi256_si512(ms16);
  /* word pairs (sc0, sc1) x 8 then (sc2, sc3) x 8; (sc4, sc5) x 8 then (sc6, sc7) x 8 */
  u->sp[0] = _mm512_permutexvar_epi16(
      _mm512_set_epi16(3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0,
                       1, 0, 1, 0, 1, 0),
      ms512);
  u->sp[1] = _mm512_permutexvar_epi16(
      _mm512_set_epi16(7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4,
                       5, 4, 5, 4, 5, 4),
      ms512);
  u->mins = _mm256_extracti128_si256(ms16, 1);
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i a = _mm512_loadu_si512((const void *)(blk + 16));
  const __m512i b = _mm512_loadu_si512((const void *)(blk + 80));
  u->w[0] = _mm512_and_si512(a, m4);
  u->w[1] = _mm512_and_si512(_mm512_srli_epi16(a, 4), m4);
  u->w[2] = _mm512_and_si512(b, m4);
  u->w[3] = _mm512_and_si512(_mm512_srli_epi16(b, 4), m4);
  uint32_t dd;
  memcpy(&dd, blk, 4);
  const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)dd));
  u->d = _mm_cvtss_f32(dm);
  u->dmin = _mm_cvtss_f32(_mm_movehdup_ps(dm));
  if (unsigned_form) {
    const __m512i m80 = _mm512_set1_epi8((char)0x80);
    __m512i c = _mm512_madd_epi16(q4k_pair(m80, m80, u->w[0], u->w[1]), u->sp[0]);
    c = _mm512_dpwssd_epi32(c, q4k_pair(m80, m80, u->w[2], u->w[3]), u->sp[1]);
    u->corr = _mm512_sub_epi32(_mm512_setzero_si512(), c);
  }
}

/*
 * One token's super-block: the 8 int32 lanes of ggml's sumi (lane k: bytes 4k..4k+3 of every
 * 32-value sub-block times its scale; here lanes k and k + 8, folded), then acc = fma(d, sumi, acc)
 * as ggml. xu: the token's q8_K bytes in the sub-block order 0 2 1 3 4 6 5 7, stored as given by
 * form (see KQ_PAIRS). KQ_PAIRS uses q4k_pair and u->corr (the pairs' -128 * sum of w, computed
 * once per row and super-block as a token of zeros); the other forms, for a lone token, compute
 * each vector's signed sums and pack them with a blend instead.
 */

KQ_INLINE void q4k_token(const q4k_sb *u, const uint8_t *xu, float yd, __m256 *acc,
                         const int form) {
  const __m512i x0 = _mm512_loadu_si512((const void *)xu);
  const __m512i x1 = _mm512_loadu_si512((const void *)(xu + 64));
  const __m512i x2 = _mm512_loadu_si512((const void *)(xu + 128));
  const __m512i x3 = _mm512_loadu_si512((const void *)(xu + 192));
  __m512i s;
  if (form == KQ_PAIRS) {
    s = _mm512_dpwssd_epi32(u->corr, q4k_pair(x0, x1, u->w[0], u->w[1]), u->sp[0]);
    s = _mm512_dpwssd_epi32(s, q4k_pair(x2, x3, u->w[2], u->w[3]), u->sp[1]);
  } else {
    const __m512i z = _mm512_setzero_si512();
    const __m512i m80 = _mm512_set1_epi8(form == KQ_UNSIGNED ? (char)0x80 : 0);
    __m512i p0 = _mm512_dpbusd_epi32(z, u->w[0], _mm512_xor_si512(x0, m80));
    __m512i p1 = _mm512_dpbusd_epi32(z, u->w[1], _mm512_xor_si512(x1, m80));
    __m512i p2 = _mm512_dpbusd_epi32(z, u->w[2], _mm512_xor_si512(x2, m80));
    __m512i p3 = _mm512_dpbusd_epi32(z, u->w[3], _mm512_xor_si512(x3, m80));
    s = _mm512_madd_epi16(pair16(p0, p1), u->sp[0]);
    s = _mm512_dpwssd_epi32(s, pair16(p2, p3), u->sp[1]);
  }
  const __m256i sumi = fold16(s);
  const float d = yd * u->d;
  *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), *acc);
}

/*
 * Four tokens of q4k_token's KQ_PAIRS form, step by step across the tokens so that the four
 * dependency chains (vpdpbusd -> shift -> vpdpbusd -> vpdpwssd -> cvt -> fma) overlap, the float
 * steps of two tokens in one zmm (fma2); per token the operations are exactly q4k_token's.
 */
KQ_INLINE void q4k_tokens4(const q4k_sb *u, const uint8_t *xu, size_t stride, const float *yd8,
                           __m512 *acc2) {
  const __m512i z = _mm512_setzero_si512();
  __m512i h[8];
#pragma GCC unroll 4
  for (int t = 0; t < 4; t++) {
    const uint8_t *x = xu + stride * t;
    h[2 * t] = _mm512_dpbusd_epi32(z, _mm512_loadu_si512((const void *)(x + 64)), u->w[1]);
    h[2 * t + 1] = _mm512_dpbusd_epi32(z, _mm512_loadu_si512((const void *)(x + 192)), u->w[3]);
  }
#pragma GCC unroll 4
  for (int t = 0; t < 4; t++) {
    const uint8_t *x = xu + stride * t;
    h[2 * t] = _mm512_dpbusd_epi32(_mm512_slli_epi32(h[2 * t], 16),
                                   _mm512_loadu_si512((const void *)x), u->w[0]);
    h[2 * t + 1] = _mm512_dpbusd_epi32(_mm512_slli_epi32(h[2 * t + 1], 16),
                                       _mm512_loadu_si512((const void *)(x + 128)), u->w[2]);
  }
#pragma GCC unroll 4
  for (int t = 0; t < 4; t++) {
    h[2 * t] = _mm512_dpwssd_epi32(u->corr, h[2 * t], u->sp[0]);
  }
#pragma GCC unroll 4
  for (int t = 0; t < 4; t++) {
    h[2 * t] = _mm512_dpwssd_epi32(h[2 * t], h[2 * t + 1], u->sp[1]);
  }
  acc2[0] = fma2(h[0], h[2], yd8, u->d, acc2[0]);
  acc2[1] = fma2(h[4], h[6], yd8 + 16, u->d, acc2[1]);
}

/*
 * ggml's acc_m = fma(dmin, prod, acc_m) (4 lanes per token) for one token (xmm) or four tokens at
 * once (zmm, token t in lanes 4t..4t+3): lane for lane the same operations.
 * nyd4: -y.d of each token, 4 times; s32: the 8 sums of 32 of each token.
 */
KQ_INLINE __m128 q4k_min1(const q4k_sb *u, const float *nyd4, const int16_t *s32, __m128 accm) {
  const __m128i prod = _mm_madd_epi16(u->mins, _mm_loadu_si128((const __m128i *)s32));
  const __m128 dmin = _mm_mul_ps(_mm_loadu_ps(nyd4), _mm_set1_ps(u->dmin));
  return _mm_fmadd_ps(dmin, _mm_cvtepi32_ps(prod), accm);
}

KQ_INLINE __m512 q4k_min4(__m512i mins4, float xdmin, const float *nyd4, const int16_t *s32,
                          __m512 accm) {
  const __m512i prod = _mm512_madd_epi16(mins4, _mm512_loadu_si512((const void *)s32));
  const __m512 dmin = _mm512_mul_ps(_mm512_loadu_ps(nyd4), _mm512_set1_ps(xdmin));
  return _mm512_fmadd_ps(dmin, _mm512_cvtepi32_ps(prod), accm);
}

KQ_INLINE float q4k_finish(__m256 acc, __m128 accm) {
  accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
  accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
  return hsum_float_8(acc) + _mm_cvtss_f32(accm);
}


/*
 * RN rows from row r for the NT tokens starting at t0 (RN and NT compile-time constants after
 * inlining). With RN = 2 the second row's products read the activations the first row's just
 * brought into L1: on wide rows the tokens' activations do not fit L1 and would come from L2 once
 * per row.
 */
KQ_INLINE void q4k_tile(const uint8_t *w, int64_t row_bytes, const q8k_act *a, int t0,
                        const int NT, const int RN, const int single, float *out,
                        int64_t out_stride, int r, const uint8_t *end) {
  const int T = a->T;
  const int G = NT / 4; /* groups of 4 tokens (q4k_tokens4) */
  const int S = NT % 4; /* then single tokens (q4k_token in the form single) */
  __m256 acc[2][4];
  __m512 acc2[2][4];
  __m128 accm1[2][8];
  __m512 accm4[2][2];
#pragma GCC unroll 2
  for (int i = 0; i < RN; i++) {
#pragma GCC unroll 8
    for (int t = 0; t < 8; t++) {
      accm1[i][t] = _mm_setzero_ps();
    }
#pragma GCC unroll 4
    for (int s = 0; s < 4; s++) {
      acc[i][s] = _mm256_setzero_ps();
    }
    acc2[i][0] = acc2[i][1] = acc2[i][2] = acc2[i][3] = _mm512_setzero_ps();
    accm4[i][0] = accm4[i][1] = _mm512_setzero_ps();
  }
  for (int b = 0; b < a->nsb; b++) {
    const size_t bt = (size_t)b * T + t0;
#pragma GCC unroll 2
    for (int i = 0; i < RN; i++) {
      q4k_sb u;
      const uint8_t *blk = w + (int64_t)(r + i) * row_bytes + (int64_t)Q4K_BYTES * b;
      if (NT == 1) {
        prefetch_block(blk, end, Q4K_BYTES);
      }
      q4k_unpack(blk, &u, single == KQ_PAIRS);
      if (G > 0) {
#pragma GCC unroll 2
        for (int g = 0; g < G; g++) {
          q4k_tokens4(&u, a->qs + (size_t)(t0 + 4 * g) * a->cols + (size_t)QK_K * b, a->cols,
                      a->yd8 + (bt + 4 * g) * 8, &acc2[i][2 * g]);
        }
        const __m512i mins4 = _mm512_broadcast_i32x4(u.mins);
#pragma GCC unroll 2
        for (int g = 0; g < G; g++) {
          accm4[i][g] = q4k_min4(mins4, u.dmin, a->nyd4 + (bt + 4 * g) * 4,
                                 a->s32 + (bt + 4 * g) * 8, accm4[i][g]);
        }
      }
#pragma GCC unroll 4
      for (int s = 0; s < S; s++) {
        const int t = 4 * G + s;
        q4k_token(&u, a->qs + (size_t)(t0 + t) * a->cols + (size_t)QK_K * b, a->yd[bt + t],
                  &acc[i][s], single);
        accm1[i][4 * G + s] =
            q4k_min1(&u, a->nyd4 + (bt + t) * 4, a->s32 + (bt + t) * 8, accm1[i][4 * G + s]);
      }
    }
  }
#pragma GCC unroll 2
  for (int i = 0; i < RN; i++) {
    __m256 acc8[8];
    if (G > 0) {
      float m[32];
      _mm512_storeu_ps(m, accm4[i][0]);
      _mm512_storeu_ps(m + 16, accm4[i][1]);
#pragma GCC unroll 8
      for (int t = 0; t < 4 * G; t++) {
        accm1[i][t] = _mm_loadu_ps(m + 4 * t);
        acc8[t] = half8(acc2[i][t / 2], t % 2);
      }
    }
#pragma GCC unroll 4
    for (int s = 0; s < S; s++) {
      acc8[4 * G + s] = acc[i][s];
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) {
      out[(int64_t)(t0 + t) * out_stride + r + i] = q4k_finish(acc8[t], accm1[i][t]);
    }
  }
}

/*
 * Rows [r0, r1) for the NT tokens starting at t0, in one pass over the weights: groups of four
 * tokens, then the rest one by one (with the groups' per-row correction, or without any when NT <
 * 4).
 */
KQ_INLINE void q4k_block(const uint8_t *w, int64_t row_bytes, const q8k_act *a, int t0,
                         const int NT, const int single, float *out, int64_t out_stride, int r0,
                         int r1) {
  const uint8_t *end = w + (int64_t)r1 * row_bytes;
  int r = r0;
  if (NT > 1 && (size_t)NT * a->cols > KQ_L1_ACTIVATIONS) {
    for (; r + 2 <= r1; r += 2) {
      q4k_tile(w, row_bytes, a, t0, NT, 2, single, out, out_stride, r, end);
    }
  }
  for (; r < r1; r++) {
    q4k_tile(w, row_bytes, a, t0, NT, 1, single, out, out_stride, r, end);
  }
}

#define Q4K_NT(N, SINGLE)                                                                        \
  static void q4k_nt##N(const uint8_t *w, int64_t rb, const q8k_act *a, int t0, float *out,      \
                        int64_t os, int r0, int r1) {                                            \
    q4k_block(w, rb, a, t0, N, SINGLE, out, os, r0, r1);                                         \
  }
Q4K_NT(2, KQ_UNSIGNED)
Q4K_NT(3, KQ_UNSIGNED)
Q4K_NT(4, KQ_PAIRS)
Q4K_NT(5, KQ_PAIRS)
Q4K_NT(6, KQ_PAIRS)
Q4K_NT(7, KQ_PAIRS)
Q4K_NT(8, KQ_PAIRS)

static void q4k_nt1(const uint8_t *w, int64_t rb, const q8k_act *a, int t0, float *out,
                    int64_t os, int r0, int r1) {
  if (a->T == 1) {
    q4k_block(w, rb, a, t0, 1, KQ_SIGNED, out, os, r0, r1);
  } else {
    q4k_block(w, rb, a, t0, 1, KQ_UNSIGNED, out, os, r0, r1);
  }
}

/* One token block of a kernel (q4k_ntN, q6k_ntN). */
typedef void (*kq_block_fn)(const uint8_t *, int64_t, const q8k_act *, int, float *, int64_t, int,
                       int);
static const kq_block_fn q4k_nt[9] = {NULL,    q4k_nt1, q4k_nt2, q4k_nt3, q4k_nt4,
                                 q4k_nt5, q4k_nt6, q4k_nt7, q4k_nt8};

/* Quantizes the T rows of x into scratch and fills a. */
static void q8k_prepare(const float *x, int T, int cols, uint8_t *scratch, int mode, q8k_act *a) {
  const int nsb = cols / QK_K;
  uint8_t *qs = scratch;
  float *yd = (float *)(scratch + (size_t)T * cols);
  float *nyd4 = yd + (size_t)T * nsb;
  int16_t *s32 = (int16_t *)(nyd4 + (size_t)T * nsb * 4);
  float *yd8 = (float *)(s32 + (size_t)T * nsb * 8);
  float d[64];
  int16_t sums[64 * 8];
  for (int t = 0; t < T; t++) {
    for (int b0 = 0; b0 < nsb; b0 += 64) {
      const int n = nsb - b0 < 64 ? nsb - b0 : 64;
      quantize_q8k_row(x + (size_t)t * cols + (size_t)QK_K * b0, n,
                       qs + (size_t)t * cols + (size_t)QK_K * b0, d,
                       mode == KQ_Q4K ? sums : NULL, mode,
                       mode == KQ_Q4K && T == 1 ? 0 : 0x80);
      for (int i = 0; i < n; i++) {
        const size_t bt = (size_t)(b0 + i) * T + t;
        yd[bt] = d[i];
        for (int k = 0; k < 8; k++) {
          yd8[bt * 8 + k] = d[i];
        }
        if (mode == KQ_Q4K) {
          for (int k = 0; k < 4; k++) {
            nyd4[bt * 4 + k] = -d[i];
          }
          memcpy(s32 + bt * 8, sums + 8 * i, 16);
        }
      }
    }
  }
  a->qs = qs;
  a->yd = yd;
  a->nyd4 = nyd4;
  a->s32 = s32;
  a->yd8 = yd8;
  a->T = T;
  a->cols = cols;
  a->nsb = nsb;
}

void sluice_q4_k(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x, int32_t T,
                 float *out, int64_t out_stride, int32_t r0, int32_t r1, uint8_t *scratch) {
  if (T <= 0 || r1 <= r0) {
    return;
  }
  q8k_act a;
  q8k_prepare(x, T, cols, scratch, KQ_Q4K, &a);
  /* blocks of 8 tokens, the remainder (1..7) in one more pass over the weights */
  for (int t = 0; t < T; t += 8) {
    const int n = T - t < 8 ? T - t : 8;
    q4k_nt[n](w, row_bytes, &a, t, out, out_stride, r0, r1);
  }
}

/* ---------------------------------------------------------------------------------------------
 * Q6_K
 */

typedef struct {
  __m512i w[4];  /* q - 32 as int8: values 0..63, 64..127, 128..191, 192..255 */
  __m512i sp[2]; /* (scale of w[0], scale of w[1]), (w[2], w[3]) word pairs; 16 values a scale */
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
    const __m512i sa = _mm512_permutexvar_epi32(
        _mm512_set_epi32(8 * j + 3, 8 * j + 3, 8 * j + 3, 8 * j + 3, 8 * j + 2, 8 * j + 2,
                         8 * j + 2, 8 * j + 2, 8 * j + 1, 8 * j + 1, 8 * j + 1, 8 * j + 1, 8 * j,
                         8 * j, 8 * j, 8 * j),
        sc32);
    const __m512i sb = _mm512_permutexvar_epi32(
        _mm512_set_epi32(8 * j + 7, 8 * j + 7, 8 * j + 7, 8 * j + 7, 8 * j + 6, 8 * j + 6,
                         8 * j + 6, 8 * j + 6, 8 * j + 5, 8 * j + 5, 8 * j + 5, 8 * j + 5,
                         8 * j + 4, 8 * j + 4, 8 * j + 4, 8 * j + 4),
        sc32);
    u->sp[j] = _mm512_or_si512(sa, _mm512_slli_epi32(sb, 16));
    /* -128 * sum of 4 (q - 32) = 16384 - 128 * sum of 4 q, within int16 */
    corr = _mm512_dpwssd_epi32(corr,
                               pair16(_mm512_dpbusd_epi32(k16384, q0, mneg128),
                                      _mm512_dpbusd_epi32(k16384, q1, mneg128)),
                               u->sp[j]);
    u->w[2 * j] = _mm512_sub_epi8(q0, m32);
    u->w[2 * j + 1] = _mm512_sub_epi8(q1, m32);
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
  __m512i s = _mm512_dpwssd_epi32(u->corr, pair16(p0, p1), u->sp[0]);
  s = _mm512_dpwssd_epi32(s, pair16(p2, p3), u->sp[1]);
  const __m256i sumi = fold16(s);
  const float d = yd * u->d;
  *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), *acc);
}

/* Four tokens of q6k_token, step by step across the tokens (see q4k_tokens4). */
KQ_INLINE void q6k_tokens4(const q6k_sb *u, const uint8_t *xu, size_t stride, const float *yd8,
                           __m512 *acc2) {
  const __m512i z = _mm512_setzero_si512();
  __m512i p[4][4];
#pragma GCC unroll 4
  for (int t = 0; t < 4; t++) {
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
      p[t][g] = _mm512_dpbusd_epi32(
          z, _mm512_loadu_si512((const void *)(xu + stride * t + 64 * g)), u->w[g]);
    }
  }
  __m512i s[4];
#pragma GCC unroll 4
  for (int t = 0; t < 4; t++) {
    s[t] = _mm512_dpwssd_epi32(u->corr, pair16(p[t][0], p[t][1]), u->sp[0]);
  }
#pragma GCC unroll 4
  for (int t = 0; t < 4; t++) {
    s[t] = _mm512_dpwssd_epi32(s[t], pair16(p[t][2], p[t][3]), u->sp[1]);
  }
  acc2[0] = fma2(s[0], s[1], yd8, u->d, acc2[0]);
  acc2[1] = fma2(s[2], s[3], yd8 + 16, u->d, acc2[1]);
}

/* RN rows from row r for the NT tokens starting at t0 (see q4k_tile). */
KQ_INLINE void q6k_tile(const uint8_t *w, int64_t row_bytes, const q8k_act *a, int t0,
                        const int NT, const int RN, float *out, int64_t out_stride, int r,
                        const uint8_t *end) {
  const int T = a->T;
  const int G = NT / 4; /* groups of 4 tokens (q6k_tokens4), then single tokens */
  const int S = NT % 4;
  __m256 acc[2][4];
  __m512 acc2[2][4];
#pragma GCC unroll 2
  for (int i = 0; i < RN; i++) {
#pragma GCC unroll 4
    for (int s = 0; s < 4; s++) {
      acc[i][s] = _mm256_setzero_ps();
    }
    acc2[i][0] = acc2[i][1] = acc2[i][2] = acc2[i][3] = _mm512_setzero_ps();
  }
  for (int b = 0; b < a->nsb; b++) {
    const size_t bt = (size_t)b * T + t0;
#pragma GCC unroll 2
    for (int i = 0; i < RN; i++) {
      q6k_sb u;
      const uint8_t *blk = w + (int64_t)(r + i) * row_bytes + (int64_t)Q6K_BYTES * b;
      if (NT == 1) {
        prefetch_block(blk, end, Q6K_BYTES);
      }
      q6k_unpack(blk, &u);
#pragma GCC unroll 2
      for (int g = 0; g < G; g++) {
        q6k_tokens4(&u, a->qs + (size_t)(t0 + 4 * g) * a->cols + (size_t)QK_K * b, a->cols,
                    a->yd8 + (bt + 4 * g) * 8, &acc2[i][2 * g]);
      }
#pragma GCC unroll 4
      for (int s = 0; s < S; s++) {
        const int t = 4 * G + s;
        q6k_token(&u, a->qs + (size_t)(t0 + t) * a->cols + (size_t)QK_K * b, a->yd[bt + t],
                  &acc[i][s]);
      }
    }
  }
#pragma GCC unroll 2
  for (int i = 0; i < RN; i++) {
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) {
      const __m256 a8 = t < 4 * G ? half8(acc2[i][t / 2], t % 2) : acc[i][t - 4 * G];
      out[(int64_t)(t0 + t) * out_stride + r + i] = hsum_float_8(a8);
    }
  }
}

KQ_INLINE void q6k_block(const uint8_t *w, int64_t row_bytes, const q8k_act *a, int t0,
                         const int NT, float *out, int64_t out_stride, int r0, int r1) {
  const uint8_t *end = w + (int64_t)r1 * row_bytes;
  int r = r0;
  if (NT > 1 && (size_t)NT * a->cols > KQ_L1_ACTIVATIONS) {
    for (; r + 2 <= r1; r += 2) {
      q6k_tile(w, row_bytes, a, t0, NT, 2, out, out_stride, r, end);
    }
  }
  for (; r < r1; r++) {
    q6k_tile(w, row_bytes, a, t0, NT, 1, out, out_stride, r, end);
  }
}

#define Q6K_NT(N)                                                                                \
  static void q6k_nt##N(const uint8_t *w, int64_t rb, const q8k_act *a, int t0, float *out,      \
                        int64_t os, int r0, int r1) {                                            \
    q6k_block(w, rb, a, t0, N, out, os, r0, r1);                                                 \
  }
Q6K_NT(1)
Q6K_NT(2)
Q6K_NT(3)
Q6K_NT(4)
Q6K_NT(5)
Q6K_NT(6)
Q6K_NT(7)
Q6K_NT(8)

static const kq_block_fn q6k_nt[9] = {NULL,    q6k_nt1, q6k_nt2, q6k_nt3, q6k_nt4,
                                 q6k_nt5, q6k_nt6, q6k_nt7, q6k_nt8};

void sluice_q6_k(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x, int32_t T,
                 float *out, int64_t out_stride, int32_t r0, int32_t r1, uint8_t *scratch) {
  if (T <= 0 || r1 <= r0) {
    return;
  }
  q8k_act a;
  q8k_prepare(x, T, cols, scratch, KQ_Q6K, &a);
  /* blocks of 8 tokens, the remainder (1..7) in one more pass over the weights */
  for (int t = 0; t < T; t += 8) {
    const int n = T - t < 8 ? T - t : 8;
    q6k_nt[n](w, row_bytes, &a, t, out, out_stride, r0, r1);
  }
}
