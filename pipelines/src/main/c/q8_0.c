/*
 * Q8_0 and Q4_0 weights times q8_0-quantized activations, AVX-512 BW/VL/VNNI
 * (docs/kernels.md, "Native VNNI kernels: Q8_0 and Q4_0").
 *
 * Numerics: per (row, token, 32-column block) one vpdpbusd gives 8 int32 lanes, lane l = the sum
 * of the products of the block's elements 4l..4l+3 (llama.cpp's mul_sum_i8_pairs lanes); each lane
 * is converted to float and accumulated with one FMA by d_w * d_x over the blocks in order, and the
 * 8 lanes are summed at the end in the order of ggml's hsum_float_8. That is exactly the float
 * arithmetic of ggml_vec_dot_q8_0_q8_0 / ggml_vec_dot_q4_0_q8_0 (AVX2) and of llamafile's
 * tinyBLAS_Q0_AVX, per token, and it does not depend on where the lanes sit in a register: so
 * both kernels below give a token bit-identical results whatever T and the row range.
 *
 * vpdpbusd multiplies unsigned by signed bytes. The activations stay signed; the weights are made
 * unsigned (Q8_0: w ^ 0x80 = w + 128; Q4_0: the raw nibble n = w + 8) and each lane starts from
 * minus the excess (128 resp. 8 times the sum of its 4 activations), computed once per token and
 * block with one more vpdpbusd. The lane integers are exact.
 *
 * - T = 1 (and the last token of an odd T): "row pairs", rows a and b in the two halves of a
 *   512-bit register, the token's block broadcast to both; memory-bound, with a software prefetch
 *   of the next tile's rows.
 * - T >= 2: token pairs. A register holds one row's block against two tokens (lane 2k token t0's
 *   group k, lane 2k + 1 token t1's; the activations are stored interleaved that way in scratch,
 *   the weight groups duplicated by one vpermd), so the scale alternates between two values, one
 *   64-bit broadcast load. Tiles of 4 rows x 4 pairs: each weight register feeds 8 tokens.
 *
 * Memory: reads only the rows [r0, r1) of w (prefetches included) and x[0 .. T*cols), writes out's
 * rows [r0, r1) of the T tokens and scratch (T*cols bytes of int8 activations, then T*cols/32
 * floats of scales).
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
 * - tokens 2p and 2p + 1 (p < T / 2) as a pair at xq + 2p * cols, each block 64 bytes with the
 *   two tokens' 4-byte groups interleaved (t0 g0, t1 g0, t0 g1, t1 g1, ..., t1 g7): the lane
 *   order of the pair kernel;
 * - the last token of an odd T plainly at xq + (T - 1) * cols (32 bytes per block);
 * - the scales block-major, xd[b * T + t], so a tile's tokens are contiguous.
 */
static void quantize(const float *x, int32_t T, int32_t cols, int8_t *xq, float *xd) {
  const int nb = cols / QK;
  const __m512i mix = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  for (int32_t t = 0; t + 1 < T; t += 2) {
    int8_t *dst = xq + (int64_t)t * cols;
    for (int b = 0; b < nb; b++) {
      __m256i q0 = quantize_block(x + (int64_t)t * cols + b * QK, &xd[(int64_t)b * T + t]);
      __m256i q1 = quantize_block(x + (int64_t)(t + 1) * cols + b * QK, &xd[(int64_t)b * T + t + 1]);
      _mm512_store_si512(dst + 64 * b, _mm512_permutex2var_epi32(_mm512_castsi256_si512(q0), mix,
                                                                 _mm512_castsi256_si512(q1)));
    }
  }
  if (T & 1) {
    int32_t t = T - 1;
    for (int b = 0; b < nb; b++) {
      _mm256_store_si256((__m256i *)(xq + (int64_t)t * cols + b * QK),
                         quantize_block(x + (int64_t)t * cols + b * QK, &xd[(int64_t)b * T + t]));
    }
  }
}

/* ggml's hsum_float_8 of the 8 lanes of one row: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). */
static inline float hsum8(__m256 v) {
  __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

static inline __m256 upper_ps(__m512 v) {
  return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

/*
 * The 8 bytes at p repeated over a 512-bit register, as a load (vbroadcastsd zmm, m64): written
 * as asm because GCC otherwise forwards the preceding vector store into register shuffles, which
 * compete with vpdpbusd and FMA for their ports.
 */
static inline __m512 broadcast64(const float *p) {
  __m512 r;
  __asm__("vbroadcastsd %1, %0" : "=v"(r) : "m"(*(const char(*)[8])p));
  return r;
}

#define SCALE_CHUNK 32 /* blocks whose scales the batched kernel computes ahead */
#define MAX_R 6        /* the most rows of a pair-kernel tile */
#define MAX_P 4        /* the most token pairs of a pair-kernel tile */

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
 * Single-token kernel (T = 1, and the last token of an odd T): R row pairs (rows ra[i], rb[i]),
 * one register per pair and block (row a in the low 256 bits, row b in the high), the activation
 * block broadcast to both halves.
 */
static inline __attribute__((always_inline)) void tile_rows(const args_t *a, int kind, int R,
                                                            const int32_t *ra, const int32_t *rb,
                                                            int t, const uint8_t *pf) {
  const int bytes = kind == KIND_Q8_0 ? Q8_0_BYTES : Q4_0_BYTES;
  const __m512i zero = _mm512_setzero_si512();
  /* the unsigned offset of the weights, as the unsigned operand of vpdpbusd */
  const __m512i off = _mm512_set1_epi8(kind == KIND_Q8_0 ? (char)0x80 : 8);
  const __m512i lo4 = _mm512_set1_epi8(0x0F);
  const uint8_t *pa[4], *pb[4];
  __m512 acc[4];
#pragma GCC unroll 6
  for (int i = 0; i < R; i++) {
    pa[i] = a->w + (int64_t)ra[i] * a->row_bytes;
    pb[i] = a->w + (int64_t)rb[i] * a->row_bytes;
    acc[i] = _mm512_setzero_ps();
  }
  const int8_t *xq = a->xq + (int64_t)t * a->cols;
  const float *xd = a->xd + t;
  const int nb = a->nb;
  const int64_t T = a->T;
  const int64_t pf_step = pf ? ((2 * R * a->row_bytes + nb - 1) / nb + 63) & ~(int64_t)63 : 0;
  for (int b = 0; b < nb; b++) {
    if (pf) prefetch_part(a, pf, pf_step, b);
    __m512i xv = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)(xq + b * QK)));
    __m512i nc = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, off, xv));
    __m512 dx = _mm512_set1_ps(xd[b * T]);
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
      const uint8_t *qa = pa[i] + (int64_t)b * bytes;
      const uint8_t *qb = pb[i] + (int64_t)b * bytes;
      __m512i wv;
      if (kind == KIND_Q8_0) {
        wv = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(qa + 2))),
            _mm256_loadu_si256((const __m256i *)(qb + 2)), 1);
        wv = _mm512_xor_si512(wv, off);
      } else {
        /* 128-bit lanes: row a, row a, row b, row b; then lanes 1 and 3 take the high nibbles */
        wv = _mm512_inserti64x4(
            _mm512_castsi256_si512(
                _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(qa + 2)))),
            _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(qb + 2))), 1);
        wv = _mm512_mask_srli_epi16(wv, 0xFF00FF00u, wv, 4);
        wv = _mm512_and_si512(wv, lo4);
      }
      __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(load_u16(qa))),
                                          _mm_set1_epi16(load_u16(qb)), 1);
      __m512 s = _mm512_mul_ps(_mm512_cvtph_ps(h), dx);
      __m512i sum = _mm512_dpbusd_epi32(nc, wv, xv);
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), s, acc[i]);
    }
  }
  float *o = a->out + (int64_t)t * a->out_stride;
#pragma GCC unroll 6
  for (int i = 0; i < R; i++) {
    o[ra[i]] = hsum8(_mm512_castps512_ps256(acc[i]));
    if (rb[i] != ra[i]) o[rb[i]] = hsum8(upper_ps(acc[i]));
  }
}

/*
 * Token-pair kernel (T >= 2): R rows from r x P token pairs from pair p0. A register holds one
 * row's block against one token pair: 32-bit lane 2k is token t0's group k, lane 2k + 1 token
 * t1's, the weight groups duplicated to match. The scale d_w * d_x then alternates between two
 * values across the lanes, which a 64-bit broadcast load provides; so per 64 products the port
 * pair that does vpdpbusd and FMA sees only those two (the float multiply of the scales is one
 * 256-bit operation per row and block, for all tokens of the tile).
 */
static inline __attribute__((always_inline)) void tile_pairs(const args_t *a, int kind, int R,
                                                             int P, int32_t r, int32_t p0,
                                                             const uint8_t *pf) {
  const int bytes = kind == KIND_Q8_0 ? Q8_0_BYTES : Q4_0_BYTES;
  const __m512i zero = _mm512_setzero_si512();
  const __m512i off = _mm512_set1_epi8(kind == KIND_Q8_0 ? (char)0x80 : 8);
  const __m256i off256 = _mm256_set1_epi8((char)0x80);
  const __m512i lo4 = _mm512_set1_epi8(0x0F);
  /* Q8_0: dword k of the block to lanes 2k, 2k + 1; Q4_0: dword k (nibble groups k and 4 + k) to
   * lanes 2k, 2k + 1 and 8 + 2k, 9 + 2k, the upper half then shifted to the high nibbles */
  const __m512i dup8 = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  const __m512i dup4 = _mm512_set_epi32(3, 3, 2, 2, 1, 1, 0, 0, 3, 3, 2, 2, 1, 1, 0, 0);
  const int nb = a->nb;
  const int64_t T = a->T;
  const int32_t t0 = 2 * p0;
  const __mmask8 dmask = (__mmask8)((1u << (2 * P)) - 1);
  const int8_t *xp = a->xq + (int64_t)t0 * a->cols;
  const float *xd = a->xd + t0;
  const uint8_t *pw = a->w + (int64_t)r * a->row_bytes;
  __m512 acc[MAX_R][MAX_P];
  /* the scales d_w * d_x of a chunk of blocks, computed ahead: a broadcast load right after the
   * store it reads waits for store forwarding (that cost a third of the speed) */
  float sbuf[SCALE_CHUNK][MAX_R][8] __attribute__((aligned(32)));
#pragma GCC unroll 6
  for (int i = 0; i < R; i++) {
#pragma GCC unroll 4
    for (int j = 0; j < P; j++) acc[i][j] = _mm512_setzero_ps();
  }
  const int64_t pf_step = pf ? ((R * a->row_bytes + nb - 1) / nb + 63) & ~(int64_t)63 : 0;
  for (int b = 0; b < nb; b++) {
    if (b % SCALE_CHUNK == 0) {
      for (int c = 0; c < SCALE_CHUNK && b + c < nb; c++) {
        __m256 dx = _mm256_maskz_loadu_ps(dmask, xd + (b + c) * T);
#pragma GCC unroll 6
        for (int i = 0; i < R; i++) {
          const uint8_t *q = pw + i * a->row_bytes + (int64_t)(b + c) * bytes;
          _mm256_store_ps(sbuf[c][i], _mm256_mul_ps(_mm256_cvtph_ps(_mm_set1_epi16(load_u16(q))), dx));
        }
      }
    }
    const int c = b % SCALE_CHUNK;
    if (pf) prefetch_part(a, pf, pf_step, b);
    __m512i xv[MAX_P], nc[MAX_P];
#pragma GCC unroll 4
    for (int j = 0; j < P; j++) {
      xv[j] = _mm512_load_si512(xp + (int64_t)j * 2 * a->cols + 64 * b);
      nc[j] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, off, xv[j]));
    }
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
      const uint8_t *q = pw + i * a->row_bytes + (int64_t)b * bytes;
      __m512i wv;
      if (kind == KIND_Q8_0) {
        __m256i w8 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(q + 2)), off256);
        wv = _mm512_permutexvar_epi32(dup8, _mm512_castsi256_si512(w8));
      } else {
        wv = _mm512_permutexvar_epi32(
            dup4, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(q + 2))));
        wv = _mm512_mask_srli_epi16(wv, 0xFFFF0000u, wv, 4);
        wv = _mm512_and_si512(wv, lo4);
      }
#pragma GCC unroll 4
      for (int j = 0; j < P; j++) {
        __m512 s = broadcast64(&sbuf[c][i][2 * j]);
        __m512i sum = _mm512_dpbusd_epi32(nc[j], wv, xv[j]);
        acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), s, acc[i][j]);
      }
    }
  }
  const __m512i unmix = _mm512_set_epi32(15, 13, 11, 9, 7, 5, 3, 1, 14, 12, 10, 8, 6, 4, 2, 0);
#pragma GCC unroll 6
  for (int i = 0; i < R; i++) {
#pragma GCC unroll 4
    for (int j = 0; j < P; j++) {
      __m512 v = _mm512_permutexvar_ps(unmix, acc[i][j]);
      a->out[(int64_t)(t0 + 2 * j) * a->out_stride + r + i] = hsum8(_mm512_castps512_ps256(v));
      a->out[(int64_t)(t0 + 2 * j + 1) * a->out_stride + r + i] = hsum8(upper_ps(v));
    }
  }
}

typedef void (*rows_fn)(const args_t *, const int32_t *, const int32_t *, int, const uint8_t *);
typedef void (*pairs_fn)(const args_t *, int32_t, int32_t, const uint8_t *);

#define ROWS_FN(K, R)                                                                          \
  static void rows_##K##_##R(const args_t *a, const int32_t *ra, const int32_t *rb, int t,     \
                             const uint8_t *pf) {                                              \
    tile_rows(a, K, R, ra, rb, t, pf);                                                         \
  }
#define PAIRS_FN(K, R, P)                                                                      \
  static void pairs_##K##_##R##_##P(const args_t *a, int32_t r, int32_t p0, const uint8_t *pf) { \
    tile_pairs(a, K, R, P, r, p0, pf);                                                         \
  }
#define PAIRS_R(K, R) \
  PAIRS_FN(K, R, 1) PAIRS_FN(K, R, 2) PAIRS_FN(K, R, 3) PAIRS_FN(K, R, 4)
#define KERNELS(K)                                                                           \
  ROWS_FN(K, 1) ROWS_FN(K, 2) ROWS_FN(K, 3) ROWS_FN(K, 4) PAIRS_R(K, 1) PAIRS_R(K, 2)         \
  PAIRS_R(K, 3) PAIRS_R(K, 4) PAIRS_R(K, 5) PAIRS_R(K, 6)

KERNELS(0)
KERNELS(1)

static const rows_fn ROWS[2][4] = {{rows_0_1, rows_0_2, rows_0_3, rows_0_4},
                                   {rows_1_1, rows_1_2, rows_1_3, rows_1_4}};
#define P4(K, R) {pairs_##K##_##R##_1, pairs_##K##_##R##_2, pairs_##K##_##R##_3, pairs_##K##_##R##_4}
/* [kind][R - 1][P - 1] */
static const pairs_fn PAIRS[2][MAX_R][MAX_P] = {
    {P4(0, 1), P4(0, 2), P4(0, 3), P4(0, 4), P4(0, 5), P4(0, 6)},
    {P4(1, 1), P4(1, 2), P4(1, 3), P4(1, 4), P4(1, 5), P4(1, 6)}};

#define ROW_TILE 4  /* rows per pair-kernel tile */
#define PAIR_TILE 4 /* token pairs per pair-kernel tile */

/* Single token t over rows [r, r + n): row pairs, up to 4 pairs per tile. */
static void single_token(int kind, const args_t *a, int32_t r, int32_t n, int32_t t, int pf) {
  int32_t end = r + n;
  for (int32_t q = r; q < end; q += 8) {
    int32_t ra[4], rb[4];
    int R = 0;
    for (int32_t k = q; k < end && R < 4; k += 2, R++) {
      ra[R] = k;
      rb[R] = k + 1 < end ? k + 1 : k;
    }
    const uint8_t *next = a->w + (int64_t)(q + 8) * a->row_bytes;
    if (pf) {
      /* the tile's own rows requested at once (T0) on top of the spread prefetch of the next
       * tile: 27 -> 32 GB/s at T = 1 with 2 threads, DRAM-resident (docs/kernels.md) */
      const uint8_t *cur = a->w + (int64_t)q * a->row_bytes;
      const uint8_t *stop = a->w + (int64_t)(q + 2 * R) * a->row_bytes;
      for (const uint8_t *p = cur; p < stop && p < a->end; p += 64) {
        _mm_prefetch((const char *)p, _MM_HINT_T0);
      }
    }
    ROWS[kind][R - 1](a, ra, rb, t, pf && next < a->end ? next : 0);
  }
}

static void matmul(int kind, const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x,
                   int32_t T, float *out, int64_t out_stride, int32_t r0, int32_t r1,
                   uint8_t *scratch) {
  size_t n = (size_t)T * (size_t)cols;
  int8_t *xq = (int8_t *)scratch;
  float *xd = (float *)(scratch + ((n + 63) & ~(size_t)63));
  quantize(x, T, cols, xq, xd);
  args_t a = {w,  row_bytes, cols / QK,  cols, T, xq, xd, out, out_stride,
              w + (int64_t)r1 * row_bytes};
  if (T == 1) {
    single_token(kind, &a, r0, r1 - r0, 0, 1);
    return;
  }
  const int32_t pairs = T / 2;
  for (int32_t r = r0; r < r1; r += ROW_TILE) {
    int R = r1 - r < ROW_TILE ? r1 - r : ROW_TILE;
    const uint8_t *next = w + (int64_t)(r + ROW_TILE) * row_bytes;
    for (int32_t p = 0; p < pairs; p += PAIR_TILE) {
      int P = pairs - p < PAIR_TILE ? pairs - p : PAIR_TILE;
      PAIRS[kind][R - 1][P - 1](&a, r, p, p == 0 && next < a.end ? next : 0);
    }
    if (T & 1) single_token(kind, &a, r, R, T - 1, 0);
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
