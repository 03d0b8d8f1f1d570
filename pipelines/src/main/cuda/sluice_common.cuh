// Shared device helpers for Sluice's kernels: ggml block layouts (see ggml-common.h) and reductions.
// Every kernel is exported with extern "C" so the Java side finds it by its plain name in the PTX.
#pragma once
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <stdint.h>
#include <string.h>

// Block decoding and per-lane dot products are also compiled for the host, where a test harness
// (src/test/cuda/lanes_host_test.cu) runs them for lanes 0..31 in turn against ggml's reference.
#define SL_HD __host__ __device__ __forceinline__
#ifdef __CUDA_ARCH__
#define SL_LDG(p) __ldg(p)
#else
#define SL_LDG(p) (*(p))
#endif

#define WARP 32
#define FULL_MASK 0xffffffffu

// ggml block sizes (bytes per block / elements per block)
#define QK8_0 32
#define Q8_0_BYTES 34   // half d; int8 qs[32]
#define QK4_0 32
#define Q4_0_BYTES 18   // half d; uint8 qs[16]: element j = (qs[j] & 15) - 8, element j+16 = (qs[j] >> 4) - 8
#define QK_K 256
#define Q4_K_BYTES 144  // half d; half dmin; uint8 scales[12]; uint8 qs[128]
#define Q6_K_BYTES 210  // uint8 ql[128]; uint8 qh[64]; int8 scales[16]; half d

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
  return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024). All threads get the result.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[w] = v;
  __syncthreads();
  float t = lane < nw ? partial[lane] : 0.f;
  return warp_sum(t);
}

__device__ __forceinline__ float block_max(float v) {
  __shared__ float partial[32];
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) partial[w] = v;
  __syncthreads();
  float t = lane < nw ? partial[lane] : -INFINITY;
  return warp_max(t);
}

SL_HD float ld_half(const uint8_t* p) {  // p is 2-byte aligned
  return __half2float(*reinterpret_cast<const __half*>(p));
}

SL_HD float bf16_to_float(uint16_t b) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(((uint32_t)b) << 16);
#else
  uint32_t u = ((uint32_t)b) << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
#endif
}

SL_HD float half_bits_to_float(uint16_t b) {
  return __half2float(__ushort_as_half(b));
}

// ggml's get_scale_min_k4: 6-bit scale and min of sub-block j (0..7) of a Q4_K block.
SL_HD void q4k_scale_min(int j, const uint8_t* q, float* sc, float* m) {
  if (j < 4) {
    *sc = (float)(q[j] & 63);
    *m = (float)(q[j + 4] & 63);
  } else {
    *sc = (float)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = (float)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Element i of a row, one at a time (embedding lookup; not the matmul hot path).
SL_HD float deq_f32(const uint8_t* row, int i) {
  return reinterpret_cast<const float*>(row)[i];
}
SL_HD float deq_f16(const uint8_t* row, int i) {
  return __half2float(reinterpret_cast<const __half*>(row)[i]);
}
SL_HD float deq_bf16(const uint8_t* row, int i) {
  return bf16_to_float(reinterpret_cast<const uint16_t*>(row)[i]);
}
SL_HD float deq_q8_0(const uint8_t* row, int i) {
  const uint8_t* b = row + (i / QK8_0) * Q8_0_BYTES;
  return ld_half(b) * (float)(int8_t)b[2 + (i % QK8_0)];
}
SL_HD float deq_q4_0(const uint8_t* row, int i) {
  const uint8_t* b = row + (i / QK4_0) * Q4_0_BYTES;
  int j = i % QK4_0;
  int q = j < 16 ? (b[2 + j] & 0xF) : (b[2 + j - 16] >> 4);
  return ld_half(b) * (float)(q - 8);
}
SL_HD float deq_q4_k(const uint8_t* row, int i) {
  const uint8_t* b = row + (i / QK_K) * Q4_K_BYTES;
  int j = i % QK_K;
  int chunk = j / 64, within = j % 64;         // 64 elements share 32 quant bytes
  int sub = chunk * 2 + (within >= 32 ? 1 : 0);  // sub-block 0..7
  float sc, m;
  q4k_scale_min(sub, b + 4, &sc, &m);
  uint8_t qb = b[16 + chunk * 32 + (within % 32)];
  int q = within < 32 ? (qb & 0xF) : (qb >> 4);
  return ld_half(b) * sc * (float)q - ld_half(b + 2) * m;
}
SL_HD float deq_q6_k(const uint8_t* row, int i) {
  const uint8_t* b = row + (i / QK_K) * Q6_K_BYTES;
  int j = i % QK_K;
  int half_ = j / 128, r = j % 128;  // 128 elements per half
  int quarter = r / 32, l = r % 32;
  const uint8_t* ql = b + 64 * half_;
  const uint8_t* qh = b + 128 + 32 * half_;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192) + 8 * half_;
  int lo = (quarter & 1) ? ql[l + 32] : ql[l];
  lo = (quarter >= 2) ? (lo >> 4) : (lo & 0xF);
  int hi = (qh[l] >> (2 * quarter)) & 3;
  int q = (lo | (hi << 4)) - 32;
  return ld_half(b + 208) * (float)sc[l / 16 + 2 * quarter] * (float)q;
}
