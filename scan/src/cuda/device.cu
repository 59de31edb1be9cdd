#include <cuda_runtime.h>

#include "kalmanscan/scan/gpu.hpp"

namespace kalmanscan::scan::gpu {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device / no driver" error
    return 0;
  }
  return n;
}

}  // namespace kalmanscan::scan::gpu
