/*
 * Q8_0 and Q4_0 weights times q8_0-quantized activations, AVX-512 BW/VL/VNNI
 * (docs/kernels.md, "Native VNNI kernels: Q8_0 and Q4_0").
 *
 * Numerics: the activations are quantized as ggml does (quantize_row_q8_0), and the integer
 * products are exact. Per (row, token, 32-column block) the 32 products are summed into 4 int32
 * lanes, lane k = the products of elements 4k..4k+3 and 16+4k..16+4k+3 (two of llama.cpp's
 * mul_sum_i8_pairs lanes added as integers); each lane is converted to float and accumulated
 * with one FMA by d_w * d_x over the blocks in order; the result is (a0 + a2) + (a1 + a3).
 * llama.cpp keeps 8 lanes (one FMA per 4 products): the last bits differ, the error against
 * exact arithmetic is the same or smaller, and half the FMAs buy 1.4x in the batched kernel.
 * These lane values do not depend on where the lanes sit in a register, so both kernels below
 * give a token bit-identical results whatever T and the row range.
 *
 * vpdpbusd multiplies unsigned by signed bytes. The activations stay signed; the weights are made
 * unsigned (Q8_0: w ^ 0x80 = w + 128; Q4_0: the raw nibble n = w + 8) and each lane starts from
 * minus the excess (128 resp. 8 times the sum of its activations), computed once per token and
 * block with vpdpbusd against a constant.
 *
 * - T = 1 (and tokens that do not fill a quad): row quads, 4 rows' groups 0..3 in one register and
 *   groups 4..7 in another, two vpdpbusd into one accumulator. Memory-bound, software prefetch.
 * - T >= 2: token quads. Per row, 4 tokens and block, two vpdpbusd (groups 0..3, then 4..7 of the
 *   four tokens, interleaved that way in scratch; the weight groups spread by vpermd) into one
 *   accumulator, one conversion and one FMA for 128 products. Tiles of 4 rows x 2 quads.
 *
 * Memory: reads only the rows [r0, r1) of w (prefetches included) and x[0 .. T*cols), writes out's
 * rows [r0, r1) of the T tokens and scratch (the int8 activations, a padded last quad when it
 * fits, then the block scales).
 */
#include <immintrin.h>
#include <string.h>

#include "sluice_cpu.h"

#define QK 32
#define Q8_0_BYTES 34
#define Q4_0_BYTES 18

enum { KIND_Q8_0 = 0, KIND_Q4_0 = 1 };

static inline uint16_t load_u16(const uint8_t *p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}

/*
 * One block of quantize_row_q8_0 (ggml-cpu, x86): amax = max |x|, d = amax / 127 stored as f16,
 * q = round-half-even(x * (127 / amax)). Returns the 32 integers; *d receives d as float (through
 * f16).
 */
static inline __m256i quantize_block(const float *x, float *d) {
  __m512 v0 = _mm512_loadu_ps(x);
  __m512 v1 = _mm512_loadu_ps(x + 16);
  float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
  float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  __m512 vid = _mm512_set1_ps(id);
  __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, vid),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, vid),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  *d = _cvtsh_ss(_cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtsepi32_epi8(q0)),
                                 _mm512_cvtsepi32_epi8(q1), 1);
}

/*
 * Quantizes the T activation rows into scratch:
 * - tokens 4q .. 4q + 3 (4q < tq) as a quad at xq + 4q * cols, 128 bytes per block: two 64-byte
 *   vectors m = 0, 1, where 32-bit lane 8h + 2k + u holds group 4m + k of token 4q + 2h + u (the
 *   lane order of the quad kernel); tokens from T on (a padded last quad) are zeros;
 * - the other tokens (tq <= t < T) plainly at xq + t * cols (32 bytes per block);
 * - the scales block-major, xd[b * T + t], so a tile's tokens are contiguous.
 */
static void quantize(const float *x, int32_t T, int32_t tq, int32_t cols, int8_t *xq, float *xd) {
  const int nb = cols / QK;
  /* from the four tokens' blocks (as 2 x 2 registers: tokens 0, 1 and 2, 3) to the two vectors */
  const __m512i m0 = _mm512_set_epi32(27, 11, 26, 10, 25, 9, 24, 8, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i m1 = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 23, 7, 22, 6, 21, 5, 20, 4);
  for (int32_t t = 0; t < tq; t += 4) {
    int8_t *dst = xq + (int64_t)t * cols;
    for (int b = 0; b < nb; b++) {
      __m256i q[4];
      for (int u = 0; u < 4; u++) {
        q[u] = t + u < T ? quantize_block(x + (int64_t)(t + u) * cols + b * QK,
                                          &xd[(int64_t)b * T + t + u])
                         : _mm256_setzero_si256(); /* padding of the last quad */
      }
      /* A = tokens 0 | 2 (256-bit halves), B = tokens 1 | 3 */
      __m512i A = _mm512_inserti64x4(_mm512_castsi256_si512(q[0]), q[2], 1);
      __m512i B = _mm512_inserti64x4(_mm512_castsi256_si512(q[1]), q[3], 1);
      _mm512_store_si512(dst + 128 * b, _mm512_permutex2var_epi32(A, m0, B));
      _mm512_store_si512(dst + 128 * b + 64, _mm512_permutex2var_epi32(A, m1, B));
    }
  }
  for (int32_t t = tq; t < T; t++) {
    for (int b = 0; b < nb; b++) {
      _mm256_store_si256((__m256i *)(xq + (int64_t)t * cols + b * QK),
                         quantize_block(x + (int64_t)t * cols + b * QK, &xd[(int64_t)b * T + t]));
    }
  }
}

/* The sum of the 4 accumulator lanes a0..a3 of a result: (a0 + a2) + (a1 + a3). */
static inline float hsum4(__m128 v) {
  __m128 r = _mm_add_ps(v, _mm_movehl_ps(v, v));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

#define MAX_R 6        /* the most rows of a quad-kernel tile */
#define MAX_Q 2        /* the most token quads of a quad-kernel tile */

typedef struct {
  const uint8_t *w;     /* row 0 of the weights */
  int64_t row_bytes;
  int32_t nb;           /* blocks per row */
  int32_t cols;
  int32_t T;
  const int8_t *xq;     /* quantized activations (see quantize) */
  const float *xd;      /* their block scales, xd[b * T + t] */
  float *out;
  int64_t out_stride;
  const uint8_t *end;   /* w + r1 * row_bytes: prefetches stay below */
} args_t;

/*
 * Prefetch of the next tile's rows. The hardware prefetcher ramps up per row stream, and short rows
 * (896 columns: 952 bytes) end before it does; so the tile fetches the next one's bytes
 * [pf, pf + nrows * row_bytes) in equal parts over its blocks. T2 hint: measured best (T0, T1 and
 * NTA were slower at T = 1).
 */
static inline __attribute__((always_inline)) void prefetch_part(const args_t *a, const uint8_t *pf,
                                                                int64_t step, int b) {
  const uint8_t *p = pf + b * step;
  for (int64_t k = 0; k < step && p + k < a->end; k += 64) {
    _mm_prefetch((const char *)(p + k), _MM_HINT_T2);
  }
}

/*
 * Single-token kernel (T = 1, and tokens outside the quads): R "row quads" (4 consecutive rows,
 * the last repeated past the range's end). Per row quad and block two registers, the 16 bytes of
 * groups 0..3 of the four rows and those of groups 4..7, against the token's groups 0..3 resp.
 * 4..7 repeated 4 times, with two vpdpbusd into one accumulator: lane 4j + k of row j holds the
 * merged lane k, exactly as in the quad kernel, for one conversion and one FMA per 128 products.
 */
static inline __attribute__((always_inline)) void tile_rows(const args_t *a, int kind, int R,
                                                            int32_t r, int32_t end, int t,
                                                            const uint8_t *pf) {
  const int bytes = kind == KIND_Q8_0 ? Q8_0_BYTES : Q4_0_BYTES;
  const __m512i zero = _mm512_setzero_si512();
  /* the unsigned offset of the weights, as the unsigned operand of vpdpbusd */
  const __m512i off = _mm512_set1_epi8(kind == KIND_Q8_0 ? (char)0x80 : 8);
  const __m512i lo4 = _mm512_set1_epi8(0x0F);
  const __m512i spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  const uint8_t *p[2][4];
  __m512 acc[2];
#pragma GCC unroll 2
  for (int i = 0; i < R; i++) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
      int32_t row = r + 4 * i + j < end ? r + 4 * i + j : end - 1;
      p[i][j] = a->w + (int64_t)row * a->row_bytes;
    }
    acc[i] = _mm512_setzero_ps();
  }
  const int8_t *xq = a->xq + (int64_t)t * a->cols;
  const float *xd = a->xd + t;
  const int nb = a->nb;
  const int64_t T = a->T;
  const int64_t pf_step = pf ? ((4 * R * a->row_bytes + nb - 1) / nb + 63) & ~(int64_t)63 : 0;
  for (int b = 0; b < nb; b++) {
    if (pf) prefetch_part(a, pf, pf_step, b);
    __m512i x0 = _mm512_broadcast_i32x4(_mm_load_si128((const __m128i *)(xq + b * QK)));
    __m512i x1 = _mm512_broadcast_i32x4(_mm_load_si128((const __m128i *)(xq + b * QK + 16)));
    __m512i nc = _mm512_sub_epi32(
        zero, _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, off, x0), off, x1));
    __m128 dx = _mm_set1_ps(xd[b * T]);
#pragma GCC unroll 2
    for (int i = 0; i < R; i++) {
      const uint8_t *q0 = p[i][0] + (int64_t)b * bytes, *q1 = p[i][1] + (int64_t)b * bytes;
      const uint8_t *q2 = p[i][2] + (int64_t)b * bytes, *q3 = p[i][3] + (int64_t)b * bytes;
      __m512i w0, w1;
      if (kind == KIND_Q8_0) {
        __m512i ab = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(q0 + 2))),
            _mm256_loadu_si256((const __m256i *)(q1 + 2)), 1);
        __m512i cd = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(q2 + 2))),
            _mm256_loadu_si256((const __m256i *)(q3 + 2)), 1);
        w0 = _mm512_xor_si512(_mm512_shuffle_i64x2(ab, cd, 0x88), off); /* 128-bit lanes 0, 2 */
        w1 = _mm512_xor_si512(_mm512_shuffle_i64x2(ab, cd, 0xDD), off); /* 128-bit lanes 1, 3 */
      } else {
        __m512i n = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(q0 + 2)));
        n = _mm512_inserti32x4(n, _mm_loadu_si128((const __m128i *)(q1 + 2)), 1);
        n = _mm512_inserti32x4(n, _mm_loadu_si128((const __m128i *)(q2 + 2)), 2);
        n = _mm512_inserti32x4(n, _mm_loadu_si128((const __m128i *)(q3 + 2)), 3);
        w0 = _mm512_and_si512(n, lo4);
        w1 = _mm512_and_si512(_mm512_srli_epi16(n, 4), lo4);
      }
      __m128i h = _mm_set_epi16(0, 0, 0, 0, (short)load_u16(q3), (short)load_u16(q2),
                                (short)load_u16(q1), (short)load_u16(q0));
      __m512 s = _mm512_permutexvar_ps(spread,
                                       _mm512_castps128_ps512(_mm_mul_ps(_mm_cvtph_ps(h), dx)));
      __m512i sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(nc, w0, x0), w1, x1);
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), s, acc[i]);
    }
  }
  float *o = a->out + (int64_t)t * a->out_stride;
#pragma GCC unroll 2
  for (int i = 0; i < R; i++) {
    if (r + 4 * i < end) o[r + 4 * i] = hsum4(_mm512_castps512_ps128(acc[i]));
    if (r + 4 * i + 1 < end) o[r + 4 * i + 1] = hsum4(_mm512_extractf32x4_ps(acc[i], 1));
    if (r + 4 * i + 2 < end) o[r + 4 * i + 2] = hsum4(_mm512_extractf32x4_ps(acc[i], 2));
    if (r + 4 * i + 3 < end) o[r + 4 * i + 3] = hsum4(_mm512_extractf32x4_ps(acc[i], 3));
  }
}

/*
 * Quad kernel (T >= 4): R rows from r x Q token quads from quad q0. Per row, quad and block two
 * vpdpbusd into one accumulator: the first against the groups 0..3 of the four tokens, the second
 * against the groups 4..7 (lane 8h + 2k + u: token 2h + u of the quad, groups k and k + 4), then one
 * conversion and one FMA for 128 products. The scale alternates per lane between the quad's tokens
 * (one vpermps of the row's scales for the tile's 8 tokens).
 */
static inline __attribute__((always_inline)) void tile_quads(const args_t *a, int kind, int R,
                                                             int Q, int32_t r, int32_t q0,
                                                             const uint8_t *pf) {
  const int bytes = kind == KIND_Q8_0 ? Q8_0_BYTES : Q4_0_BYTES;
  const __m512i zero = _mm512_setzero_si512();
  const __m512i off = _mm512_set1_epi8(kind == KIND_Q8_0 ? (char)0x80 : 8);
  const __m256i off256 = _mm256_set1_epi8((char)0x80);
  const __m256i lo4 = _mm256_set1_epi8(0x0F);
  /* weight groups k (resp. 4 + k) to lanes 8h + 2k + u */
  const __m512i wsel0 = _mm512_set_epi32(3, 3, 2, 2, 1, 1, 0, 0, 3, 3, 2, 2, 1, 1, 0, 0);
  const __m512i wsel1 = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 7, 7, 6, 6, 5, 5, 4, 4);
  /* scale of token 4j + 2h + u at lane 8h + 2k + u */
  const __m512i ssel0 = _mm512_set_epi32(3, 2, 3, 2, 3, 2, 3, 2, 1, 0, 1, 0, 1, 0, 1, 0);
  const __m512i ssel1 = _mm512_set_epi32(7, 6, 7, 6, 7, 6, 7, 6, 5, 4, 5, 4, 5, 4, 5, 4);
  const int nb = a->nb;
  const int64_t T = a->T;
  const int32_t t0 = 4 * q0;
  const int real = T - t0 < 4 * Q ? (int)(T - t0) : 4 * Q; /* tokens of the tile below T */
  const __mmask8 dmask = (__mmask8)((1u << real) - 1);
  const int8_t *xp = a->xq + (int64_t)t0 * a->cols;
  const float *xd = a->xd + t0;
  const uint8_t *pw = a->w + (int64_t)r * a->row_bytes;
  __m512 acc[MAX_R][MAX_Q];
#pragma GCC unroll 6
  for (int i = 0; i < R; i++) {
#pragma GCC unroll 2
    for (int j = 0; j < Q; j++) acc[i][j] = _mm512_setzero_ps();
  }
  const int64_t pf_step = pf ? ((R * a->row_bytes + nb - 1) / nb + 63) & ~(int64_t)63 : 0;
  for (int b = 0; b < nb; b++) {
    if (pf) prefetch_part(a, pf, pf_step, b);
    __m256 dx = _mm256_maskz_loadu_ps(dmask, xd + b * T);
    __m512i x0[MAX_Q], x1[MAX_Q], nc[MAX_Q];
#pragma GCC unroll 2
    for (int j = 0; j < Q; j++) {
      x0[j] = _mm512_load_si512(xp + (int64_t)j * 4 * a->cols + 128 * b);
      x1[j] = _mm512_load_si512(xp + (int64_t)j * 4 * a->cols + 128 * b + 64);
      nc[j] = _mm512_sub_epi32(
          zero, _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, off, x0[j]), off, x1[j]));
    }
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
      const uint8_t *q = pw + i * a->row_bytes + (int64_t)b * bytes;
      __m256i w8;
      if (kind == KIND_Q8_0) {
        w8 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(q + 2)), off256);
      } else {
        __m128i n = _mm_loadu_si128((const __m128i *)(q + 2));
        w8 = _mm256_and_si256(
            _mm256_inserti128_si256(_mm256_castsi128_si256(n), _mm_srli_epi16(n, 4), 1), lo4);
      }
      __m512i w0 = _mm512_permutexvar_epi32(wsel0, _mm512_castsi256_si512(w8));
      __m512i w1 = _mm512_permutexvar_epi32(wsel1, _mm512_castsi256_si512(w8));
      __m256 dw = _mm256_cvtph_ps(_mm_set1_epi16(load_u16(q)));
      __m512 srow = _mm512_castps256_ps512(_mm256_mul_ps(dw, dx));
#pragma GCC unroll 2
      for (int j = 0; j < Q; j++) {
        __m512 s = _mm512_permutexvar_ps(j == 0 ? ssel0 : ssel1, srow);
        __m512i sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(nc[j], w0, x0[j]), w1, x1[j]);
        acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), s, acc[i][j]);
      }
    }
  }
  /* lanes 8h + 2k + u to token 2h + u's four lanes k = 0..3, one 128-bit lane per token */
  const __m512i unmix = _mm512_set_epi32(15, 13, 11, 9, 14, 12, 10, 8, 7, 5, 3, 1, 6, 4, 2, 0);
#pragma GCC unroll 6
  for (int i = 0; i < R; i++) {
#pragma GCC unroll 2
    for (int j = 0; j < Q; j++) {
      __m512 v = _mm512_permutexvar_ps(unmix, acc[i][j]);
      float *o = a->out + (int64_t)(t0 + 4 * j) * a->out_stride + r + i;
      o[0] = hsum4(_mm512_castps512_ps128(v));
      if (4 * j + 1 < real) o[a->out_stride] = hsum4(_mm512_extractf32x4_ps(v, 1));
      if (4 * j + 2 < real) o[2 * a->out_stride] = hsum4(_mm512_extractf32x4_ps(v, 2));
      if (4 * j + 3 < real) o[3 * a->out_stride] = hsum4(_mm512_extractf32x4_ps(v, 3));
    }
  }
}

typedef void (*rows_fn)(const args_t *, int32_t, int32_t, int, const uint8_t *);
typedef void (*quads_fn)(const args_t *, int32_t, int32_t, const uint8_t *);

#define ROWS_FN(K, R)                                                                          \
  static void rows_##K##_##R(const args_t *a, int32_t r, int32_t end, int t, const uint8_t *pf) { \
    tile_rows(a, K, R, r, end, t, pf);                                                         \
  }
#define QUADS_FN(K, R, Q)                                                                        \
  static void quads_##K##_##R##_##Q(const args_t *a, int32_t r, int32_t q0, const uint8_t *pf) { \
    tile_quads(a, K, R, Q, r, q0, pf);                                                           \
  }
#define QUADS_R(K, R) QUADS_FN(K, R, 1) QUADS_FN(K, R, 2)
#define KERNELS(K)                                                                           \
  ROWS_FN(K, 1) ROWS_FN(K, 2) QUADS_R(K, 1) QUADS_R(K, 2)                                     \
  QUADS_R(K, 3) QUADS_R(K, 4) QUADS_R(K, 5) QUADS_R(K, 6)

KERNELS(0)
KERNELS(1)

static const rows_fn ROWS[2][2] = {{rows_0_1, rows_0_2}, {rows_1_1, rows_1_2}};
#define Q2(K, R) {quads_##K##_##R##_1, quads_##K##_##R##_2}
/* [kind][R - 1][Q - 1] */
static const quads_fn QUADS[2][MAX_R][MAX_Q] = {
    {Q2(0, 1), Q2(0, 2), Q2(0, 3), Q2(0, 4), Q2(0, 5), Q2(0, 6)},
    {Q2(1, 1), Q2(1, 2), Q2(1, 3), Q2(1, 4), Q2(1, 5), Q2(1, 6)}};

#define ROW_TILE 6  /* rows per quad-kernel tile (4: 3-6% slower) */
#define QUAD_TILE 2 /* token quads per quad-kernel tile (the row scales of 8 tokens: one ymm) */

/* Single token t over rows [r, r + n): tiles of 2 row quads (8 rows). */
static void single_token(int kind, const args_t *a, int32_t r, int32_t n, int32_t t, int pf) {
  int32_t end = r + n;
  for (int32_t q = r; q < end; q += 8) {
    int R = end - q > 4 ? 2 : 1;
    const uint8_t *next = a->w + (int64_t)(q + 8) * a->row_bytes;
    if (pf) {
      /* the tile's own rows requested at once (T0) on top of the spread prefetch of the next
       * tile: 27 -> 32 GB/s at T = 1 with 2 threads, DRAM-resident (docs/kernels.md) */
      const uint8_t *cur = a->w + (int64_t)q * a->row_bytes;
      const uint8_t *stop = a->w + (int64_t)(q + 8) * a->row_bytes;
      for (const uint8_t *p = cur; p < stop && p < a->end; p += 64) {
        _mm_prefetch((const char *)p, _MM_HINT_T0);
      }
    }
    ROWS[kind][R - 1](a, q, end, t, pf && next < a->end ? next : 0);
  }
}

static void matmul(int kind, const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x,
                   int32_t T, float *out, int64_t out_stride, int32_t r0, int32_t r1,
                   uint8_t *scratch) {
  size_t n = (size_t)T * (size_t)cols;
  int8_t *xq = (int8_t *)scratch;
  /* Tokens in quads of 4 (T >= 2), the last quad padded when its 4 * cols bytes still fit in
   * scratch; otherwise the last T % 4 tokens one by one. */
  int32_t quads = T / 4;
  if (T > 1 && T % 4 != 0 &&
      ((size_t)(quads + 1) * 4 * cols + 63) / 64 * 64 + n / QK * sizeof(float) <=
          SLUICE_SCRATCH_BYTES(cols, T)) {
    quads++;
  }
  float *xd = (float *)(scratch + (((size_t)quads * 4 * cols > n ? (size_t)quads * 4 * cols : n) + 63) / 64 * 64);
  quantize(x, T, 4 * quads, cols, xq, xd);
  args_t a = {w,  row_bytes, cols / QK,  cols, T, xq, xd, out, out_stride,
              w + (int64_t)r1 * row_bytes};
  if (T == 1) {
    single_token(kind, &a, r0, r1 - r0, 0, 1);
    return;
  }
  for (int32_t r = r0; r < r1; r += ROW_TILE) {
    int R = r1 - r < ROW_TILE ? r1 - r : ROW_TILE;
    const uint8_t *next = w + (int64_t)(r + ROW_TILE) * row_bytes;
    for (int32_t q = 0; q < quads; q += QUAD_TILE) {
      int Q = quads - q < QUAD_TILE ? quads - q : QUAD_TILE;
      QUADS[kind][R - 1][Q - 1](&a, r, q, q == 0 && next < a.end ? next : 0);
    }
    /* the last T % 4 tokens (all of them for T < 4) one by one, on these rows while in cache */
    for (int32_t t = 4 * quads; t < T; t++) single_token(kind, &a, r, R, t, quads == 0 && t == 0);
  }
}

SLUICE_API void sluice_q8_0(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x, int32_t T,
                 float *out, int64_t out_stride, int32_t r0, int32_t r1, uint8_t *scratch) {
  matmul(KIND_Q8_0, w, row_bytes, cols, x, T, out, out_stride, r0, r1, scratch);
}

SLUICE_API void sluice_q4_0(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x, int32_t T,
                 float *out, int64_t out_stride, int32_t r0, int32_t r1, uint8_t *scratch) {
  matmul(KIND_Q4_0, w, row_bytes, cols, x, T, out, out_stride, r0, r1, scratch);
}
