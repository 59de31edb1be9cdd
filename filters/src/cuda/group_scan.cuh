// An in-place inclusive scan of run-time-sized elements stored in device memory, one thread
// block per combine (group_elements.cuh): the engine's chunked method (scan/cuda/chunked_scan.cuh)
// with a block in place of a thread, because an element of size n <= 32 (up to 3n² + 2n + 1
// values) is far too large for one thread's registers but a block combines it in shared memory.
//   1. reduce: block c folds chunk c (chunk_elements consecutive elements) into aggs[c];
//   2. the aggregates are scanned the same way, recursively, with the caller's carry-in;
//   3. apply:  block c rescans its chunk from the carry of the chunks before it (after it, for
//              reverse scans), overwriting each element with its prefix (suffix).
// Op: size(n), scratch(n) (values of C) and a block-collective combine(ei, ej, out, tmp, n).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "group_elements.cuh"

namespace kalmanscan::filters::gpu::group {

/// Threads per block for state size n: one warp for small n, more where the n × n products
/// and eliminations have work for them (the combine's latency is the scan's critical path).
inline unsigned group_threads(int n) { return n <= 8 ? 32 : n <= 16 ? 64 : 128; }

/// Elements per block and level: short chunks keep the critical path (2 · chunk combines per
/// level) short for the small T that large states come with.
inline constexpr std::size_t chunk_elements = 8;

inline std::size_t div_up(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

/// Dynamic shared memory of the reduce/apply kernels: two elements (accumulator and result)
/// and the combine's scratch.
template <class Op>
std::size_t scan_shared_bytes(int n) {
  return std::size_t(2 * Op::size(n) + Op::scratch(n)) * sizeof(typename Op::value_type);
}

template <class Op, class C>
__global__ void group_reduce_kernel(const C* elems, std::size_t count, std::size_t chunk, C* aggs, int n) {
  extern __shared__ unsigned char smem[];
  const int size = Op::size(n);
  C *acc = reinterpret_cast<C*>(smem), *out = acc + size, *tmp = out + size;
  const std::size_t c = blockIdx.x, lo = c * chunk, hi = lo + chunk < count ? lo + chunk : count;
  copy(acc, elems + lo * size, size);
  for (std::size_t i = lo + 1; i < hi; ++i) {
    Op::combine(acc, elems + i * size, out, tmp, n);
    C* t = acc;
    acc = out, out = t;
  }
  copy(aggs + c * size, acc, size);
}

template <class Op, class C>
__global__ void group_apply_kernel(C* elems, std::size_t count, std::size_t chunk, std::size_t chunks, bool reverse,
                                  const C* scanned_aggs, const C* carry_in, int n) {
  extern __shared__ unsigned char smem[];
  const int size = Op::size(n);
  C *acc = reinterpret_cast<C*>(smem), *out = acc + size, *tmp = out + size;
  const std::size_t c = blockIdx.x, lo = c * chunk, hi = lo + chunk < count ? lo + chunk : count;
  const bool edge = reverse ? c + 1 == chunks : c == 0;  // first chunk in scan order
  const C* carry = edge ? carry_in : scanned_aggs + (reverse ? c + 1 : c - 1) * size;
  const std::size_t first = reverse ? hi - 1 : lo;
  if (carry) {
    if (reverse)
      Op::combine(elems + first * size, carry, acc, tmp, n);
    else
      Op::combine(carry, elems + first * size, acc, tmp, n);
    copy(elems + first * size, acc, size);
  } else {
    copy(acc, elems + first * size, size);
  }
  for (std::size_t k = 1; k < hi - lo; ++k) {
    const std::size_t i = reverse ? hi - 1 - k : lo + k;
    if (reverse)
      Op::combine(elems + i * size, acc, out, tmp, n);
    else
      Op::combine(acc, elems + i * size, out, tmp, n);
    C* t = acc;
    acc = out, out = t;
    copy(elems + i * size, acc, size);
  }
}

/// Values of scratch the scan needs for `count` elements (all recursion levels).
template <class Op>
std::size_t group_scan_scratch(std::size_t count, int n) {
  std::size_t total = 0;
  for (std::size_t chunks = div_up(count, chunk_elements); chunks > 1; chunks = div_up(chunks, chunk_elements))
    total += chunks;
  return total * std::size_t(Op::size(n));
}

/// Scans `count` > 0 elements in place (forward: prefixes carry_in ∘ e_0 ∘ … ∘ e_i; reverse:
/// suffixes e_i ∘ … ∘ e_{count-1} ∘ carry_in); carry_in may be null. Asynchronous on `stream`.
template <class Op, class C>
cudaError_t group_scan(C* elems, std::size_t count, bool reverse, const C* carry_in, C* scratch, int n,
                      cudaStream_t stream) {
  const std::size_t chunks = div_up(count, chunk_elements), smem = scan_shared_bytes<Op>(n);
  if (cudaError_t e = cudaFuncSetAttribute(group_reduce_kernel<Op, C>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           int(smem));
      e != cudaSuccess)
    return e;
  if (cudaError_t e = cudaFuncSetAttribute(group_apply_kernel<Op, C>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           int(smem));
      e != cudaSuccess)
    return e;
  if (chunks > 1) {
    group_reduce_kernel<Op, C><<<unsigned(chunks), group_threads(n), smem, stream>>>(elems, count, chunk_elements, scratch, n);
    if (cudaError_t e = group_scan<Op, C>(scratch, chunks, reverse, carry_in, scratch + chunks * Op::size(n), n, stream);
        e != cudaSuccess)
      return e;
  }
  group_apply_kernel<Op, C><<<unsigned(chunks), group_threads(n), smem, stream>>>(elems, count, chunk_elements, chunks, reverse,
                                                                  scratch, carry_in, n);
  return cudaGetLastError();
}

}  // namespace kalmanscan::filters::gpu::group
