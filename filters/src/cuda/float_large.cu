// CUDA instantiations of the parallel filter/smoother in float, state sizes 8, 16, 24, 32
// (only with KALMANSCAN_CUDA_LARGE_FILTER_SIZES; must match gpu::compiled in gpu.hpp).
#include "kalmanscan/config.hpp"
#include "run.cuh"

#if KALMANSCAN_CUDA_LARGE_FILTER_SIZES
KALMANSCAN_FILTERS_CUDA_INSTANTIATE(float, 8)
KALMANSCAN_FILTERS_CUDA_INSTANTIATE(float, 16)
KALMANSCAN_FILTERS_CUDA_INSTANTIATE(float, 24)
KALMANSCAN_FILTERS_CUDA_INSTANTIATE(float, 32)
#endif
