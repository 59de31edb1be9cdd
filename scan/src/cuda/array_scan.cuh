// Definitions of the host-facing array scans declared in gpu.hpp, for explicit instantiation.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "kalmanscan/scan/cuda/device_scan.cuh"
#include "kalmanscan/scan/gpu.hpp"

namespace kalmanscan::scan::gpu {

inline Status to_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return {};
  return {int(e), std::string("CUDA error in ") + what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")"};
}

template <ScanOperator Op>
Status scan_scratch_bytes(std::size_t batch, std::size_t length, std::size_t& bytes) {
  bytes = 0;
  return to_status(cuda::device_scan<Op>(nullptr, bytes, cuda::ArrayLeaf<Op>{nullptr, length},
                                         cuda::ArraySink<Op>{nullptr, length}, batch, length, Direction::forward,
                                         nullptr, nullptr, nullptr),
                   "scan_scratch_bytes");
}

template <ScanOperator Op>
Status scan(const element_t<Op>* d_in, element_t<Op>* d_out, std::size_t batch, std::size_t length, Direction dir,
            const element_t<Op>* d_carry_in, element_t<Op>* d_carry_out, void* d_scratch, std::size_t scratch_bytes,
            void* stream) {
  if (batch * length > 0 && (!d_in || !d_out)) return {int(cudaErrorInvalidValue), "gpu::scan: null input or output"};
  if (!d_scratch) return {int(cudaErrorInvalidValue), "gpu::scan: null scratch (query scan_scratch_bytes first)"};
  // Each thread reads leaf (b, i) before writing prefix (b, i), and no other thread reads it
  // afterwards, so d_out may alias d_in.
  return to_status(cuda::device_scan<Op>(d_scratch, scratch_bytes, cuda::ArrayLeaf<Op>{d_in, length},
                                         cuda::ArraySink<Op>{d_out, length}, batch, length, dir, d_carry_in,
                                         d_carry_out, static_cast<cudaStream_t>(stream)),
                   "gpu::scan");
}

/// Device buffer freed on scope exit.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(ptr_); }
  cudaError_t allocate(std::size_t bytes) { return cudaMalloc(&ptr_, bytes ? bytes : 1); }
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
};

template <ScanOperator Op>
Status scan_host_arrays(const element_t<Op>* h_in, element_t<Op>* h_out, std::size_t batch, std::size_t length,
                        Direction dir, const element_t<Op>* h_carry_in, element_t<Op>* h_carry_out) {
  using E = element_t<Op>;
  const std::size_t n = batch * length, bytes = n * sizeof(E), carry_bytes = batch * sizeof(E);
  std::size_t scratch_bytes = 0;
  if (Status s = scan_scratch_bytes<Op>(batch, length, scratch_bytes); !s.ok()) return s;
  DeviceBuffer data, cin, cout, scratch;
  if (cudaError_t e = data.allocate(bytes); e != cudaSuccess) return to_status(e, "scan_host_arrays (allocate data)");
  if (cudaError_t e = scratch.allocate(scratch_bytes); e != cudaSuccess)
    return to_status(e, "scan_host_arrays (allocate scratch)");
  if (h_carry_in) {
    if (cudaError_t e = cin.allocate(carry_bytes); e != cudaSuccess) return to_status(e, "scan_host_arrays (allocate)");
    if (cudaError_t e = cudaMemcpy(cin.get(), h_carry_in, carry_bytes, cudaMemcpyHostToDevice); e != cudaSuccess)
      return to_status(e, "scan_host_arrays (copy carry in)");
  }
  if (h_carry_out)
    if (cudaError_t e = cout.allocate(carry_bytes); e != cudaSuccess) return to_status(e, "scan_host_arrays (allocate)");
  if (cudaError_t e = cudaMemcpy(data.get(), h_in, bytes, cudaMemcpyHostToDevice); e != cudaSuccess)
    return to_status(e, "scan_host_arrays (copy in)");
  E* d = static_cast<E*>(data.get());
  if (Status s = scan<Op>(d, d, batch, length, dir, static_cast<const E*>(cin.get()), static_cast<E*>(cout.get()),
                          scratch.get(), scratch_bytes, nullptr);
      !s.ok())
    return s;
  if (cudaError_t e = cudaMemcpy(h_out, d, bytes, cudaMemcpyDeviceToHost); e != cudaSuccess)
    return to_status(e, "scan_host_arrays (copy out)");
  if (h_carry_out)
    if (cudaError_t e = cudaMemcpy(h_carry_out, cout.get(), carry_bytes, cudaMemcpyDeviceToHost); e != cudaSuccess)
      return to_status(e, "scan_host_arrays (copy carry out)");
  return {};
}

}  // namespace kalmanscan::scan::gpu

/// Explicitly instantiates the three array entry points of gpu.hpp for one operator.
#define KALMANSCAN_INSTANTIATE_GPU_ARRAY_SCAN(...)                                                              \
  template kalmanscan::scan::Status kalmanscan::scan::gpu::scan_scratch_bytes<__VA_ARGS__>(                   \
      std::size_t, std::size_t, std::size_t&);                                                                 \
  template kalmanscan::scan::Status kalmanscan::scan::gpu::scan<__VA_ARGS__>(                                 \
      const kalmanscan::scan::element_t<__VA_ARGS__>*, kalmanscan::scan::element_t<__VA_ARGS__>*, std::size_t, \
      std::size_t, kalmanscan::scan::Direction, const kalmanscan::scan::element_t<__VA_ARGS__>*,              \
      kalmanscan::scan::element_t<__VA_ARGS__>*, void*, std::size_t, void*);                                  \
  template kalmanscan::scan::Status kalmanscan::scan::gpu::scan_host_arrays<__VA_ARGS__>(                     \
      const kalmanscan::scan::element_t<__VA_ARGS__>*, kalmanscan::scan::element_t<__VA_ARGS__>*, std::size_t, \
      std::size_t, kalmanscan::scan::Direction, const kalmanscan::scan::element_t<__VA_ARGS__>*,              \
      kalmanscan::scan::element_t<__VA_ARGS__>*)
