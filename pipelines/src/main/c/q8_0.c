/*
 * Q8_0 and Q4_0 weights times q8_0-quantized activations, AVX-512 BW/VL/VNNI
 * (docs/kernels.md, "Native VNNI kernels: Q8_0 and Q4_0").
 *
 * Layout of the work: a "row pair" (rows a and b of the weights, b == a for a lone last row) fills
 * one 512-bit register per 32-column block: bytes 0..31 row a, 32..63 row b. The activations of a
 * token block (32 int8) are broadcast to both halves, so one vpdpbusd gives 8 int32 lanes per row,
 * lane l = sum of the products of the block's elements 4l..4l+3: llama.cpp's mul_sum_i8_pairs
 * lanes. Each lane is then converted to float and accumulated with one FMA by d_w * d_x across the
 * blocks, and the 8 lanes of a row are summed at the end in the order of ggml's hsum_float_8, which
 * is exactly the float arithmetic of ggml_vec_dot_q8_0_q8_0 / ggml_vec_dot_q4_0_q8_0 (AVX2) and of
 * llamafile's tinyBLAS_Q0_AVX, per token.
 *
 * vpdpbusd multiplies unsigned by signed bytes. The activations stay signed; the weights are made
 * unsigned (Q8_0: w ^ 0x80 = w + 128; Q4_0: the raw nibble n = w + 8) and the excess
 * (128 resp. 8 times the sum of the 4 activations of the lane) is subtracted by starting each lane
 * from its negation, computed once per token and block. The lane integers are exact, so the result
 * is the same as with signed weights.
 *
 * Register tiles: R row pairs x TT tokens of float accumulators; each weight register feeds TT
 * tokens and each activation register R row pairs. A token's arithmetic is the same whatever tile
 * it lands in (same lane values, same FMA order over the blocks, same final sum), so results are
 * bit-identical for a token whatever T and the row range (batch invariance).
 *
 * Memory: reads only the rows [r0, r1) of w, x[0 .. T*cols), writes out's rows [r0, r1) of the T
 * tokens and scratch (T*cols bytes of int8 activations, then T*cols/32 floats of scales).
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
 * quantize_row_q8_0 of ggml-cpu (x86): per 32 values amax = max |x|, d = amax / 127 stored as f16,
 * q = round-half-even(x * (127 / amax)). xd receives d as float (through f16).
 */
static void quantize_q8_0(const float *x, size_t n, int8_t *xq, float *xd) {
  for (size_t o = 0, b = 0; o < n; o += QK, b++) {
    __m512 v0 = _mm512_loadu_ps(x + o);
    __m512 v1 = _mm512_loadu_ps(x + o + 16);
    __m512 m = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1));
    float amax = _mm512_reduce_max_ps(m);
    float d = amax / 127.0f;
    float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    __m512 vid = _mm512_set1_ps(id);
    __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, vid),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, vid),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_store_si128((__m128i *)(xq + o), _mm512_cvtsepi32_epi8(q0));
    _mm_store_si128((__m128i *)(xq + o + 16), _mm512_cvtsepi32_epi8(q1));
    xd[b] = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
}

/* ggml's hsum_float_8 of the 8 lanes of one row: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). */
static inline float hsum8(__m256 v) {
  __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

typedef struct {
  const uint8_t *w;     /* row 0 of the weights */
  int64_t row_bytes;
  int32_t nb;           /* blocks per row */
  int32_t cols;
  const int8_t *xq;     /* quantized activations, token t at xq + t * cols */
  const float *xd;      /* their block scales, token t at xd + t * nb */
  float *out;
  int64_t out_stride;
  const uint8_t *end;   /* w + r1 * row_bytes: prefetches stay below */
} args_t;

/*
 * One tile: R row pairs (rows ra[i], rb[i]) x TT tokens from t0, all blocks. R, TT and KIND are
 * constants after inlining, so the arrays below live in registers.
 */
static inline __attribute__((always_inline)) void tile(const args_t *a, int kind, int R, int TT,
                                                       const int32_t *ra, const int32_t *rb,
                                                       int t0, const uint8_t *pf) {
  const int bytes = kind == KIND_Q8_0 ? Q8_0_BYTES : Q4_0_BYTES;
  const __m512i zero = _mm512_setzero_si512();
  /* the unsigned offset of the weights, as the unsigned operand of vpdpbusd */
  const __m512i off = _mm512_set1_epi8(kind == KIND_Q8_0 ? (char)0x80 : 8);
  const __m512i lo4 = _mm512_set1_epi8(0x0F);
  const uint8_t *pa[4], *pb[4];
  __m512 acc[4][8];
#pragma GCC unroll 4
  for (int i = 0; i < R; i++) {
    pa[i] = a->w + (int64_t)ra[i] * a->row_bytes;
    pb[i] = a->w + (int64_t)rb[i] * a->row_bytes;
#pragma GCC unroll 8
    for (int j = 0; j < TT; j++) acc[i][j] = _mm512_setzero_ps();
  }
  const int8_t *xq = a->xq + (int64_t)t0 * a->cols;
  const float *xd = a->xd + (int64_t)t0 * a->nb;
  const int cols = a->cols, nb = a->nb;
  /* The hardware prefetcher ramps up per row stream, and short rows (896 columns: 952 bytes) end
   * before it does: pf (when not null) is the start of the next tile's rows, which are fetched in
   * equal parts over this tile's blocks. */
  const int64_t pf_step = pf ? ((2 * R * a->row_bytes + nb - 1) / nb + 63) & ~(int64_t)63 : 0;
  for (int b = 0; b < nb; b++) {
    if (pf) {
      const uint8_t *p = pf + b * pf_step;
      for (int64_t k = 0; k < pf_step && p + k < a->end; k += 64)
        _mm_prefetch((const char *)(p + k), _MM_HINT_T2); /* T2: measured best (T0, T1, NTA slower) */
    }
    __m512i xv[8], nc[8];
#pragma GCC unroll 8
    for (int j = 0; j < TT; j++) {
      xv[j] = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)(xq + j * cols + b * QK)));
      nc[j] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, off, xv[j]));
    }
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
      __m512 dw = _mm512_cvtph_ps(h);
#pragma GCC unroll 8
      for (int j = 0; j < TT; j++) {
        __m512i s = _mm512_dpbusd_epi32(nc[j], wv, xv[j]);
        __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(xd[j * nb + b]));
        acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), d, acc[i][j]);
      }
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < R; i++) {
#pragma GCC unroll 8
    for (int j = 0; j < TT; j++) {
      float *o = a->out + (int64_t)(t0 + j) * a->out_stride;
      o[ra[i]] = hsum8(_mm512_castps512_ps256(acc[i][j]));
      if (rb[i] != ra[i]) o[rb[i]] = hsum8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[i][j]), 1)));
    }
  }
}

#define TILE_FN(K, R, TT)                                                                    \
  static void tile_##K##_##R##_##TT(const args_t *a, const int32_t *ra, const int32_t *rb, \
                                    int t0, const uint8_t *pf) {                           \
    tile(a, K, R, TT, ra, rb, t0, pf);                                                     \
  }

/* Tile shapes: up to 3 row pairs x 4 tokens in the batched case (12 accumulators, 3 weight
 * registers, 4 activation and 4 offset registers), 4 row pairs x 1 token for T = 1. */
#define TILES(K)                                                                          \
  TILE_FN(K, 1, 1) TILE_FN(K, 2, 1) TILE_FN(K, 3, 1) TILE_FN(K, 4, 1) TILE_FN(K, 1, 2)   \
  TILE_FN(K, 2, 2) TILE_FN(K, 3, 2) TILE_FN(K, 1, 3) TILE_FN(K, 2, 3) TILE_FN(K, 3, 3)   \
  TILE_FN(K, 1, 4) TILE_FN(K, 2, 4) TILE_FN(K, 3, 4)

TILES(0)
TILES(1)

typedef void (*tile_fn)(const args_t *, const int32_t *, const int32_t *, int, const uint8_t *);

/* [kind][R - 1][TT - 1] */
static const tile_fn TILE_TABLE[2][4][4] = {
    {{tile_0_1_1, tile_0_1_2, tile_0_1_3, tile_0_1_4},
     {tile_0_2_1, tile_0_2_2, tile_0_2_3, tile_0_2_4},
     {tile_0_3_1, tile_0_3_2, tile_0_3_3, tile_0_3_4},
     {tile_0_4_1, 0, 0, 0}},
    {{tile_1_1_1, tile_1_1_2, tile_1_1_3, tile_1_1_4},
     {tile_1_2_1, tile_1_2_2, tile_1_2_3, tile_1_2_4},
     {tile_1_3_1, tile_1_3_2, tile_1_3_3, tile_1_3_4},
     {tile_1_4_1, 0, 0, 0}}};

static void matmul(int kind, const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x,
                   int32_t T, float *out, int64_t out_stride, int32_t r0, int32_t r1,
                   uint8_t *scratch) {
  size_t n = (size_t)T * (size_t)cols;
  int8_t *xq = (int8_t *)scratch;
  float *xd = (float *)(scratch + ((n + 63) & ~(size_t)63));
  quantize_q8_0(x, n, xq, xd);
  args_t a = {w, row_bytes, cols / QK, cols, xq, xd, out, out_stride, w + (int64_t)r1 * row_bytes};
  int32_t pairs = (r1 - r0 + 1) / 2;
  /* T = 1: 4 row pairs per tile (more independent streams); otherwise 3 x 4 */
  int rmax = T == 1 ? 4 : 3;
  int tmax = 4;
  for (int32_t p = 0; p < pairs; p += rmax) {
    int R = pairs - p < rmax ? pairs - p : rmax;
    int32_t ra[4], rb[4];
    for (int i = 0; i < R; i++) {
      ra[i] = r0 + 2 * (p + i);
      rb[i] = ra[i] + 1 < r1 ? ra[i] + 1 : ra[i];
    }
    /* the next tile's rows, prefetched during the first token tile */
    const uint8_t *pf = w + (int64_t)(ra[R - 1] + 2) * row_bytes;
    if (pf >= a.end) pf = 0;
    for (int32_t t = 0; t < T; t += tmax) {
      int TT = T - t < tmax ? T - t : tmax;
      TILE_TABLE[kind][R - 1][TT - 1](&a, ra, rb, t, t == 0 ? pf : 0);
    }
  }
}

void sluice_q8_0(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x, int32_t T,
                 float *out, int64_t out_stride, int32_t r0, int32_t r1, uint8_t *scratch) {
  matmul(KIND_Q8_0, w, row_bytes, cols, x, T, out, out_stride, r0, r1, scratch);
}

void sluice_q4_0(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x, int32_t T,
                 float *out, int64_t out_stride, int32_t r0, int32_t r1, uint8_t *scratch) {
  matmul(KIND_Q4_0, w, row_bytes, cols, x, T, out, out_stride, r0, r1, scratch);
}
