// The fast paths (compiled state sizes N = 2, 4, 6) on device arrays: the chunk-sequential
// three-phase filter (fast_filter.cuh) and smoother (fast_smooth.cuh). Inputs are read in the
// storage type S, each step is computed in the arithmetic type C (C = double for S = float is
// the mixed-precision variant), whole chunks' elements and their scan in double, or in float
// for float steps on long logs (fast_io.cuh: with_chunk_arithmetic). From the options: the
// steps per thread (fast_chunk, 0 for the default). Included by the .cu files only.
#pragma once

#include "fast_filter.cuh"
#include "fast_smooth.cuh"

/// Explicit instantiation (prefix empty) or its extern declaration (prefix extern) of the
/// fast path for storage S, arithmetic C, size N.
#define KALMANSCAN_FILTERS_FIXED(prefix, S, C, N)                                                                \
  prefix template cudaError_t kalmanscan::filters::gpu::fast::filter<S, C, N>(                                  \
      const kalmanscan::filters::gpu::FilterProblem<S>&, S*, S*, unsigned long long*,                    \
      const kalmanscan::filters::gpu::DeviceOptions&, cudaStream_t);                                            \
  prefix template cudaError_t kalmanscan::filters::gpu::fast::smooth<S, C, N>(                                  \
      const kalmanscan::filters::gpu::SmoothProblem<S>&, S*, S*, unsigned long long*,                    \
      const kalmanscan::filters::gpu::DeviceOptions&, cudaStream_t);
