// The scan of the group path: prefixes (forward) or suffixes (reverse) of run-time-sized
// elements in device memory (group_elements.cuh), one thread block per combine, written out as
// means and covariances. Three phases, chosen for a short critical path at the small T that
// large states come with and for little work at large T:
//   1. reduce: the elements are cut into `chunks` runs of `length`, as many runs as one wave of
//      blocks holds; block c folds run c into its aggregate (length − 1 combines in sequence);
//   2. a Kogge–Stone scan of the aggregates (with the carry-in as one more entry): ⌈log₂⌉ levels
//      of one combine per block, ping-ponging between two lists;
//   3. apply: block c extends the settled prefix (suffix) before its run by each of the run's
//      elements in turn (Op::extend, the cheap combine) and writes each step's mean and
//      covariance, converted to the storage type, noting the first step that failed.
// At T = 1000 and n = 20 this is 1 + 9 combines and 2 extensions on the critical path (the
// chunked tree it replaced had ~47 combines).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

#include "device_buffers.cuh"
#include "group_elements.cuh"

namespace kalmanscan::filters::gpu::group {

/// Threads per block for state size n: more where the n × n products and eliminations have work
/// for them (a combine's latency is the scan's critical path).
inline unsigned group_threads(int n) { return n <= 6 ? 64 : n <= 16 ? 128 : 256; }

/// Launch bounds of every group-path kernel: up to 256 threads, registers capped so that four
/// blocks fit on a multiprocessor (unbounded, the fold of phase 1 took 152 registers: one block).
#define KALMANSCAN_GROUP_BOUNDS __launch_bounds__(256, 4)

inline std::size_t div_up(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

/// Dynamic shared memory of every group-path kernel: three elements (operands and result) and
/// the op's scratch.
template <class Op>
std::size_t shared_bytes(int n) {
  return std::size_t(3 * Op::size(n) + Op::scratch(n)) * sizeof(typename Op::value_type);
}

/// Phase 1: list[c] = aggregate of elements [c · length, (c + 1) · length) (clipped to count).
template <class Op, class C>
__global__ void KALMANSCAN_GROUP_BOUNDS reduce_kernel(const C* elems, std::size_t count, std::size_t length, C* list,
                                                      int n) {
  extern __shared__ unsigned char smem[];
  const int size = Op::size(n);
  C *acc = reinterpret_cast<C*>(smem), *next = acc + size, *out = next + size, *tmp = out + size;
  const std::size_t c = blockIdx.x, lo = c * length, hi = std::min(lo + length, count);
  copy(acc, elems + lo * size, size);
  for (std::size_t i = lo + 1; i < hi; ++i) {
    copy(next, elems + i * size, size);
    Op::combine(acc, next, out, tmp, n);
    C* t = acc;
    acc = out, out = t;
  }
  copy(list + c * size, acc, size);
}

/// Phase 2, one level at distance d over `entries` entries: dst[i] = src[i − d] ∘ src[i] (forward)
/// or src[i] ∘ src[i + d] (reverse) where that partner exists, else dst[i] = src[i] (block i).
template <class Op, class C>
__global__ void KALMANSCAN_GROUP_BOUNDS kogge_stone_kernel(const C* src, C* dst, std::size_t entries, std::size_t d,
                                                           int n) {
  extern __shared__ unsigned char smem[];
  const int size = Op::size(n);
  C *earlier = reinterpret_cast<C*>(smem), *later = earlier + size, *tmp = later + size;
  const std::size_t i = blockIdx.x;
  if (Op::reverse ? i + d >= entries : i < d) {
    copy(dst + i * size, src + i * size, size);
    return;
  }
  const std::size_t first = Op::reverse ? i : i - d;  // the earlier operand
  copy(earlier, src + first * size, size);
  copy(later, src + (first + d) * size, size);
  Op::combine(earlier, later, dst + i * size, tmp, n);
}

/// Phase 3: block c extends the settled entry before run c in scan order (scanned[c + offset −
/// 1] forward, scanned[c + offset + 1] reverse; none at the start of a sequence without a carry,
/// where the run's first element is itself settled) by the run's elements, writing each step's
/// mean and covariance and atomically lowering *failed to the first step that failed (flag set,
/// or a value not finite in S).
template <class Op, class S, class C>
__global__ void KALMANSCAN_GROUP_BOUNDS apply_kernel(const C* elems, std::size_t count, std::size_t length,
                                                     const C* scanned, std::size_t entries, std::size_t offset, S* mean,
                                                     S* cov, unsigned long long* failed, int n) {
  extern __shared__ unsigned char smem[];
  const int size = Op::size(n), nn = n * n;
  C *acc = reinterpret_cast<C*>(smem), *next = acc + size, *out = next + size, *tmp = out + size;
  const std::size_t c = blockIdx.x, lo = c * length, hi = std::min(lo + length, count), entry = c + offset;
  const bool before = Op::reverse ? entry + 1 < entries : entry > 0;
  if (before) copy(acc, scanned + (Op::reverse ? entry + 1 : entry - 1) * size, size);
  for (std::size_t k = 0; k < hi - lo; ++k) {
    const std::size_t t = Op::reverse ? hi - 1 - k : lo + k;
    if (before || k > 0) {
      copy(next, elems + t * size, size);
      Op::extend(acc, next, out, tmp, n);
      C* swap = acc;
      acc = out, out = swap;
    } else {
      copy(acc, elems + t * size, size);
    }
    bool bad = rank() == 0 && Op::failed_at(n) >= 0 && acc[Op::failed_at(n)] != C(0);
    for (int k2 = rank(); k2 < n + nn; k2 += stride()) {
      const S v = S(acc[nn + k2]);
      if (k2 < n)
        mean[t * n + k2] = v;
      else
        cov[t * nn + (k2 - n)] = v;
      bad = bad || !isfinite(v);
    }
    if (__syncthreads_or(bad) && rank() == 0) atomicMin(failed, (unsigned long long)t);
  }
}

/// A posterior N(m, P) as the op's settled element: a continued filter's carry-in, a chunk's
/// smoother carry-in (one block).
template <class Op, class S, class C>
__global__ void posterior_kernel(const S* m, const S* P, C* e, int n) {
  Op::posterior_nosync(m, P, e, n);
}

template <class Kernel>
cudaError_t allow_shared(Kernel kernel, std::size_t bytes) {
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
}

/// Scans the `count` > 0 elements `elems` (with the settled carry-in element `carry`, or null)
/// and writes every step's mean and covariance in S; *failed is lowered to the first step that
/// failed. Asynchronous on `stream`; scratch from `buf`.
template <class Op, class S, class C>
cudaError_t scan_to_outputs(const C* elems, std::size_t count, const C* carry, int n, S* mean, S* cov,
                            unsigned long long* failed, DeviceBuffers& buf, cudaStream_t stream) {
  const unsigned threads = group_threads(n);
  const std::size_t smem = shared_bytes<Op>(n), size = std::size_t(Op::size(n));
  for (cudaError_t e : {allow_shared(reduce_kernel<Op, C>, smem), allow_shared(kogge_stone_kernel<Op, C>, smem),
                        allow_shared(apply_kernel<Op, S, C>, smem)})
    if (e != cudaSuccess) return e;
  // As many runs as one wave of blocks holds.
  int device = 0, sms = 0, per_sm = 0;
  if (cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
  if (cudaError_t e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device); e != cudaSuccess) return e;
  if (cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, reduce_kernel<Op, C>, int(threads), smem);
      e != cudaSuccess)
    return e;
  const std::size_t wave = std::size_t(std::max(1, sms * per_sm));
  const std::size_t length = div_up(count, wave), chunks = div_up(count, length);
  // The list of phase 2: [carry, aggregates] forward, [aggregates, carry] reverse.
  const std::size_t entries = chunks + (carry ? 1 : 0), offset = carry && !Op::reverse ? 1 : 0;
  C* list = buf.alloc<C>(entries * size);
  C* other = entries > 1 ? buf.alloc<C>(entries * size) : nullptr;
  if (!buf.ok()) return buf.error();
  if (carry)
    if (cudaError_t e = cudaMemcpyAsync(list + (Op::reverse ? chunks : 0) * size, carry, size * sizeof(C),
                                        cudaMemcpyDeviceToDevice, stream);
        e != cudaSuccess)
      return e;
  if (entries > 1)
    reduce_kernel<Op, C><<<unsigned(chunks), threads, smem, stream>>>(elems, count, length, list + offset * size, n);
  for (std::size_t d = 1; d < entries; d *= 2) {
    kogge_stone_kernel<Op, C><<<unsigned(entries), threads, smem, stream>>>(list, other, entries, d, n);
    std::swap(list, other);
  }
  apply_kernel<Op, S, C><<<unsigned(chunks), threads, smem, stream>>>(elems, count, length, list, entries, offset, mean,
                                                                      cov, failed, n);
  return cudaGetLastError();
}

}  // namespace kalmanscan::filters::gpu::group
