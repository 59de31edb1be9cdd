#include "array_scan.cuh"

KALMANSCAN_INSTANTIATE_GPU_ARRAY_SCAN(kalmanscan::scan::Mobius2Op<float>);
#if KALMANSCAN_CUDA_FULL_INSTANTIATIONS
KALMANSCAN_INSTANTIATE_GPU_ARRAY_SCAN(kalmanscan::scan::Mobius2Op<double>);
#endif
