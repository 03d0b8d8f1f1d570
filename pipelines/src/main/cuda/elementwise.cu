// Row-wise and element-wise kernels of the forward pass: embedding lookup, RMSNorm, RoPE with the
// KV-cache store, SwiGLU, softmax, bias and residual adds, row gather and argmax.
// Activations are float32, token-major: x[t * dim + i].
#include "sluice_common.cuh"

// ---- embedding: out[t, :] = dequantize(W[tokens[t], :]); grid (T), block 256 ----
#define EMBED(NAME, DEQ)                                                                      \
  extern "C" __global__ void NAME(const uint8_t* __restrict__ w, long long rowBytes,          \
                                  const int* __restrict__ tokens, float* __restrict__ out,    \
                                  int dim) {                                                  \
    const uint8_t* row = w + (long long)tokens[blockIdx.x] * rowBytes;                        \
    float* o = out + (long long)blockIdx.x * dim;                                             \
    for (int i = threadIdx.x; i < dim; i += blockDim.x) o[i] = DEQ(row, i);                   \
  }
EMBED(embed_f32, deq_f32)
EMBED(embed_f16, deq_f16)
EMBED(embed_bf16, deq_bf16)
EMBED(embed_q8_0, deq_q8_0)
EMBED(embed_q4_0, deq_q4_0)
EMBED(embed_q4_k, deq_q4_k)
EMBED(embed_q6_k, deq_q6_k)

// ---- RMSNorm: out[r, :] = x[r, :] / sqrt(mean(x^2) + eps) * w; grid (rows), block 256 ----
// out may alias x.
extern "C" __global__ void rmsnorm(const float* x, const float* __restrict__ w, float* out,
                                   int dim, float eps) {
  const float* xr = x + (long long)blockIdx.x * dim;
  float* o = out + (long long)blockIdx.x * dim;
  float ss = 0.f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  ss = block_sum(ss);
  float inv = 1.0f / sqrtf(ss / (float)dim + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) o[i] = xr[i] * inv * w[i];
}

// Rotates one head in place. NORM pairs (2i, 2i+1); NEOX pairs (i, i + ropeDim/2). Frequency of
// pair i is theta^(-2i/ropeDim); dimensions at or past ropeDim are left alone.
__device__ __forceinline__ void rope_head(float* h, int pair, float pos, int ropeDim,
                                          float theta, int neox, const float* factors) {
  float freq = powf(theta, -2.0f * (float)pair / (float)ropeDim);
  if (factors != nullptr) freq /= factors[pair];  // Llama 3.1 rope_freqs
  float s, c;
  sincosf(pos * freq, &s, &c);
  int a = neox ? pair : 2 * pair;
  int b = neox ? pair + ropeDim / 2 : 2 * pair + 1;
  float x0 = h[a], x1 = h[b];
  h[a] = x0 * c - x1 * s;
  h[b] = x0 * s + x1 * c;
}

// ---- RoPE on q (in place) and k, then k and v stored into the paged cache ----
// q (T, heads*headDim), k and v (T, kvHeads*headDim); kcache/vcache (numBlocks*blockSize, kvDim)
// of this layer; slot[t] = block * blockSize + pos % blockSize. k is rotated in place too.
// factors: (ropeDim / 2) divisors of the pair frequencies (Llama 3.1 rope_freqs) or null.
// grid (T), block: any multiple of 32 (the host gives one thread per query rotation pair, 128..1024).
extern "C" __global__ void rope_store(float* __restrict__ q, float* __restrict__ k,
                                      const float* __restrict__ v, float* __restrict__ kcache,
                                      float* __restrict__ vcache, const int* __restrict__ tokPos,
                                      const int* __restrict__ tokSlot, int heads, int kvHeads,
                                      int headDim, int ropeDim, float theta, float invScale,
                                      int neox, const float* __restrict__ factors) {
  int t = blockIdx.x;
  float pos = (float)tokPos[t] * invScale;
  int half_ = ropeDim / 2;
  int qDim = heads * headDim, kvDim = kvHeads * headDim;
  float* qt = q + (long long)t * qDim;
  float* kt = k + (long long)t * kvDim;
  for (int i = threadIdx.x; i < heads * half_; i += blockDim.x) {
    rope_head(qt + (i / half_) * headDim, i % half_, pos, ropeDim, theta, neox, factors);
  }
  for (int i = threadIdx.x; i < kvHeads * half_; i += blockDim.x) {
    rope_head(kt + (i / half_) * headDim, i % half_, pos, ropeDim, theta, neox, factors);
  }
  __syncthreads();  // rotated k complete before it is copied
  long long slot = tokSlot[t];
  const float* vt = v + (long long)t * kvDim;
  for (int i = threadIdx.x; i < kvDim; i += blockDim.x) {
    kcache[slot * kvDim + i] = kt[i];
    vcache[slot * kvDim + i] = vt[i];
  }
}

// ---- SwiGLU: out[i] = silu(gate[i]) * up[i]; out may alias gate ----
extern "C" __global__ void swiglu(const float* gate, const float* __restrict__ up, float* out,
                                  long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

// ---- softmax of each row in place; grid (rows), block 256 ----
extern "C" __global__ void softmax(float* x, int n) {
  float* r = x + (long long)blockIdx.x * n;
  float m = -INFINITY;
  for (int i = threadIdx.x; i < n; i += blockDim.x) m = fmaxf(m, r[i]);
  m = block_max(m);
  float s = 0.f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    float e = expf(r[i] - m);
    r[i] = e;
    s += e;
  }
  s = block_sum(s);
  float inv = 1.0f / s;
  for (int i = threadIdx.x; i < n; i += blockDim.x) r[i] *= inv;
}

// ---- y[i] += x[i] (residual) ----
extern "C" __global__ void add(float* y, const float* __restrict__ x, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    y[i] += x[i];
  }
}

// ---- y[r, i] += b[i] for every row r of width n; total = rows * n ----
extern "C" __global__ void add_bias(float* y, const float* __restrict__ b, int n, long long total) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    y[i] += b[i % n];
  }
}

// ---- out[r, :] = x[rows[r], :]; grid (R), block 256 ----
extern "C" __global__ void gather_rows(const float* __restrict__ x, const int* __restrict__ rows,
                                       float* __restrict__ out, int dim) {
  const float* src = x + (long long)rows[blockIdx.x] * dim;
  float* dst = out + (long long)blockIdx.x * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) dst[i] = src[i];
}

// ---- out[r] = index of the largest x[r, :] (first one on ties); grid (rows), block 256 ----
extern "C" __global__ void argmax(const float* __restrict__ x, int n, int* __restrict__ out) {
  const float* r = x + (long long)blockIdx.x * n;
  float best = -INFINITY;
  int bi = 0x7fffffff;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    float v = r[i];
    if (v > best || (v == best && i < bi)) { best = v; bi = i; }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(FULL_MASK, best, o);
    int oi = __shfl_xor_sync(FULL_MASK, bi, o);
    if (ov > best || (ov == best && oi < bi)) { best = ov; bi = oi; }
  }
  __shared__ float sv[32];
  __shared__ int si[32];
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  if (lane == 0) { sv[w] = best; si[w] = bi; }
  __syncthreads();
  if (w == 0) {
    best = lane < nw ? sv[lane] : -INFINITY;
    bi = lane < nw ? si[lane] : 0x7fffffff;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      float ov = __shfl_xor_sync(FULL_MASK, best, o);
      int oi = __shfl_xor_sync(FULL_MASK, bi, o);
      if (ov > best || (ov == best && oi < bi)) { best = ov; bi = oi; }
    }
    if (lane == 0) out[blockIdx.x] = bi == 0x7fffffff ? 0 : bi;
  }
}
