// The float entry points of gpu.hpp; the fast paths in float arithmetic (every build with CUDA).
#include "kalmanscan/config.hpp"
#include "api.cuh"

KALMANSCAN_FILTERS_FIXED(, float, float, 2)
KALMANSCAN_FILTERS_FIXED(, float, float, 4)
KALMANSCAN_FILTERS_FIXED(, float, float, 6)
#if KALMANSCAN_CUDA_FULL_INSTANTIATIONS  // mixed precision: float_mixed.cu
KALMANSCAN_FILTERS_FIXED(extern, float, double, 2)
KALMANSCAN_FILTERS_FIXED(extern, float, double, 4)
KALMANSCAN_FILTERS_FIXED(extern, float, double, 6)
#endif
KALMANSCAN_FILTERS_API_INSTANTIATE(float)
