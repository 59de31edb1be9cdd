// Stream-ordered device allocations (cudaMallocAsync) released, in stream order, when the
// owner goes out of scope; the first failure is kept, and later allocations return null.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <vector>

namespace kalmanscan::filters::gpu {

class DeviceBuffers {
 public:
  explicit DeviceBuffers(cudaStream_t stream) : stream_(stream) {}
  DeviceBuffers(const DeviceBuffers&) = delete;
  DeviceBuffers& operator=(const DeviceBuffers&) = delete;
  ~DeviceBuffers() {
    for (void* p : owned_) cudaFreeAsync(p, stream_);
  }
  template <class U>
  U* alloc(std::size_t count) {
    void* p = nullptr;
    if (error_ != cudaSuccess) return nullptr;
    error_ = cudaMallocAsync(&p, count * sizeof(U) + 1, stream_);
    if (error_ != cudaSuccess) return nullptr;
    owned_.push_back(p);
    return static_cast<U*>(p);
  }
  bool ok() const { return error_ == cudaSuccess; }
  cudaError_t error() const { return error_; }

 private:
  cudaStream_t stream_;
  std::vector<void*> owned_;
  cudaError_t error_ = cudaSuccess;
};

}  // namespace kalmanscan::filters::gpu
