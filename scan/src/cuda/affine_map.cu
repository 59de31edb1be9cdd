#include "array_scan.cuh"

KALMANSCAN_INSTANTIATE_GPU_ARRAY_SCAN(kalmanscan::scan::AffineMapOp<float, 2>);
KALMANSCAN_INSTANTIATE_GPU_ARRAY_SCAN(kalmanscan::scan::AffineMapOp<float, 4>);
#if KALMANSCAN_CUDA_FULL_INSTANTIATIONS
KALMANSCAN_INSTANTIATE_GPU_ARRAY_SCAN(kalmanscan::scan::AffineMapOp<double, 2>);
KALMANSCAN_INSTANTIATE_GPU_ARRAY_SCAN(kalmanscan::scan::AffineMapOp<double, 4>);
#endif
