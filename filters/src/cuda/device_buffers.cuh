// Stream-ordered device allocations from the library's workspace pool (memory_pool.cu), released
// in stream order when the owner goes out of scope; the first failure is kept, and later
// allocations return null.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <vector>

#include "kalmanscan/scan/error.hpp"

namespace kalmanscan::filters::gpu {
namespace detail {

/// A CUDA error as the library's status (message prefixed by the library's name).
inline scan::Status status_of(cudaError_t e) {
  if (e == cudaSuccess) return {};
  return {int(e), std::string("kalmanscan::filters cuda: ") + cudaGetErrorString(e)};
}

}  // namespace detail

/// The library's own memory pool on the current device, created at its first use: every device
/// workspace of the library (scratch, and the host entry points' device copies) comes from it by
/// cudaMallocFromPoolAsync. Its release threshold is the maximum, so memory freed at the end of a
/// call stays in the pool and the next call reuses it without asking the driver (a cold call
/// paid ~0.45 ms at T = 10⁶, state 4: docs/BENCHMARKS.md); the process's default pool is left as
/// it is. gpu::release_cached_memory() hands the cached memory back.
cudaError_t workspace_pool(cudaMemPool_t* pool);

class DeviceBuffers {
 public:
  explicit DeviceBuffers(cudaStream_t stream) : stream_(stream) { error_ = workspace_pool(&pool_); }
  DeviceBuffers(const DeviceBuffers&) = delete;
  DeviceBuffers& operator=(const DeviceBuffers&) = delete;
  ~DeviceBuffers() {
    for (void* p : owned_) cudaFreeAsync(p, stream_);
  }
  template <class U>
  U* alloc(std::size_t count) {
    void* p = nullptr;
    if (error_ != cudaSuccess) return nullptr;
    error_ = cudaMallocFromPoolAsync(&p, count * sizeof(U) + 1, pool_, stream_);
    if (error_ != cudaSuccess) return nullptr;
    owned_.push_back(p);
    return static_cast<U*>(p);
  }
  bool ok() const { return error_ == cudaSuccess; }
  cudaError_t error() const { return error_; }

 private:
  cudaStream_t stream_;
  cudaMemPool_t pool_{};
  std::vector<void*> owned_;
  cudaError_t error_ = cudaSuccess;
};

}  // namespace kalmanscan::filters::gpu
