// Decode attention with RoPE and the KV-cache store fused in: one launch instead of rope_store +
// attention_split per layer, for steps where every sequence adds exactly one token (decode).
//
// Why: after the flash-decoding change (run 3, H200, Qwen2-1.5B shape) rope_store was a separate
// single-block launch per layer (~7 us each with its launch gap, 0.21 ms per step with the
// embedding and final norm), while attention only needs the rotated q of its own head and, in the
// one split that holds the new position, the rotated k and the v of that position.
//
// attention_rope_split: grid (T, heads, splits), SPLIT_WARPS warps, as attention_split, but q, k, v
// are the raw projections (T, heads*headDim) / (T, kvHeads*headDim) of the step's tokens. Each
// block rotates its q head itself (in shared memory, the pair partner read from there); the block
// whose split holds the token's position p attends positions < p from the cache and p from the
// rotated k and v in shared memory, and, when its head is the first of its KV group, stores the
// rotated k and v into the cache slot for later steps (no block of this launch reads that slot, so
// the store needs no ordering). The splits are merged by the last block as in attention_split.
// Only for one token per sequence: a prefill chunk's later tokens would need earlier tokens' k/v of
// the same launch from the cache.
#define SLUICE_ATTENTION_NO_KERNELS
#include "attention.cu"

// Element d of a head (raw values in h, shared memory) after RoPE at position pos (already scaled):
// the same pair, frequency and expressions as elementwise.cu's rope_head.
__device__ __forceinline__ float rope_elem(const float* h, int d, float pos, int ropeDim,
                                           float theta, int neox, const float* factors) {
  if (d >= ropeDim) return h[d];
  int half_ = ropeDim / 2;
  int pair = neox ? d % half_ : d / 2;
  bool first = neox ? d < half_ : (d & 1) == 0;
  int a = neox ? pair : 2 * pair;
  int b = neox ? pair + half_ : 2 * pair + 1;
  float freq = powf(theta, -2.0f * (float)pair / (float)ropeDim);
  if (factors != nullptr) freq /= factors[pair];
  float s, c;
  sincosf(pos * freq, &s, &c);
  float x0 = h[a], x1 = h[b];
  return first ? x0 * c - x1 * s : x0 * s + x1 * c;
}

// Arguments: as attention_split, plus the raw k and v of the step's tokens, each token's cache
// slot, and rope_store's RoPE parameters. splits >= 1 (the host uses it only with splits > 1 so the
// scratch bound of attentionPartialFloats holds).
extern "C" __global__ void __launch_bounds__(SPLIT_WARPS * WARP)
    attention_rope_split(const float* __restrict__ q, const float* __restrict__ knew,
                         const float* __restrict__ vnew, float* kcache, float* vcache,
                         float* __restrict__ out, const int* __restrict__ tokSeq,
                         const int* __restrict__ tokPos, const int* __restrict__ tokSlot,
                         const int* __restrict__ blockTable, int maxBlocksPerSeq, int blockSize,
                         int heads, int kvHeads, int headDim, float scale, int ropeDim,
                         float theta, float invScale, int neox, const float* __restrict__ factors,
                         float* partAcc, float* partMl, unsigned* counters) {
  __shared__ float sm[MAX_SPLITS], sl[MAX_SPLITS];
  __shared__ float sacc[SPLIT_WARPS][MAX_HEAD_DIM];
  __shared__ float sq[MAX_HEAD_DIM], sk[MAX_HEAD_DIM], sv[MAX_HEAD_DIM], rk[MAX_HEAD_DIM];
  __shared__ bool isLast;
  int t = blockIdx.x, h = blockIdx.y, s = blockIdx.z, splits = gridDim.z;
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  int group = heads / kvHeads;
  int kvh = h / group;
  int kvDim = kvHeads * headDim;
  int nd = (headDim + WARP - 1) / WARP;
  const int* table = blockTable + (long long)tokSeq[t] * maxBlocksPerSeq;
  int last = tokPos[t];
  const int step = SPLIT_WARPS * ATT_UNROLL;
  int chunk = ((last + 1 + splits - 1) / splits + step - 1) / step * step;
  int pBegin = s * chunk;
  int pEnd = min(last, pBegin + chunk - 1);
  bool hasLast = pBegin <= last && pEnd == last;  // this split holds the new position
  float pos = (float)last * invScale;

  const float* qh = q + (long long)t * heads * headDim + h * headDim;
  const float* kh = knew + (long long)t * kvDim + kvh * headDim;
  const float* vh = vnew + (long long)t * kvDim + kvh * headDim;
  for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
    sq[d] = qh[d];
    if (hasLast) {
      sk[d] = kh[d];
      sv[d] = vh[d];
    }
  }
  __syncthreads();
  float qv[DPL], acc[DPL];
#pragma unroll
  for (int i = 0; i < DPL; i++) {
    int d = lane + i * WARP;
    qv[i] = (i < nd && d < headDim) ? rope_elem(sq, d, pos, ropeDim, theta, neox, factors) * scale
                                    : 0.f;
    acc[i] = 0.f;
  }
  if (hasLast) {
    bool store = h % group == 0;
    long long slot = tokSlot[t];
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
      float r = rope_elem(sk, d, pos, ropeDim, theta, neox, factors);
      rk[d] = r;
      if (store) {
        kcache[slot * kvDim + kvh * headDim + d] = r;
        vcache[slot * kvDim + kvh * headDim + d] = sv[d];
      }
    }
  }
  float m = -INFINITY, l = 0.f;
  // positions before the new one come from the cache
  attend_range<SPLIT_WARPS, true>(qv, acc, m, l, kcache, vcache, table, pBegin,
                                  hasLast ? last - 1 : pEnd, blockSize, kvDim, kvh * headDim,
                                  headDim, nd, w, lane);
  __syncthreads();  // rk complete
  if (hasLast && w == 0) {  // the new position, from shared memory, one online-softmax step
    float sc = 0.f;
#pragma unroll
    for (int i = 0; i < DPL; i++) {
      int d = lane + i * WARP;
      if (i < nd && d < headDim) sc += qv[i] * rk[d];
    }
    sc = warp_sum(sc);
    float mNew = fmaxf(m, sc);
    float c = expf(m - mNew);  // 0 when the warp saw nothing yet (m = -inf)
    float e = expf(sc - mNew);
    l = l * c + e;
#pragma unroll
    for (int i = 0; i < DPL; i++) {
      int d = lane + i * WARP;
      acc[i] *= c;
      if (i < nd && d < headDim) acc[i] += e * sv[d];
    }
    m = mNew;
  }
  float mAll, lAll;
  merge_warps<SPLIT_WARPS>(m, l, acc, sm, sl, sacc, headDim, nd, w, lane, mAll, lAll);

  // ---- as attention_split from here: publish the partial, the last block merges ----
  long long th = (long long)t * heads + h;
  long long part = th * splits + s;
  for (int d = threadIdx.x; d < headDim; d += blockDim.x) partAcc[part * headDim + d] = sacc[0][d];
  if (threadIdx.x == 0) {
    partMl[2 * part] = mAll;
    partMl[2 * part + 1] = lAll;
  }
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) isLast = atomicAdd(&counters[th], 1u) == (unsigned)(splits - 1);
  __syncthreads();
  if (!isLast) return;
  __threadfence();
  int active = min(splits, (last + chunk) / chunk);
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
  __syncthreads();
  for (int j = threadIdx.x; j < active; j += blockDim.x)
    sm[j] = sl[j] > 0.f ? expf(sm[j] - mAllS) / lAllS : 0.f;
  __syncthreads();
  float* o = out + (long long)t * heads * headDim + h * headDim;
  const float* pa = partAcc + th * splits * headDim;
  // Up to 32 splits' partials loaded together (predicated), then summed: one round of L2 loads
  // for the usual 17-22 active splits (attention_split's unroll-8 loop with a remainder took 3).
  for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
    float v = 0.f;
    for (int j0 = 0; j0 < active; j0 += 32) {
      float pv[32];
#pragma unroll
      for (int j = 0; j < 32; j++)
        pv[j] = j0 + j < active ? __ldcg(&pa[(long long)(j0 + j) * headDim + d]) : 0.f;
#pragma unroll
      for (int j = 0; j < 32; j++) v += j0 + j < active ? pv[j] * sm[j0 + j] : 0.f;
    }
    o[d] = v;
  }
  if (threadIdx.x == 0) counters[th] = 0;
}
