// The library's workspace pools (device_buffers.cuh: workspace_pool), one per device, created at
// first use and kept for the life of the process, and the entry points of gpu.hpp that release
// and report their cached memory.
#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>
#include <vector>

#include "device_buffers.cuh"
#include "gpu.hpp"

namespace kalmanscan::filters::gpu {
namespace {

std::mutex pools_mutex;
std::vector<cudaMemPool_t> pools;  // by device; null where not created yet (guarded by pools_mutex)

}  // namespace

cudaError_t workspace_pool(cudaMemPool_t* pool) {
  int device = 0;
  if (const cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
  const std::lock_guard lock(pools_mutex);
  if (std::size_t(device) >= pools.size()) pools.resize(std::size_t(device) + 1, nullptr);
  cudaMemPool_t& p = pools[std::size_t(device)];
  if (!p) {
    cudaMemPoolProps props{};
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = device;
    cudaMemPool_t created = nullptr;
    if (const cudaError_t e = cudaMemPoolCreate(&created, &props); e != cudaSuccess) return e;
    std::uint64_t keep_all = UINT64_MAX;  // never return freed memory at a synchronisation
    if (const cudaError_t e = cudaMemPoolSetAttribute(created, cudaMemPoolAttrReleaseThreshold, &keep_all);
        e != cudaSuccess) {
      cudaMemPoolDestroy(created);
      return e;
    }
    p = created;
  }
  *pool = p;
  return cudaSuccess;
}

scan::Status release_cached_memory() {
  // A workspace's cudaFreeAsync may still be pending in its stream when the call returns (the
  // H200 kept 32 MiB reserved after a bare trim): the trim can release only memory whose frees
  // have run, so each device is synchronised first.
  int current = 0;
  if (const cudaError_t e = cudaGetDevice(&current); e != cudaSuccess) return detail::status_of(e);
  const std::lock_guard lock(pools_mutex);
  cudaError_t e = cudaSuccess;
  for (std::size_t d = 0; d < pools.size() && e == cudaSuccess; ++d)
    if (pools[d] && (e = cudaSetDevice(int(d))) == cudaSuccess && (e = cudaDeviceSynchronize()) == cudaSuccess)
      e = cudaMemPoolTrimTo(pools[d], 0);
  const cudaError_t restored = cudaSetDevice(current);
  return detail::status_of(e != cudaSuccess ? e : restored);
}

PoolMemory pool_memory() {
  PoolMemory m;
  cudaMemPool_t pool = nullptr;
  if (workspace_pool(&pool) != cudaSuccess) return m;
  std::uint64_t reserved = 0, used = 0;
  cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved);
  cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used);
  m.reserved = std::size_t(reserved), m.used = std::size_t(used);
  return m;
}

}  // namespace kalmanscan::filters::gpu
