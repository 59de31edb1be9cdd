#include "array_scan.cuh"

KALMANSCAN_INSTANTIATE_GPU_ARRAY_SCAN(kalmanscan::scan::ModMatrix2M31Op);
KALMANSCAN_INSTANTIATE_GPU_ARRAY_SCAN(kalmanscan::scan::AffineMod32Op);
