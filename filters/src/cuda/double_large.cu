// CUDA instantiations of the parallel filter/smoother in double, state sizes 8, 16, 24, 32
// (only with KALMANSCAN_CUDA_LARGE_FILTER_SIZES; must match gpu::compiled in gpu.hpp).
#include "kalmanscan/config.hpp"
#include "run.cuh"

#if KALMANSCAN_CUDA_LARGE_FILTER_SIZES && KALMANSCAN_CUDA_FULL_INSTANTIATIONS
KALMANSCAN_FILTERS_CUDA_INSTANTIATE(double, 8)
KALMANSCAN_FILTERS_CUDA_INSTANTIATE(double, 16)
KALMANSCAN_FILTERS_CUDA_INSTANTIATE(double, 24)
KALMANSCAN_FILTERS_CUDA_INSTANTIATE(double, 32)
#endif
