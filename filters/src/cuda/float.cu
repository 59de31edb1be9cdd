// CUDA instantiations of the parallel filter/smoother in float, state sizes 2, 4, 6, 12
// (every build with CUDA; must match gpu::compiled in gpu.hpp).
#include "kalmanscan/config.hpp"
#include "run.cuh"

KALMANSCAN_FILTERS_CUDA_INSTANTIATE(float, 2)
KALMANSCAN_FILTERS_CUDA_INSTANTIATE(float, 4)
KALMANSCAN_FILTERS_CUDA_INSTANTIATE(float, 6)
KALMANSCAN_FILTERS_CUDA_INSTANTIATE(float, 12)
