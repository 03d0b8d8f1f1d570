// Host-side check of matmul_repacked.cu, no GPU needed: the matrices Java repacked
// (CudaWeightLayout.repack) are read from the file named by argv[1], next to their GGUF bytes, and
// the kernels' own element decoder (deq_*_r), single-token dot products (every split-K part, as the
// kernels cut them), two-row gate/up dot products and batched dot products are run for lanes 0..31
// in turn (partial sums added as warp_sum does) and compared with a transcription of ggml's
// dequantize_row_* of the GGUF bytes. Built and run by CudaWeightLayoutTest with nvcc; prints "OK".
//
// File: repeated cases of int32 ggml type id (8 Q8_0, 2 Q4_0, 1 F16, 12 Q4_K), rows, cols (LE),
// then rows x rowBytes GGUF bytes, then as many repacked bytes.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "matmul_repacked.cu"

static float h2f(const uint8_t* p) {
  uint16_t b;
  memcpy(&b, p, 2);
  return __half2float(__ushort_as_half(b));
}

static void ggml_scale_min(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// ggml-quants.c dequantize_row_f16 / _q4_K / _q8_0 / _q4_0 (transcribed)
static void ggml_row(int type, const uint8_t* x, float* y, int k) {
  if (type == 1) {
    for (int i = 0; i < k; i++) y[i] = h2f(x + 2 * i);
  } else if (type == 12) {
    for (int i = 0; i < k / 256; i++) {
      const uint8_t* b = x + 144 * i;
      const uint8_t* q = b + 16;
      float d = h2f(b), min = h2f(b + 2);
      float* yy = y + 256 * i;
      int is = 0;
      uint8_t sc, m;
      for (int j = 0; j < 256; j += 64) {
        ggml_scale_min(is + 0, b + 4, &sc, &m);
        float d1 = d * sc, m1 = min * m;
        ggml_scale_min(is + 1, b + 4, &sc, &m);
        float d2 = d * sc, m2 = min * m;
        for (int l = 0; l < 32; ++l) *yy++ = d1 * (q[l] & 0xF) - m1;
        for (int l = 0; l < 32; ++l) *yy++ = d2 * (q[l] >> 4) - m2;
        q += 32;
        is += 2;
      }
    }
  } else if (type == 8) {
    for (int i = 0; i < k / 32; i++) {
      const uint8_t* b = x + 34 * i;
      float d = h2f(b);
      for (int j = 0; j < 32; j++) y[i * 32 + j] = (int8_t)b[2 + j] * d;
    }
  } else {
    for (int i = 0; i < k / 32; i++) {
      const uint8_t* b = x + 18 * i;
      float d = h2f(b);
      for (int j = 0; j < 16; j++) {
        int x0 = (b[2 + j] & 0x0F) - 8, x1 = (b[2 + j] >> 4) - 8;
        y[i * 32 + j] = x0 * d;
        y[i * 32 + j + 16] = x1 * d;
      }
    }
  }
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float uniform() {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return ((uint32_t)(rng >> 11) & 0xFFFFFF) / float(0x1000000);
}

template <int NT>
static void dot(int type, const uint8_t* row, int cols, const float* x, int nt, float* acc,
                int lane) {
  if (type == 8)
    dot_q8_0_r<NT>(row, cols, x, nt, acc, lane);
  else if (type == 2)
    dot_q4_0_r<NT>(row, cols, x, nt, acc, lane);
  else if (type == 12)
    dot_q4_k_r<NT>(row, cols, x, nt, acc, lane);
  else
    dot_f16_r<NT>(row, cols, x, nt, acc, lane);
}

static void dot2(int type, const uint8_t* a, const uint8_t* b, int cols, const float* x,
                 float* accA, float* accB, int lane) {
  if (type == 8)
    dot2_q8_0_r<1>(a, b, cols, x, accA, accB, lane);
  else if (type == 2)
    dot2_q4_0_r<1>(a, b, cols, x, accA, accB, lane);
  else if (type == 12)
    dot2_q4_k_r<1>(a, b, cols, x, accA, accB, lane);
  else
    dot2_f16_r<1>(a, b, cols, x, accA, accB, lane);
}

static bool close_enough(double got, double want, double mag) {
  return fabs(got - want) <= 1e-5 * mag + 1e-6;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    printf("usage: repacked_host_test <cases file>\n");
    return 2;
  }
  FILE* f = fopen(argv[1], "rb");
  if (!f) {
    printf("cannot open %s\n", argv[1]);
    return 2;
  }
  int bad = 0, cases = 0;
  int32_t hdr[3];
  while (fread(hdr, 4, 3, f) == 3) {
    int type = hdr[0], rows = hdr[1], cols = hdr[2];
    const char* name = type == 8 ? "Q8_0" : type == 2 ? "Q4_0" : type == 12 ? "Q4_K" : "F16";
    int ub = type == 8 ? Q8_0R_BYTES : type == 2 ? Q4_0R_BYTES : type == 12 ? Q4_K_BYTES : 512;
    size_t rowBytes = (size_t)cols / QR_G * ub;
    std::vector<uint8_t> gguf(rows * rowBytes), packed(rows * rowBytes + 16);
    if (fread(gguf.data(), 1, gguf.size(), f) != gguf.size() ||
        fread(packed.data(), 1, rows * rowBytes, f) != rows * rowBytes) {
      printf("truncated case %d\n", cases);
      return 2;
    }
    cases++;
    std::vector<float> ref((size_t)rows * cols);
    for (int r = 0; r < rows; r++)
      ggml_row(type, gguf.data() + r * rowBytes, ref.data() + (size_t)r * cols, cols);
    for (int r = 0; r < rows; r++)
      for (int i = 0; i < cols; i++) {
        const uint8_t* row = packed.data() + r * rowBytes;
        float a = type == 8   ? deq_q8_0_r(row, i)
                  : type == 2 ? deq_q4_0_r(row, i)
                  : type == 12 ? deq_q4_k_r(row, i)
                              : deq_f16_r(row, i);
        if (a != ref[(size_t)r * cols + i] && bad++ < 5)
          printf("FAIL deq %s %dx%d row %d col %d: %g vs ggml %g\n", name, rows, cols, r, i, a,
                 ref[(size_t)r * cols + i]);
      }
    std::vector<float> x(8 * (size_t)cols);
    for (auto& v : x) v = uniform() * 2 - 1;
    auto want = [&](int r, int t, double* mag) {
      double s = 0, m = 0;
      for (int i = 0; i < cols; i++) {
        double p = (double)ref[(size_t)r * cols + i] * x[(size_t)t * cols + i];
        s += p;
        m += fabs(p);
      }
      *mag = m;
      return s;
    };
    for (int r = 0; r < rows; r++) {
      const uint8_t* row = packed.data() + r * rowBytes;
      int r2 = (r + 1) % rows;
      const uint8_t* row2 = packed.data() + r2 * rowBytes;
      double mag, mag2;
      double w1 = want(r, 0, &mag), w2 = want(r2, 0, &mag2);
      // single token, split-K parts as the kernels cut them (G = 256 weights, UB = group bytes)
      for (int split : {1, 2, 4, 8}) {
        double got = 0, gotA = 0, gotB = 0;
        int covered = 0;
        for (int part = 0; part < split; part++) {
          int c0, n;
          long long off;
          split_cols(cols, QR_G, ub, part, split, &c0, &n, &off);
          if (c0 != covered) bad++;
          covered += n;
          for (int lane = 0; lane < 32; lane++) {
            float acc[1] = {0.f}, a[1] = {0.f}, b[1] = {0.f};
            dot<1>(type, row + off, n, x.data() + c0, 1, acc, lane);
            dot2(type, row + off, row2 + off, n, x.data() + c0, a, b, lane);
            got += acc[0];
            gotA += a[0];
            gotB += b[0];
          }
        }
        if (covered != cols) bad++;
        if (!close_enough(got, w1, mag) && bad++ < 5)
          printf("FAIL dot1 %s cols=%d split %d row %d: got %.7g want %.7g\n", name, cols, split,
                 r, got, w1);
        if ((!close_enough(gotA, w1, mag) || !close_enough(gotB, w2, mag2)) && bad++ < 5)
          printf("FAIL dot2 %s cols=%d split %d rows %d,%d: got %.7g,%.7g want %.7g,%.7g\n", name,
                 cols, split, r, r2, gotA, gotB, w1, w2);
      }
      // batches of 8 and 5 tokens
      for (int nt : {8, 5}) {
        float acc[32][8];
        memset(acc, 0, sizeof(acc));
        for (int lane = 0; lane < 32; lane++) dot<8>(type, row, cols, x.data(), nt, acc[lane], lane);
        for (int t = 0; t < nt; t++) {
          double got = 0;
          for (int lane = 0; lane < 32; lane++) got += acc[lane][t];
          double m, w = want(r, t, &m);
          if (!close_enough(got, w, m) && bad++ < 5)
            printf("FAIL dot %s NT=8 nt=%d cols=%d row %d token %d: got %.7g want %.7g\n", name,
                   nt, cols, r, t, got, w);
        }
      }
    }
  }
  fclose(f);
  if (cases == 0) {
    printf("no cases read\n");
    return 2;
  }
  if (bad) {
    printf("%d mismatches in %d cases\n", bad, cases);
    return 1;
  }
  printf("OK %d cases\n", cases);
  return 0;
}
