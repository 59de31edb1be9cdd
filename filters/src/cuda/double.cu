// CUDA instantiations of the parallel filter/smoother in double, state sizes 2, 4, 6, 12
// (full instantiation list only; must match gpu::compiled in gpu.hpp).
#include "kalmanscan/config.hpp"
#include "run.cuh"

#if KALMANSCAN_CUDA_FULL_INSTANTIATIONS
KALMANSCAN_FILTERS_CUDA_INSTANTIATE(double, 2)
KALMANSCAN_FILTERS_CUDA_INSTANTIATE(double, 4)
KALMANSCAN_FILTERS_CUDA_INSTANTIATE(double, 6)
KALMANSCAN_FILTERS_CUDA_INSTANTIATE(double, 12)
#endif
