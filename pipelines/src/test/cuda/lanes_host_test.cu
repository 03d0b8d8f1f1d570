// Host-side check of the matmul lane layouts and element decoders, no GPU needed: each dot_<type>
// of matmul.cu is run for lanes 0..31 in turn (their partial sums added up, as warp_sum does) and
// compared with a dot product over rows decoded by a transcription of ggml's dequantize_row_*.
// Built and run by CudaKernelSourcesTest with nvcc; prints "OK" and exits 0 when everything agrees.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "matmul.cu"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32() {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 11);
}
static float uniform() { return (next_u32() & 0xFFFFFF) / float(0x1000000); }

static uint16_t f2h(float f) { return __half_as_ushort(__float2half(f)); }
static float h2f(const uint8_t* p) {
  uint16_t b;
  memcpy(&b, p, 2);
  return __half2float(__ushort_as_half(b));
}

enum Type { F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K };
static const char* NAMES[] = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K"};
static const int BLOCK[] = {1, 1, 1, 32, 32, 256, 256};
static const int BYTES[] = {4, 2, 2, 34, 18, 144, 210};

static void fill(Type t, uint8_t* p, size_t blocks) {
  for (size_t i = 0; i < blocks * BYTES[t]; i++) p[i] = (uint8_t)next_u32();
  for (size_t b = 0; b < blocks; b++) {
    uint8_t* o = p + b * BYTES[t];
    uint16_t h;
    float g = (uniform() - 0.5f) * 0.2f;
    switch (t) {
      case F32: memcpy(o, &g, 4); break;
      case F16: h = f2h(g); memcpy(o, &h, 2); break;
      case BF16: { uint32_t u; memcpy(&u, &g, 4); h = (uint16_t)(u >> 16); memcpy(o, &h, 2); } break;
      case Q8_0: h = f2h(0.0008f * uniform()); memcpy(o, &h, 2); break;
      case Q4_0: h = f2h(0.015f * uniform()); memcpy(o, &h, 2); break;
      case Q4_K:
        h = f2h(0.0003f * uniform()); memcpy(o, &h, 2);
        h = f2h(0.0006f * uniform()); memcpy(o + 2, &h, 2);
        break;
      case Q6_K:
        for (int j = 0; j < 16; j++) o[192 + j] = (uint8_t)(int8_t)((int)(next_u32() % 33) - 16);
        h = f2h(0.0004f * uniform()); memcpy(o + 208, &h, 2);
        break;
    }
  }
}

// ggml-quants.c dequantize_row_* (transcribed)
static void ggml_scale_min(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) { *d = q[j] & 63; *m = q[j + 4] & 63; }
  else { *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4); *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4); }
}
static void ggml_row(Type t, const uint8_t* x, float* y, int k) {
  switch (t) {
    case F32: memcpy(y, x, 4 * k); break;
    case F16: for (int i = 0; i < k; i++) y[i] = h2f(x + 2 * i); break;
    case BF16: for (int i = 0; i < k; i++) { uint16_t b; memcpy(&b, x + 2 * i, 2); uint32_t u = (uint32_t)b << 16; memcpy(&y[i], &u, 4); } break;
    case Q8_0:
      for (int i = 0; i < k / 32; i++) { const uint8_t* b = x + 34 * i; float d = h2f(b);
        for (int j = 0; j < 32; j++) y[i * 32 + j] = (int8_t)b[2 + j] * d; }
      break;
    case Q4_0:
      for (int i = 0; i < k / 32; i++) { const uint8_t* b = x + 18 * i; float d = h2f(b);
        for (int j = 0; j < 16; j++) { int x0 = (b[2 + j] & 0x0F) - 8, x1 = (b[2 + j] >> 4) - 8;
          y[i * 32 + j] = x0 * d; y[i * 32 + j + 16] = x1 * d; } }
      break;
    case Q4_K:
      for (int i = 0; i < k / 256; i++) {
        const uint8_t* b = x + 144 * i; const uint8_t* q = b + 16; float d = h2f(b), min = h2f(b + 2);
        float* yy = y + 256 * i; int is = 0; uint8_t sc, m;
        for (int j = 0; j < 256; j += 64) {
          ggml_scale_min(is + 0, b + 4, &sc, &m); float d1 = d * sc, m1 = min * m;
          ggml_scale_min(is + 1, b + 4, &sc, &m); float d2 = d * sc, m2 = min * m;
          for (int l = 0; l < 32; ++l) *yy++ = d1 * (q[l] & 0xF) - m1;
          for (int l = 0; l < 32; ++l) *yy++ = d2 * (q[l] >> 4) - m2;
          q += 32; is += 2;
        }
      }
      break;
    case Q6_K:
      for (int i = 0; i < k / 256; i++) {
        const uint8_t* b = x + 210 * i; float d = h2f(b + 208);
        const uint8_t* ql = b; const uint8_t* qh = b + 128; const int8_t* sc = (const int8_t*)(b + 192);
        float* yy = y + 256 * i;
        for (int n = 0; n < 256; n += 128) {
          for (int l = 0; l < 32; ++l) {
            int is = l / 16;
            int8_t q1 = (int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            int8_t q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int8_t q3 = (int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            yy[l + 0] = d * sc[is + 0] * q1; yy[l + 32] = d * sc[is + 2] * q2;
            yy[l + 64] = d * sc[is + 4] * q3; yy[l + 96] = d * sc[is + 6] * q4;
          }
          yy += 128; ql += 64; qh += 32; sc += 8;
        }
      }
      break;
  }
}

static float deq(Type t, const uint8_t* row, int i) {
  switch (t) {
    case F32: return deq_f32(row, i);
    case F16: return deq_f16(row, i);
    case BF16: return deq_bf16(row, i);
    case Q8_0: return deq_q8_0(row, i);
    case Q4_0: return deq_q4_0(row, i);
    case Q4_K: return deq_q4_k(row, i);
    default: return deq_q6_k(row, i);
  }
}

template <int NT>
static void dot(Type t, const uint8_t* row, int cols, const float* x, int nt, float* acc, int lane) {
  switch (t) {
    case F32: dot_f32<NT>(row, cols, x, nt, acc, lane); break;
    case F16: dot_f16<NT>(row, cols, x, nt, acc, lane); break;
    case BF16: dot_bf16<NT>(row, cols, x, nt, acc, lane); break;
    case Q8_0: dot_q8_0<NT>(row, cols, x, nt, acc, lane); break;
    case Q4_0: dot_q4_0<NT>(row, cols, x, nt, acc, lane); break;
    case Q4_K: dot_q4_k<NT>(row, cols, x, nt, acc, lane); break;
    case Q6_K: dot_q6_k<NT>(row, cols, x, nt, acc, lane); break;
  }
}

template <int NT>
static int check_dots(Type t, const uint8_t* w, size_t rowBytes, int rows, int cols,
                      const std::vector<float>& ref, const float* x, int nt) {
  int bad = 0;
  for (int r = 0; r < rows; r++) {
    float acc[32][NT];
    memset(acc, 0, sizeof(acc));
    for (int lane = 0; lane < 32; lane++) dot<NT>(t, w + r * rowBytes, cols, x, nt, acc[lane], lane);
    for (int tk = 0; tk < nt; tk++) {
      double got = 0, want = 0, mag = 0;
      for (int lane = 0; lane < 32; lane++) got += acc[lane][tk];
      for (int i = 0; i < cols; i++) {
        want += (double)ref[(size_t)r * cols + i] * x[(size_t)tk * cols + i];
        mag += fabs((double)ref[(size_t)r * cols + i] * x[(size_t)tk * cols + i]);
      }
      if (fabs(got - want) > 1e-5 * mag + 1e-6) {
        if (bad++ < 5)
          printf("FAIL dot %s NT=%d cols=%d row %d token %d: got %.7g want %.7g\n", NAMES[t], NT,
                 cols, r, tk, got, want);
      }
    }
  }
  return bad;
}

// The decode kernels' split-K: parts of whole units (G elements, UB bytes, as ALL(...) in matmul.cu)
// summed must give the row's dot product.
static int check_split(Type t, const uint8_t* w, size_t rowBytes, int rows, int cols,
                       const std::vector<float>& ref, const float* x, int split) {
  static const int G[] = {4, 8, 8, QK8_0, QK4_0, QK_K, QK_K};
  static const int UB[] = {16, 16, 16, Q8_0_BYTES, Q4_0_BYTES, Q4_K_BYTES, Q6_K_BYTES};
  if (cols % G[t] != 0) return 0;  // the host runs split 1 there
  int bad = 0;
  for (int r = 0; r < rows; r++) {
    double got = 0, want = 0, mag = 0;
    int covered = 0;
    for (int part = 0; part < split; part++) {
      int c0, n;
      long long off;
      split_cols(cols, G[t], UB[t], part, split, &c0, &n, &off);
      if (c0 != covered) bad++;
      covered += n;
      for (int lane = 0; lane < 32; lane++) {
        float acc[1] = {0.f};
        dot<1>(t, w + r * rowBytes + off, n, x + c0, 1, acc, lane);
        got += acc[0];
      }
    }
    if (covered != cols) bad++;
    for (int i = 0; i < cols; i++) {
      want += (double)ref[(size_t)r * cols + i] * x[i];
      mag += fabs((double)ref[(size_t)r * cols + i] * x[i]);
    }
    if (fabs(got - want) > 1e-5 * mag + 1e-6) {
      if (bad++ < 5)
        printf("FAIL split %d %s cols=%d row %d: got %.7g want %.7g\n", split, NAMES[t], cols, r,
               got, want);
    }
  }
  return bad;
}

int main() {
  int bad = 0;
  for (int t = F32; t <= Q6_K; t++) {
    Type ty = (Type)t;
    std::vector<int> widths = {512, 1536, 2304};  // 2304: 9 super-blocks, uneven splits
    if (BLOCK[t] == 1) widths.push_back(172);  // scalar-load path
    for (int cols : widths) {
      int rows = 3;
      size_t rowBytes = (size_t)cols / BLOCK[t] * BYTES[t];
      std::vector<uint8_t> w(rows * rowBytes + 16);
      fill(ty, w.data(), rows * rowBytes / BYTES[t]);
      std::vector<float> ref((size_t)rows * cols);
      for (int r = 0; r < rows; r++) ggml_row(ty, w.data() + r * rowBytes, ref.data() + (size_t)r * cols, cols);
      for (int r = 0; r < rows; r++)
        for (int i = 0; i < cols; i++) {
          float a = deq(ty, w.data() + r * rowBytes, i), b = ref[(size_t)r * cols + i];
          if (fabsf(a - b) > 1e-6f * fabsf(b) + 1e-9f) {
            if (bad++ < 5) printf("FAIL deq %s row %d col %d: %g vs ggml %g\n", NAMES[t], r, i, a, b);
          }
        }
      std::vector<float> x(8 * (size_t)cols);
      for (auto& v : x) v = uniform() * 2 - 1;
      bad += check_dots<1>(ty, w.data(), rowBytes, rows, cols, ref, x.data(), 1);
      bad += check_dots<8>(ty, w.data(), rowBytes, rows, cols, ref, x.data(), 8);
      bad += check_dots<8>(ty, w.data(), rowBytes, rows, cols, ref, x.data(), 5);
      for (int split : {1, 2, 4, 8}) bad += check_split(ty, w.data(), rowBytes, rows, cols, ref, x.data(), split);
    }
  }
  if (bad) {
    printf("%d mismatches\n", bad);
    return 1;
  }
  printf("OK\n");
  return 0;
}
