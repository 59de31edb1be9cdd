// The engine's GPU scan with device functors: include from .cu files only.
//
//   namespace ksc = kalmanscan::scan::cuda;
//   std::size_t bytes = 0;
//   ksc::device_scan<Op>(nullptr, bytes, leaf, sink, batch, length, dir, d_cin, d_cout, stream);  // size query
//   ... allocate `bytes` of device memory as d_temp ...
//   cudaError_t e = ksc::device_scan<Op>(d_temp, bytes, leaf, sink, batch, length, dir, d_cin, d_cout, stream);
//
// leaf:  a copyable device functor   element_t<Op> operator()(std::size_t b, std::size_t i) const
// sink:  a copyable device functor   void operator()(std::size_t b, std::size_t i, const element_t<Op>&) const
// Sequence b has `length` elements; the sink receives every inclusive prefix (suffix for a reverse
// scan) exactly once, from any thread, in any order. Leaves may be evaluated more than once.
// d_carry_in / d_carry_out: `batch` device elements each, or null (operator.hpp gives their meaning).
// Asynchronous on `stream`; returns the first CUDA error (launch or configuration), never aborts.
// Strategy (DESIGN.md §2): elements up to small_element_bytes go through CUB's single-pass scans;
// larger ones through the chunked kernel (chunked_scan.cuh).
#pragma once

#include "kalmanscan/scan/cuda/chunked_scan.cuh"
#include "kalmanscan/scan/cuda/small_scan.cuh"

namespace kalmanscan::scan::cuda {

inline constexpr std::size_t small_element_bytes = 32;

template <class Op>
inline constexpr bool uses_cub = sizeof(element_t<Op>) <= small_element_bytes;

template <ScanOperator Op, class Leaf, class Sink>
cudaError_t device_scan(void* d_temp, std::size_t& temp_bytes, Leaf leaf, Sink sink, std::size_t batch,
                        std::size_t length, Direction dir, const element_t<Op>* d_carry_in,
                        element_t<Op>* d_carry_out, cudaStream_t stream) {
  if (batch == 0) {
    if (!d_temp) temp_bytes = 1;
    return cudaSuccess;
  }
  if (length == 0) {  // nothing to scan: the carry passes through
    if (!d_temp) {
      temp_bytes = 1;
      return cudaSuccess;
    }
    if (d_carry_out) {
      detail::copy_carries_kernel<Op><<<detail::chunked_grid(batch), detail::chunked_block_threads, 0, stream>>>(
          batch, d_carry_in, d_carry_out);
      return cudaGetLastError();
    }
    return cudaSuccess;
  }
  if constexpr (uses_cub<Op>) {
    return detail::small_scan<Op>(d_temp, temp_bytes, leaf, sink, batch, length, dir, d_carry_in, d_carry_out, stream);
  } else {
    const std::size_t need = detail::chunked_scratch_elements<Op>(batch, length) * sizeof(element_t<Op>) + 1;
    if (!d_temp) {
      temp_bytes = need;
      return cudaSuccess;
    }
    if (temp_bytes < need) return cudaErrorInvalidValue;
    return detail::chunked_scan<Op>(leaf, sink, batch, length, dir, d_carry_in, d_carry_out,
                                    static_cast<element_t<Op>*>(d_temp), stream);
  }
}

}  // namespace kalmanscan::scan::cuda
