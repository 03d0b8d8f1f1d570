/*
 * Entry points of libsluicecpu: the CPU check and the type dispatch. Compiled without AVX-512
 * flags so that sluice_cpu_supported() runs on any x86-64 CPU; the kernels it guards are compiled
 * with them (build-native.sh).
 */
#include "sluice_cpu.h"

#define SLUICE_ABI 1

int sluice_abi_version(void) { return SLUICE_ABI; }

int sluice_cpu_supported(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
         __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
  return 0;
#endif
}

typedef void kernel_fn(const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x,
                       int32_t T, float *out, int64_t out_stride, int32_t r0, int32_t r1,
                       uint8_t *scratch);

static kernel_fn *kernel_for(int32_t type) {
  switch (type) {
    case SLUICE_Q8_0: return sluice_q8_0;
    case SLUICE_Q4_0: return sluice_q4_0;
    case SLUICE_Q4_K: return sluice_q4_k;
    case SLUICE_Q6_K: return sluice_q6_k;
    default: return 0;
  }
}

int sluice_matmul(int32_t type, const uint8_t *w, int64_t row_bytes, int32_t cols, const float *x,
                  int32_t T, float *out, int64_t out_stride, int32_t r0, int32_t r1,
                  uint8_t *scratch) {
  kernel_fn *k = kernel_for(type);
  if (!k) {
    return -1;
  }
  k(w, row_bytes, cols, x, T, out, out_stride, r0, r1, scratch);
  return 0;
}
