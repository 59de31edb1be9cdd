// The parallel filter and smoother for a run-time state size n <= 32 on device arrays (the
// path for sizes without a compiled fast path): a map kernel builds every step's element (one
// block per step, inputs converted from the storage type S to the arithmetic type C), the group
// scan turns them into prefixes in place, and a last map copies means and covariances out.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

#include "device_buffers.cuh"
#include "gpu.hpp"
#include "kalmanscan/filters/parallel_elements.hpp"
#include "group_scan.cuh"

namespace kalmanscan::filters::gpu::group {

/// Blocks of 256 threads for a grid-stride loop over `threads` items.
inline unsigned grid_for(std::size_t threads) { return unsigned(std::min<std::size_t>(div_up(threads, 256), 1u << 20)); }

/// Element of step t = blockIdx.x (FilterWarpOp::element; the first of a fresh sequence from the prior).
template <class S, class C>
__global__ void filter_leaves_kernel(FilterProblem<S> p, C* elems, int n) {
  extern __shared__ unsigned char smem[];
  using Op = FilterWarpOp<C>;
  const int nn = n * n;
  C *F = reinterpret_cast<C*>(smem), *Q = F + nn, *c = Q + nn, *Psi = c + n, *psi = Psi + nn, *tmp = psi + n;
  const std::size_t t = blockIdx.x;
  const bool first = t == 0 && !p.continued;
  if (first) {
    for (int k = rank(); k < nn; k += stride()) F[k] = C(0);
    copy(Q, p.P, nn);
    copy(c, p.m, n);
  } else {
    const std::size_t j = p.into.invariant ? 0 : t;
    copy(F, p.into.F + j * nn, nn);
    copy(Q, p.into.Q + j * nn, nn);
    copy(c, p.into.c + j * n, n);
  }
  copy(Psi, p.Psi + (p.Psi_invariant ? 0 : t) * nn, nn);
  copy(psi, p.psi + t * n, n);
  C* e = elems + t * Op::size(n);
  Op::element(F, Q, c, Psi, psi, e, tmp, n);
  if (first) Op::make_first(e, n);
}

/// Element of step t = blockIdx.x (SmoothWarpOp::element; the last of a log is (0, m, P)).
template <class S, class C>
__global__ void smooth_leaves_kernel(SmoothProblem<S> p, C* elems, int n) {
  extern __shared__ unsigned char smem[];
  using Op = SmoothWarpOp<C>;
  const int nn = n * n;
  const std::size_t t = blockIdx.x;
  C* e = elems + t * Op::size(n);
  if (t + 1 == p.steps && !p.after_mean) {
    Op::carry(p.filtered_mean + t * n, p.filtered_cov + t * nn, e, n);
    return;
  }
  C *F = reinterpret_cast<C*>(smem), *Q = F + nn, *c = Q + nn, *m = c + n, *P = m + n, *tmp = P + nn;
  const std::size_t j = p.out.invariant ? 0 : t;
  copy(F, p.out.F + j * nn, nn);
  copy(Q, p.out.Q + j * nn, nn);
  copy(c, p.out.c + j * n, n);
  copy(m, p.filtered_mean + t * n, n);
  copy(P, p.filtered_cov + t * nn, nn);
  Op::element(F, Q, c, m, P, e, tmp, n, elements::smoother_pivot_tolerance<C>());
}

/// Carry elements: the filter's (0, m, P, 0, 0) or the smoother's (0, m, P) (one block).
template <class Op, class S, class C>
__global__ void carry_kernel(const S* m, const S* P, C* e, int n) {
  Op::carry(m, P, e, n);
}

/// Copies the mean (n values at `offset`) and covariance (n² values after it) of every prefix
/// out, converted to S; notes in *failed the first step whose values are not finite in S or
/// whose failed flag (at `failed_at`, negative: none) is set.
template <class S, class C>
__global__ void extract_kernel(const C* elems, std::size_t steps, int size, int offset, int failed_at, int n, S* mean,
                               S* cov, unsigned long long* failed) {
  const std::size_t per = std::size_t(n) + std::size_t(n) * n;
  for (std::size_t idx = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < steps * per;
       idx += std::size_t(gridDim.x) * blockDim.x) {
    const std::size_t t = idx / per, k = idx - t * per;
    const C* e = elems + t * size;
    const S v = S(e[offset + k]);
    if (k < std::size_t(n))
      mean[t * n + k] = v;
    else
      cov[t * n * n + (k - n)] = v;
    if (!isfinite(v) || (k == 0 && failed_at >= 0 && e[failed_at] != C(0))) atomicMin(failed, (unsigned long long)t);
  }
}

template <class S, class C>
cudaError_t filter(int n, const FilterProblem<S>& p, S* mean, S* cov, unsigned long long* d_failed,
                   cudaStream_t stream) {
  using Op = FilterWarpOp<C>;
  const int nn = n * n, size = Op::size(n);
  DeviceBuffers buf(stream);
  C* elems = buf.alloc<C>(p.steps * size);
  C* scratch = buf.alloc<C>(group_scan_scratch<Op>(p.steps, n) + 1);
  C* carry = p.continued ? buf.alloc<C>(size) : nullptr;
  if (!buf.ok()) return buf.error();
  const std::size_t leaf_smem = std::size_t(3 * nn + 2 * n + Op::scratch(n)) * sizeof(C);
  if (cudaError_t e = cudaFuncSetAttribute(filter_leaves_kernel<S, C>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           int(leaf_smem));
      e != cudaSuccess)
    return e;
  filter_leaves_kernel<S, C><<<unsigned(p.steps), group_threads(n), leaf_smem, stream>>>(p, elems, n);
  if (carry) carry_kernel<Op, S, C><<<1, 32, 0, stream>>>(p.m, p.P, carry, n);
  if (cudaError_t e = group_scan<Op>(elems, p.steps, false, carry, scratch, n, stream); e != cudaSuccess) return e;
  extract_kernel<S, C><<<grid_for(p.steps * (n + nn)), 256, 0, stream>>>(elems, p.steps, size, nn, Op::failed_at(n),
                                                                         n, mean, cov, d_failed);
  return cudaGetLastError();
}

template <class S, class C>
cudaError_t smooth(int n, const SmoothProblem<S>& p, S* mean, S* cov, unsigned long long* d_failed,
                   cudaStream_t stream) {
  using Op = SmoothWarpOp<C>;
  const int nn = n * n, size = Op::size(n);
  DeviceBuffers buf(stream);
  C* elems = buf.alloc<C>(p.steps * size);
  C* scratch = buf.alloc<C>(group_scan_scratch<Op>(p.steps, n) + 1);
  C* carry = p.after_mean ? buf.alloc<C>(size) : nullptr;
  if (!buf.ok()) return buf.error();
  const std::size_t leaf_smem = std::size_t(3 * nn + 2 * n + Op::scratch(n)) * sizeof(C);
  if (cudaError_t e = cudaFuncSetAttribute(smooth_leaves_kernel<S, C>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           int(leaf_smem));
      e != cudaSuccess)
    return e;
  smooth_leaves_kernel<S, C><<<unsigned(p.steps), group_threads(n), leaf_smem, stream>>>(p, elems, n);
  if (carry) carry_kernel<Op, S, C><<<1, 32, 0, stream>>>(p.after_mean, p.after_cov, carry, n);
  if (cudaError_t e = group_scan<Op>(elems, p.steps, true, carry, scratch, n, stream); e != cudaSuccess) return e;
  extract_kernel<S, C><<<grid_for(p.steps * (n + nn)), 256, 0, stream>>>(elems, p.steps, size, nn, -1, n, mean, cov,
                                                                         d_failed);
  return cudaGetLastError();
}

}  // namespace kalmanscan::filters::gpu::group
