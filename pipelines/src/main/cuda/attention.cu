// Causal attention over the paged KV cache, for decode (one new token per sequence) and chunked
// prefill (several) alike: token t of sequence tokSeq[t] at position tokPos[t] attends to positions
// 0..tokPos[t] of its own sequence, whose keys and values were stored (rope_store) before this runs.
// Grouped-query: query head h reads KV head h / (heads / kvHeads).
//
// Two kernels share one body (attend_range: each warp an online softmax over a strided subset of
// a position range, then a merge of the block's warps through shared memory):
//  - attention: grid (T, heads), one 32-warp block per (token, head) over all its positions. Used
//    when T * heads already fills the GPU (prefill chunks, large decode batches).
//  - attention_split (flash-decoding): grid (T, heads, splits), 4-warp blocks, each over
//    1/splits of the token's positions (chunks of 16, computed from tokPos on the device, so the
//    grid depends only on T and a captured CUDA graph stays valid as positions grow). Each block
//    writes a partial (m, l, unnormalised acc); the last block of a (token, head) to finish (an
//    atomic counter) merges the splits and writes the output, then resets the counter to 0 for
//    the next launch. One launch, no combine kernel.
#include "sluice_common.cuh"

#define ATT_WARPS 32
#define SPLIT_WARPS 4
#define ATT_UNROLL 4  // positions per warp per step: their loads are in flight together
#define MAX_HEAD_DIM 256
#define DPL (MAX_HEAD_DIM / WARP)  // head dimensions per lane
#define MAX_SPLITS 64

// Online softmax of one warp over positions pBegin + w, pBegin + w + W, ... <= pEnd, ATT_UNROLL at
// a time. PREFETCH_V also loads the values of those positions before the scores are reduced (more
// registers: only for the small split blocks), so each step is one memory round trip, not two.
template <int W, bool PREFETCH_V>
__device__ __forceinline__ void attend_range(const float* qv, float* acc, float& m, float& l,
                                             const float* __restrict__ kcache,
                                             const float* __restrict__ vcache, const int* table,
                                             int pBegin, int pEnd, int blockSize, int kvDim,
                                             int kvOff, int headDim, int nd, int w, int lane) {
  for (int p0 = pBegin + w; p0 <= pEnd; p0 += W * ATT_UNROLL) {
    float sc[ATT_UNROLL];
    const float* vp[ATT_UNROLL];
    float vv[PREFETCH_V ? ATT_UNROLL : 1][DPL];
#pragma unroll
    for (int j = 0; j < ATT_UNROLL; j++) {
      int p = p0 + j * W;
      sc[j] = 0.f;
      vp[j] = nullptr;
      if (p <= pEnd) {  // uniform across the warp
        long long slot = (long long)table[p / blockSize] * blockSize + (p % blockSize);
        const float* kp = kcache + slot * kvDim + kvOff;
        vp[j] = vcache + slot * kvDim + kvOff;
#pragma unroll
        for (int i = 0; i < DPL; i++) {
          int d = lane + i * WARP;
          if (i < nd && d < headDim) {
            sc[j] += qv[i] * kp[d];
            if (PREFETCH_V) vv[PREFETCH_V ? j : 0][i] = vp[j][d];
          }
        }
      }
    }
    float mNew = m;
#pragma unroll
    for (int j = 0; j < ATT_UNROLL; j++) {
      if (p0 + j * W <= pEnd) {
        sc[j] = warp_sum(sc[j]);
        mNew = fmaxf(mNew, sc[j]);
      }
    }
    float c = expf(m - mNew);  // 0 on the first step (m = -inf, mNew finite: p0 <= pEnd)
    l *= c;
#pragma unroll
    for (int i = 0; i < DPL; i++) acc[i] *= c;
#pragma unroll
    for (int j = 0; j < ATT_UNROLL; j++) {
      if (p0 + j * W <= pEnd) {
        float e = expf(sc[j] - mNew);
        l += e;
#pragma unroll
        for (int i = 0; i < DPL; i++) {
          int d = lane + i * WARP;
          if (i < nd && d < headDim)
            acc[i] += e * (PREFETCH_V ? vv[PREFETCH_V ? j : 0][i] : vp[j][d]);
        }
      }
    }
    m = mNew;
  }
}

// Merges the W warps' (m, l, acc) of this block: returns the block's (mAll, lAll) and leaves in
// sacc[0][d] the block's unnormalised sum of acc (relative to mAll) for d < headDim.
// A warp that saw no position (l = 0) adds nothing; a block that saw none gives l = 0.
template <int W>
__device__ __forceinline__ void merge_warps(float m, float l, const float* acc, float* sm,
                                            float* sl, float (*sacc)[MAX_HEAD_DIM], int headDim,
                                            int nd, int w, int lane, float& mAll, float& lAll) {
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
  mAll = -INFINITY;
#pragma unroll
  for (int j = 0; j < W; j++)
    if (sl[j] > 0.f) mAll = fmaxf(mAll, sm[j]);
  lAll = 0.f;
  float f[W];
#pragma unroll
  for (int j = 0; j < W; j++) {
    f[j] = sl[j] > 0.f ? expf(sm[j] - mAll) : 0.f;
    lAll += sl[j] * f[j];
  }
  float v[MAX_HEAD_DIM / (W * WARP) > 0 ? MAX_HEAD_DIM / (W * WARP) : 1];
#pragma unroll
  for (int r = 0; r < (int)(sizeof(v) / sizeof(float)); r++) {
    int d = threadIdx.x + r * W * WARP;
    v[r] = 0.f;
    if (d < headDim) {
#pragma unroll
      for (int j = 0; j < W; j++) v[r] += sacc[j][d] * f[j];
    }
  }
  __syncthreads();  // every sacc read before row 0 is overwritten
#pragma unroll
  for (int r = 0; r < (int)(sizeof(v) / sizeof(float)); r++) {
    int d = threadIdx.x + r * W * WARP;
    if (d < headDim) sacc[0][d] = v[r];
  }
  __syncthreads();
}

// attention_fused.cu includes this file for attend_range and merge_warps only.
#ifndef SLUICE_ATTENTION_NO_KERNELS
// q (T, heads*headDim); kcache/vcache (numBlocks*blockSize, kvHeads*headDim) of this layer;
// blockTable (numSeqs, maxBlocksPerSeq); out (T, heads*headDim).
// grid (T, heads), block 1024 (32 warps; the launch bound keeps registers <= 64 so it launches).
// headDim <= 256.
extern "C" __global__ void __launch_bounds__(ATT_WARPS * WARP)
    attention(const float* __restrict__ q, const float* __restrict__ kcache,
              const float* __restrict__ vcache, float* __restrict__ out,
              const int* __restrict__ tokSeq, const int* __restrict__ tokPos,
              const int* __restrict__ blockTable, int maxBlocksPerSeq, int blockSize, int heads,
              int kvHeads, int headDim, float scale) {
  __shared__ float sm[ATT_WARPS], sl[ATT_WARPS];
  __shared__ float sacc[ATT_WARPS][MAX_HEAD_DIM];
  int t = blockIdx.x, h = blockIdx.y;
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  int kvh = h / (heads / kvHeads);
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
  attend_range<ATT_WARPS, false>(qv, acc, m, l, kcache, vcache, table, 0, last, blockSize,
                                 kvHeads * headDim, kvh * headDim, headDim, nd, w, lane);
  float mAll, lAll;
  merge_warps<ATT_WARPS>(m, l, acc, sm, sl, sacc, headDim, nd, w, lane, mAll, lAll);
  float inv = 1.0f / lAll;
  float* o = out + (long long)t * heads * headDim + h * headDim;
  for (int d = threadIdx.x; d < headDim; d += blockDim.x) o[d] = sacc[0][d] * inv;
}

// Flash-decoding: grid (T, heads, splits), block SPLIT_WARPS * 32. Same arguments as attention,
// plus partAcc (T*heads*splits, headDim), partMl (T*heads*splits, 2) and counters (T*heads ints,
// zero before the first launch; the merging block leaves them zero again). splits <= MAX_SPLITS.
// Split s covers positions [s*chunk, min(last, (s+1)*chunk - 1)], chunk = ceil((last+1)/splits)
// rounded up to a multiple of 16 (one step of 4 warps x 4 positions); later splits are empty.
extern "C" __global__ void __launch_bounds__(SPLIT_WARPS * WARP)
    attention_split(const float* __restrict__ q, const float* __restrict__ kcache,
                    const float* __restrict__ vcache, float* __restrict__ out,
                    const int* __restrict__ tokSeq, const int* __restrict__ tokPos,
                    const int* __restrict__ blockTable, int maxBlocksPerSeq, int blockSize,
                    int heads, int kvHeads, int headDim, float scale, float* partAcc,
                    float* partMl, unsigned* counters) {
  __shared__ float sm[MAX_SPLITS], sl[MAX_SPLITS];
  __shared__ float sacc[SPLIT_WARPS][MAX_HEAD_DIM];
  __shared__ bool isLast;
  int t = blockIdx.x, h = blockIdx.y, s = blockIdx.z, splits = gridDim.z;
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  int kvh = h / (heads / kvHeads);
  int nd = (headDim + WARP - 1) / WARP;
  const float* qh = q + (long long)t * heads * headDim + h * headDim;
  const int* table = blockTable + (long long)tokSeq[t] * maxBlocksPerSeq;
  int last = tokPos[t];
  const int step = SPLIT_WARPS * ATT_UNROLL;
  int chunk = ((last + 1 + splits - 1) / splits + step - 1) / step * step;
  int pBegin = s * chunk;
  int pEnd = min(last, pBegin + chunk - 1);

  float qv[DPL], acc[DPL];
#pragma unroll
  for (int i = 0; i < DPL; i++) {
    int d = lane + i * WARP;
    qv[i] = (i < nd && d < headDim) ? qh[d] * scale : 0.f;
    acc[i] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  attend_range<SPLIT_WARPS, true>(qv, acc, m, l, kcache, vcache, table, pBegin, pEnd, blockSize,
                                  kvHeads * headDim, kvh * headDim, headDim, nd, w, lane);
  float mAll, lAll;
  merge_warps<SPLIT_WARPS>(m, l, acc, sm, sl, sacc, headDim, nd, w, lane, mAll, lAll);

  long long th = (long long)t * heads + h;
  long long part = th * splits + s;
  for (int d = threadIdx.x; d < headDim; d += blockDim.x) partAcc[part * headDim + d] = sacc[0][d];
  if (threadIdx.x == 0) {
    partMl[2 * part] = mAll;
    partMl[2 * part + 1] = lAll;
  }
  // Classic last-block-done reduction: publish this block's partial, then count it.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) isLast = atomicAdd(&counters[th], 1u) == (unsigned)(splits - 1);
  __syncthreads();
  if (!isLast) return;
  __threadfence();
  // Only the splits that held positions (the rest wrote l = 0): 17 of 22 at position 256.
  int active = min(splits, (last + chunk) / chunk);
  // The other blocks' partials: read through L2 (__ldcg), never a stale L1 line.
  for (int j = threadIdx.x; j < active; j += blockDim.x) {
    sm[j] = __ldcg(&partMl[2 * (th * splits + j)]);
    sl[j] = __ldcg(&partMl[2 * (th * splits + j) + 1]);
  }
  __syncthreads();
  float mAllS = -INFINITY;
  for (int j = 0; j < active; j++)
    if (sl[j] > 0.f) mAllS = fmaxf(mAllS, sm[j]);
  float lAllS = 0.f;
  for (int j = 0; j < active; j++)
    if (sl[j] > 0.f) lAllS += sl[j] * expf(sm[j] - mAllS);
  __syncthreads();  // every thread has read sm before it becomes the weights
  // Each split's weight once (not once per dimension): empty splits weigh 0.
  for (int j = threadIdx.x; j < active; j += blockDim.x)
    sm[j] = sl[j] > 0.f ? expf(sm[j] - mAllS) / lAllS : 0.f;
  __syncthreads();
  float* o = out + (long long)t * heads * headDim + h * headDim;
  const float* pa = partAcc + th * splits * headDim;
  for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
    float v = 0.f;
#pragma unroll 8
    for (int j = 0; j < active; j++) v += __ldcg(&pa[(long long)j * headDim + d]) * sm[j];
    o[d] = v;
  }
  if (threadIdx.x == 0) counters[th] = 0;  // ready for the next launch (graph replays too)
}
#endif
