// Built instead of the CUDA library when CUDA is off: the GPU reports no device.
#include "kalmanscan/scan/gpu.hpp"

namespace kalmanscan::scan::gpu {

int device_count() { return 0; }

}  // namespace kalmanscan::scan::gpu
