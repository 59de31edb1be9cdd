// The double entry points of gpu.hpp; the fast paths in double with the full instantiation
// list (the reduced list runs double on the group path).
#include "kalmanscan/config.hpp"
#include "api.cuh"

#if KALMANSCAN_CUDA_FULL_INSTANTIATIONS
KALMANSCAN_FILTERS_FIXED(, double, double, 2)
KALMANSCAN_FILTERS_FIXED(, double, double, 4)
KALMANSCAN_FILTERS_FIXED(, double, double, 6)
#endif
KALMANSCAN_FILTERS_API_INSTANTIATE(double)
