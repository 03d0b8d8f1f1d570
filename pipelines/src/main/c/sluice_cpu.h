/*
 * Sluice native CPU kernels: quantized matrix x activations products straight from GGUF blocks,
 * with integer dot products (AVX-512 VNNI). Called from Java through FFM
 * (dev.sluice.engine.cpu.NativeKernels); the Vector API kernels remain the fallback wherever this
 * library is missing or the CPU lacks the instructions.
 *
 * Contract shared by every kernel (the same as dev.sluice.engine.cpu.MatMul#fast):
 *   out[t * out_stride + r] = sum_c W[r][c] * x[t * cols + c]   for 0 <= t < T, r0 <= r < r1
 * - w: the tensor's row 0, rows row_bytes apart, in ggml block layout (little-endian f16 scales).
 * - cols: a multiple of the type's block size (32 for Q8_0/Q4_0, 256 for Q4_K/Q6_K).
 * - The activations are quantized the way llama.cpp does for that weight type (quantize_row_q8_0
 *   for Q8_0/Q4_0, quantize_row_q8_K for Q4_K/Q6_K) into scratch, once per call; the products are
 *   llama.cpp's integer dot products (ggml_vec_dot_*), block sums scaled and summed in float:
 *   bit for bit ggml's AVX2 lanes for Q4_K/Q6_K; for Q8_0/Q4_0 two of those integer lane sums are
 *   added before the conversion (half the float work), so the last bits differ from llama.cpp's.
 * - Batch invariance: a token's result is bit-identical whatever T and whichever rows are asked
 *   for (the per-token summation order never depends on the batch or the row range).
 * - scratch: at least SLUICE_SCRATCH_BYTES(cols, T) bytes, 64-byte aligned, owned by the caller
 *   for the duration of the call (one per thread). No allocation, no global state, thread-safe.
 * - The caller (Java) has validated every shape and range; kernels check nothing.
 */
#ifndef SLUICE_CPU_H
#define SLUICE_CPU_H

#include <stddef.h>
#include <stdint.h>

/* The library is built with -fvisibility=hidden; only these entry points are exported. */
#define SLUICE_API __attribute__((visibility("default")))

#define SLUICE_SCRATCH_BYTES(cols, T) ((size_t)(T) * (size_t)(cols) * 2 + 4096)

/* ggml type ids */
#define SLUICE_Q4_0 2
#define SLUICE_Q8_0 8
#define SLUICE_Q4_K 12
#define SLUICE_Q6_K 14

/* 1 when this CPU has what the kernels need (AVX-512 F/BW/VL/VNNI, FMA, F16C), else 0. */
SLUICE_API int sluice_cpu_supported(void);

/* The ABI version the Java side checks (bumped on any signature or layout change). */
SLUICE_API int sluice_abi_version(void);

/* Dispatches on type; returns 0, or -1 for a type without a native kernel. */
SLUICE_API int sluice_matmul(int32_t type, const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x,
                  int32_t T, float *out, int64_t out_stride, int32_t r0, int32_t r1,
                  uint8_t *scratch);

/* Per-type kernels (the same arguments as sluice_matmul without the type). */
SLUICE_API void sluice_q8_0(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x, int32_t T,
                 float *out, int64_t out_stride, int32_t r0, int32_t r1, uint8_t *scratch);
SLUICE_API void sluice_q4_0(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x, int32_t T,
                 float *out, int64_t out_stride, int32_t r0, int32_t r1, uint8_t *scratch);
SLUICE_API void sluice_q4_k(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x, int32_t T,
                 float *out, int64_t out_stride, int32_t r0, int32_t r1, uint8_t *scratch);
SLUICE_API void sluice_q6_k(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x, int32_t T,
                 float *out, int64_t out_stride, int32_t r0, int32_t r1, uint8_t *scratch);

#endif
