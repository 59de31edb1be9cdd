// Adapters between the engine's operator contract and CUB, and the array leaf/sink functors.
// Only for code compiled by nvcc.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "kalmanscan/scan/operator.hpp"

namespace kalmanscan::scan::cuda {

/// CUB's scan calls op(accumulated, next). Forward, the accumulated prefix is earlier in
/// time; in a reverse scan it is later, so the arguments are swapped back into time order.
template <class Op, bool Reverse>
struct TimeOrderCombine {
  __host__ __device__ element_t<Op> operator()(const element_t<Op>& acc, const element_t<Op>& next) const {
    if constexpr (Reverse)
      return Op::combine(next, acc);
    else
      return Op::combine(acc, next);
  }
};

/// Leaf functor reading element (b, i) of a uniform batch from a device array.
template <class Op>
struct ArrayLeaf {
  const element_t<Op>* data;
  std::size_t length;
  __host__ __device__ element_t<Op> operator()(std::size_t b, std::size_t i) const { return data[b * length + i]; }
};

/// Sink functor writing prefix (b, i) of a uniform batch to a device array.
template <class Op>
struct ArraySink {
  element_t<Op>* data;
  std::size_t length;
  __host__ __device__ void operator()(std::size_t b, std::size_t i, const element_t<Op>& v) const {
    data[b * length + i] = v;
  }
};

}  // namespace kalmanscan::scan::cuda
