// The fast paths for float storage with double arithmetic (full instantiation list only; the
// reduced list runs mixed precision on the group path).
#include "kalmanscan/config.hpp"
#include "fixed_run.cuh"

#if KALMANSCAN_CUDA_FULL_INSTANTIATIONS
KALMANSCAN_FILTERS_FIXED(, float, double, 2)
KALMANSCAN_FILTERS_FIXED(, float, double, 4)
KALMANSCAN_FILTERS_FIXED(, float, double, 6)
#endif
