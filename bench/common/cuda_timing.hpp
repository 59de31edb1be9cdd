// CUDA-event timing shared by the GPU benchmark programs (host code; needs the CUDA runtime).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

/// Exits the benchmark with the failing call, file and line when a CUDA call fails.
#define KS_BENCH_CHECK_CUDA(call)                                                                    \
  do {                                                                                               \
    if (const cudaError_t ks_e = (call); ks_e != cudaSuccess) {                                      \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(ks_e)); \
      std::exit(1);                                                                                  \
    }                                                                                                \
  } while (0)

namespace kalmanscan::bench {

/// Median milliseconds of `reps` runs of f() on the default stream, timed with CUDA events, after
/// one warm-up run (and a synchronisation, so the warm-up is not timed).
template <class F>
double median_gpu_ms(int reps, F&& f) {
  cudaEvent_t start, stop;
  KS_BENCH_CHECK_CUDA(cudaEventCreate(&start));
  KS_BENCH_CHECK_CUDA(cudaEventCreate(&stop));
  f();
  KS_BENCH_CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<float> ms(reps);
  for (float& t : ms) {
    KS_BENCH_CHECK_CUDA(cudaEventRecord(start));
    f();
    KS_BENCH_CHECK_CUDA(cudaEventRecord(stop));
    KS_BENCH_CHECK_CUDA(cudaEventSynchronize(stop));
    KS_BENCH_CHECK_CUDA(cudaEventElapsedTime(&t, start, stop));
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::nth_element(ms.begin(), ms.begin() + reps / 2, ms.end());
  return ms[reps / 2];
}

}  // namespace kalmanscan::bench
