// Device scan for small elements (up to a few dozen bytes), single pass with decoupled
// look-back: the engine's own kernel (lookback_scan.cuh) for one sequence or sequences of at
// least half a tile, one chain of tiles per sequence; CUB's InclusiveScanByKey (key = sequence
// index) for batches of short sequences, with leaves read through a transform iterator and
// prefixes handed to the sink through a tabulate output iterator. Nothing but tile states is
// stored.
#pragma once

#include <cub/device/device_scan.cuh>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/tabulate_output_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include <cstdint>

#include "kalmanscan/scan/cuda/adapters.cuh"
#include "kalmanscan/scan/cuda/lookback_scan.cuh"

namespace kalmanscan::scan::cuda::detail {

/// Division by a fixed divisor without the GPU's slow 64-bit divide: q = ⌊x/d⌋ from the high
/// half of x·m with m = ⌊(2⁶⁴−1)/d⌋, which undershoots by at most 2, then corrected.
struct FastDivider {
  std::uint64_t d = 1, m = 0;
  FastDivider() = default;
  explicit FastDivider(std::uint64_t divisor) : d(divisor), m(divisor > 1 ? ~std::uint64_t(0) / divisor : 0) {}
  __host__ __device__ void divmod(std::uint64_t x, std::uint64_t& q, std::uint64_t& r) const {
    if (d == 1) {
      q = x, r = 0;
      return;
    }
#if defined(__CUDA_ARCH__)
    q = __umul64hi(x, m);
#else
    q = std::uint64_t((unsigned __int128)x * m >> 64);
#endif
    r = x - q * d;
    while (r >= d) ++q, r -= d;
  }
};

/// Scan position j → (sequence b, index i): positions run in scan order (reversed for reverse scans).
struct ScanPosition {
  std::size_t length, total;
  bool reverse;
  FastDivider by_length;
  ScanPosition(std::size_t length_, std::size_t total_, bool reverse_)
      : length(length_), total(total_), reverse(reverse_), by_length(length_ == total_ ? 1 : length_) {}
  __host__ __device__ void locate(std::size_t j, std::size_t& b, std::size_t& i) const {
    const std::uint64_t flat = reverse ? total - 1 - j : j;
    if (length == total) {  // one sequence
      b = 0, i = flat;
      return;
    }
    std::uint64_t q, r;
    by_length.divmod(flat, q, r);
    b = q, i = r;
  }
  /// True at the first position, in scan order, of a sequence (where the carry-in enters).
  __host__ __device__ bool first(std::size_t i) const { return reverse ? i + 1 == length : i == 0; }
  /// True at the last position, in scan order, of a sequence (where the carry-out leaves).
  __host__ __device__ bool last(std::size_t i) const { return reverse ? i == 0 : i + 1 == length; }
};

template <class Op, class Leaf>
struct LeafAtPosition {
  Leaf leaf;
  ScanPosition pos;
  const element_t<Op>* carry_in;  // batch elements or null
  __host__ __device__ element_t<Op> operator()(std::size_t j) const {
    std::size_t b, i;
    pos.locate(j, b, i);
    element_t<Op> x = leaf(b, i);
    if (carry_in && pos.first(i)) x = pos.reverse ? Op::combine(x, carry_in[b]) : Op::combine(carry_in[b], x);
    return x;
  }
};

template <class Op, class Sink>
struct SinkAtPosition {
  Sink sink;
  ScanPosition pos;
  element_t<Op>* carry_out;  // batch elements or null
  template <class Index>
  __host__ __device__ void operator()(Index j, const element_t<Op>& v) const {
    std::size_t b, i;
    pos.locate(static_cast<std::size_t>(j), b, i);
    sink(b, i, v);
    if (carry_out && pos.last(i)) carry_out[b] = v;
  }
};

struct SequenceOfPosition {
  ScanPosition pos;
  __host__ __device__ std::size_t operator()(std::size_t j) const {
    std::size_t b, i;
    pos.locate(j, b, i);
    return b;
  }
};

template <class Op, bool Reverse, class Leaf, class Sink>
cudaError_t small_scan_dir(void* d_temp, std::size_t& temp_bytes, Leaf leaf, Sink sink, std::size_t batch,
                           std::size_t length, const element_t<Op>* d_carry_in, element_t<Op>* d_carry_out,
                           cudaStream_t stream) {
  if (lookback_suits<Op>(batch, length))
    return lookback_scan<Op, Reverse>(d_temp, temp_bytes, leaf, sink, batch, length, d_carry_in, d_carry_out, stream);
  const ScanPosition pos(length, batch * length, Reverse);
  auto values = thrust::make_transform_iterator(thrust::counting_iterator<std::size_t>(0),
                                                LeafAtPosition<Op, Leaf>{leaf, pos, d_carry_in});
  auto out = thrust::make_tabulate_output_iterator(SinkAtPosition<Op, Sink>{sink, pos, d_carry_out});
  const unsigned long long n = batch * length;
  auto keys = thrust::make_transform_iterator(thrust::counting_iterator<std::size_t>(0), SequenceOfPosition{pos});
  return cub::DeviceScan::InclusiveScanByKey(d_temp, temp_bytes, keys, values, out, TimeOrderCombine<Op, Reverse>{},
                                             n, ::cuda::std::equal_to<>{}, stream);
}

/// CUB-style: with d_temp == nullptr only sets temp_bytes. Requires batch·length > 0.
template <class Op, class Leaf, class Sink>
cudaError_t small_scan(void* d_temp, std::size_t& temp_bytes, Leaf leaf, Sink sink, std::size_t batch,
                       std::size_t length, Direction dir, const element_t<Op>* d_carry_in,
                       element_t<Op>* d_carry_out, cudaStream_t stream) {
  if (dir == Direction::reverse)
    return small_scan_dir<Op, true>(d_temp, temp_bytes, leaf, sink, batch, length, d_carry_in, d_carry_out, stream);
  return small_scan_dir<Op, false>(d_temp, temp_bytes, leaf, sink, batch, length, d_carry_in, d_carry_out, stream);
}

}  // namespace kalmanscan::scan::cuda::detail
