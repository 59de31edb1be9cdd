// Device scan for large elements (the filters' (A, b, C, η, J) is 3n² + 2n numbers): CUB's
// device scan keeps whole elements in registers and shared memory, which spills and runs out
// of shared memory for such types (DESIGN.md §2). Instead each thread runs a chunk of
// `chunk` consecutive elements sequentially:
//   1. reduce:  thread (b, c) folds its chunk into an aggregate (aggs[b][c], scratch);
//   2. the aggregates of each sequence are scanned by the same method, recursively (with the
//      caller's carry-in and carry-out), until one chunk covers a sequence;
//   3. apply:   thread (b, c) rescans its chunk from the carry of the chunks before it (after
//      it, for reverse scans) and hands each prefix to the sink.
// Work is O(n) combines (two per element), memory traffic two reads of the leaves and one
// write; elements live in thread-local memory, never in shared memory.
#pragma once

#include <algorithm>

#include "kalmanscan/scan/cuda/adapters.cuh"

namespace kalmanscan::scan::cuda::detail {

inline constexpr std::size_t chunked_block_threads = 128;

/// Elements per thread: larger chunks for small elements (fewer levels), smaller for large ones
/// (more threads in flight, less local memory per thread).
template <class Op>
constexpr std::size_t chunk_length() {
  return sizeof(element_t<Op>) <= 64 ? 32 : 16;
}

inline std::size_t div_up(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

template <class Op, class Leaf>
__global__ void chunk_reduce_kernel(Leaf leaf, std::size_t batch, std::size_t length, std::size_t chunk,
                                    std::size_t chunks, element_t<Op>* aggs) {
  const std::size_t g = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g >= batch * chunks) return;
  const std::size_t b = g / chunks, c = g - b * chunks;
  const std::size_t lo = c * chunk, hi = lo + chunk < length ? lo + chunk : length;
  element_t<Op> acc = leaf(b, lo);
  for (std::size_t i = lo + 1; i < hi; ++i) acc = Op::combine(acc, leaf(b, i));
  aggs[g] = acc;
}

/// Rescans chunk (b, c) from its carry: the scanned aggregates of the neighbouring chunk
/// (`scanned_aggs`, null when one chunk covers the sequence) or the carry-in at the sequence's end.
template <class Op, class Leaf, class Sink>
__global__ void chunk_apply_kernel(Leaf leaf, Sink sink, std::size_t batch, std::size_t length, std::size_t chunk,
                                   std::size_t chunks, bool reverse, const element_t<Op>* scanned_aggs,
                                   const element_t<Op>* carry_in, element_t<Op>* carry_out) {
  const std::size_t g = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g >= batch * chunks) return;
  const std::size_t b = g / chunks, c = g - b * chunks;
  const std::size_t lo = c * chunk, hi = lo + chunk < length ? lo + chunk : length;
  const bool edge = reverse ? c + 1 == chunks : c == 0;  // first chunk in scan order
  const element_t<Op>* carry = edge ? (carry_in ? carry_in + b : nullptr) : scanned_aggs + (reverse ? g + 1 : g - 1);
  element_t<Op> acc;
  if (!reverse) {
    acc = carry ? Op::combine(*carry, leaf(b, lo)) : leaf(b, lo);
    sink(b, lo, acc);
    for (std::size_t i = lo + 1; i < hi; ++i) {
      acc = Op::combine(acc, leaf(b, i));
      sink(b, i, acc);
    }
  } else {
    acc = carry ? Op::combine(leaf(b, hi - 1), *carry) : leaf(b, hi - 1);
    sink(b, hi - 1, acc);
    for (std::size_t i = hi - 1; i-- > lo;) {
      acc = Op::combine(leaf(b, i), acc);
      sink(b, i, acc);
    }
  }
  if (carry_out && chunks == 1) carry_out[b] = acc;
}

template <class Op>
__global__ void copy_carries_kernel(std::size_t batch, const element_t<Op>* carry_in, element_t<Op>* carry_out) {
  const std::size_t b = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b < batch) carry_out[b] = carry_in ? carry_in[b] : Op::identity();
}

/// Scratch for all levels of the recursion, in elements.
template <class Op>
std::size_t chunked_scratch_elements(std::size_t batch, std::size_t length) {
  std::size_t total = 0;
  for (std::size_t chunks = div_up(length, chunk_length<Op>()); chunks > 1; chunks = div_up(chunks, chunk_length<Op>()))
    total += batch * chunks;
  return total;
}

inline unsigned chunked_grid(std::size_t threads) {
  return static_cast<unsigned>(div_up(threads, chunked_block_threads));
}

/// Requires batch·length > 0 and d_scratch sized by chunked_scratch_elements.
template <class Op, class Leaf, class Sink>
cudaError_t chunked_scan(Leaf leaf, Sink sink, std::size_t batch, std::size_t length, Direction dir,
                         const element_t<Op>* d_carry_in, element_t<Op>* d_carry_out, element_t<Op>* d_scratch,
                         cudaStream_t stream) {
  const std::size_t chunk = chunk_length<Op>();
  const std::size_t chunks = div_up(length, chunk);
  const bool reverse = dir == Direction::reverse;
  const unsigned grid = chunked_grid(batch * chunks);
  if (chunks == 1) {
    chunk_apply_kernel<Op><<<grid, chunked_block_threads, 0, stream>>>(leaf, sink, batch, length, chunk, 1, reverse,
                                                                       nullptr, d_carry_in, d_carry_out);
    return cudaGetLastError();
  }
  element_t<Op>* aggs = d_scratch;
  chunk_reduce_kernel<Op><<<grid, chunked_block_threads, 0, stream>>>(leaf, batch, length, chunk, chunks, aggs);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  // Scan the aggregates in place: one level up, with the caller's carries.
  if (cudaError_t e = chunked_scan<Op>(ArrayLeaf<Op>{aggs, chunks}, ArraySink<Op>{aggs, chunks}, batch, chunks, dir,
                                       d_carry_in, d_carry_out, aggs + batch * chunks, stream);
      e != cudaSuccess)
    return e;
  chunk_apply_kernel<Op><<<grid, chunked_block_threads, 0, stream>>>(leaf, sink, batch, length, chunk, chunks, reverse,
                                                                     aggs, d_carry_in, nullptr);
  return cudaGetLastError();
}

}  // namespace kalmanscan::scan::cuda::detail
