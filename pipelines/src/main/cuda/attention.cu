// Causal attention over the paged KV cache, for decode (one new token per sequence) and chunked
// prefill (several) alike: token t of sequence tokSeq[t] at position tokPos[t] attends to positions
// 0..tokPos[t] of its own sequence, whose keys and values were stored (rope_store) before this runs.
// Grouped-query: query head h reads KV head h / (heads / kvHeads).
#include "sluice_common.cuh"

#define ATT_WARPS 32
#define ATT_UNROLL 4  // positions per warp per step: their loads are in flight together
#define MAX_HEAD_DIM 256
#define DPL (MAX_HEAD_DIM / WARP)  // head dimensions per lane

// q (T, heads*headDim); kcache/vcache (numBlocks*blockSize, kvHeads*headDim) of this layer;
// blockTable (numSeqs, maxBlocksPerSeq); out (T, heads*headDim).
// grid (T, heads), block 1024 (32 warps; the launch bound keeps registers <= 64 so it launches):
// warp w runs an online softmax over positions w, w + 32, w + 64, ..., four at a time so their loads
// overlap; the warps' partial results are then merged through shared memory. headDim <= 256.
// 32 warps rather than 16: one token's decode has only `heads` blocks, so each block's dependent
// rounds (4 x 32 positions per round) set the time; prefill keeps the same 32 warps per SM.
extern "C" __global__ void __launch_bounds__(ATT_WARPS * WARP)
    attention(const float* __restrict__ q, const float* __restrict__ kcache,
                                     const float* __restrict__ vcache, float* __restrict__ out,
                                     const int* __restrict__ tokSeq, const int* __restrict__ tokPos,
                                     const int* __restrict__ blockTable, int maxBlocksPerSeq,
                                     int blockSize, int heads, int kvHeads, int headDim,
                                     float scale) {
  __shared__ float sm[ATT_WARPS], sl[ATT_WARPS];
  __shared__ float sacc[ATT_WARPS][MAX_HEAD_DIM];
  int t = blockIdx.x, h = blockIdx.y;
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  int kvh = h / (heads / kvHeads);
  int kvDim = kvHeads * headDim;
  int nd = (headDim + WARP - 1) / WARP;
  const float* qh = q + (long long)t * heads * headDim + h * headDim;
  const int* table = blockTable + (long long)tokSeq[t] * maxBlocksPerSeq;
  int last = tokPos[t];

  float qv[DPL], acc[DPL];
#pragma unroll
  for (int i = 0; i < DPL; i++) {
    int d = lane + i * WARP;
    qv[i] = (i < nd && d < headDim) ? qh[d] * scale : 0.f;
    acc[i] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int p0 = w; p0 <= last; p0 += ATT_WARPS * ATT_UNROLL) {
    float sc[ATT_UNROLL];
    const float* vp[ATT_UNROLL];
#pragma unroll
    for (int j = 0; j < ATT_UNROLL; j++) {
      int p = p0 + j * ATT_WARPS;
      sc[j] = 0.f;
      vp[j] = nullptr;
      if (p <= last) {  // uniform across the warp
        long long slot = (long long)table[p / blockSize] * blockSize + (p % blockSize);
        const float* kp = kcache + slot * kvDim + kvh * headDim;
        vp[j] = vcache + slot * kvDim + kvh * headDim;
#pragma unroll
        for (int i = 0; i < DPL; i++) {
          int d = lane + i * WARP;
          if (i < nd && d < headDim) sc[j] += qv[i] * kp[d];
        }
      }
    }
    float mNew = m;
#pragma unroll
    for (int j = 0; j < ATT_UNROLL; j++) {
      if (p0 + j * ATT_WARPS <= last) {
        sc[j] = warp_sum(sc[j]);
        mNew = fmaxf(mNew, sc[j]);
      }
    }
    float c = expf(m - mNew);  // 0 on the first step (m = -inf, mNew finite: p0 <= last)
    l *= c;
#pragma unroll
    for (int i = 0; i < DPL; i++) acc[i] *= c;
#pragma unroll
    for (int j = 0; j < ATT_UNROLL; j++) {
      if (p0 + j * ATT_WARPS <= last) {
        float e = expf(sc[j] - mNew);
        l += e;
#pragma unroll
        for (int i = 0; i < DPL; i++) {
          int d = lane + i * WARP;
          if (i < nd && d < headDim) acc[i] += e * vp[j][d];
        }
      }
    }
    m = mNew;
  }
  if (lane == 0) {
    sm[w] = m;
    sl[w] = l;
  }
#pragma unroll
  for (int i = 0; i < DPL; i++) {
    int d = lane + i * WARP;
    if (i < nd && d < headDim) sacc[w][d] = acc[i];
  }
  __syncthreads();
  float mAll = -INFINITY;
#pragma unroll
  for (int j = 0; j < ATT_WARPS; j++) mAll = fmaxf(mAll, sm[j]);
  float lAll = 0.f;
  float f[ATT_WARPS];
#pragma unroll
  for (int j = 0; j < ATT_WARPS; j++) {
    f[j] = sl[j] > 0.f ? expf(sm[j] - mAll) : 0.f;  // a warp that saw no position adds nothing
    lAll += sl[j] * f[j];
  }
  float inv = 1.0f / lAll;
  float* o = out + (long long)t * heads * headDim + h * headDim;
  for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
    float v = 0.f;
#pragma unroll
    for (int j = 0; j < ATT_WARPS; j++) v += sacc[j][d] * f[j];
    o[d] = v * inv;
  }
}
