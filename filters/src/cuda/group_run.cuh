// The parallel filter and smoother for a run-time state size n <= 32 on device arrays (the
// path for sizes without a compiled fast path): a map kernel builds every step's element (one
// block per step, inputs converted from the storage type S to the arithmetic type C), then the
// group scan (group_scan.cuh) turns them into prefixes (suffixes) and writes the means and
// covariances out.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "device_buffers.cuh"
#include "gpu.hpp"
#include "group_scan.cuh"
#include "kalmanscan/filters/parallel_elements.hpp"

namespace kalmanscan::filters::gpu::group {

/// Element of step t = blockIdx.x: the transition into the step (the prior N(m0, P0) for the
/// first step of a fresh sequence) composed with the step's measurement update.
template <class S, class C>
__global__ void KALMANSCAN_GROUP_BOUNDS filter_leaves_kernel(FilterProblem<S> p, C* elems, int n) {
  extern __shared__ unsigned char smem[];
  using Op = FilterGroupOp<C>;
  const int nn = n * n, size = Op::size(n);
  C *transition = reinterpret_cast<C*>(smem), *measurement = transition + size, *tmp = measurement + size;
  const std::size_t t = blockIdx.x;
  if (t == 0 && !p.continued) {
    Op::posterior_nosync(p.m, p.P, transition, n);
  } else {
    const std::size_t j = p.into.invariant ? 0 : t;
    Op::transition_nosync(p.into.F + j * nn, p.into.c + j * n, p.into.Q + j * nn, transition, n);
  }
  Op::measurement_nosync(p.Psi + (p.Psi_invariant ? 0 : t) * nn, p.psi + t * n, measurement, n);
  sync();
  Op::combine(transition, measurement, elems + t * size, tmp, n);
}

/// Element of step t = blockIdx.x (SmoothGroupOp::element; the last of a log is (0, m, P)).
template <class S, class C>
__global__ void KALMANSCAN_GROUP_BOUNDS smooth_leaves_kernel(SmoothProblem<S> p, C* elems, int n) {
  extern __shared__ unsigned char smem[];
  using Op = SmoothGroupOp<C>;
  const int nn = n * n;
  const std::size_t t = blockIdx.x;
  C* e = elems + t * Op::size(n);
  if (t + 1 == p.steps && !p.after_mean) {
    Op::posterior_nosync(p.filtered_mean + t * n, p.filtered_cov + t * nn, e, n);
    return;
  }
  C *F = reinterpret_cast<C*>(smem), *Q = F + nn, *c = Q + nn, *m = c + n, *P = m + n, *tmp = P + nn;
  const std::size_t j = p.out.invariant ? 0 : t;
  for (int k = rank(); k < nn; k += stride()) {
    F[k] = C(p.out.F[j * nn + k]), Q[k] = C(p.out.Q[j * nn + k]), P[k] = C(p.filtered_cov[t * nn + k]);
  }
  for (int k = rank(); k < n; k += stride()) c[k] = C(p.out.c[j * n + k]), m[k] = C(p.filtered_mean[t * n + k]);
  sync();
  Op::element(F, Q, c, m, P, e, tmp, n, elements::smoother_pivot_tolerance<C>());
}

/// Builds the elements with `leaves` (one block per step), the carry-in from the posterior
/// N(carry_m, carry_P) when carry_m is set, and scans them into the outputs.
template <class Op, class Problem, class S, class C>
cudaError_t run(void (*leaves)(Problem, C*, int), const Problem& p, const S* carry_m, const S* carry_P, int n,
                S* mean, S* cov, unsigned long long* failed, cudaStream_t stream) {
  DeviceBuffers buf(stream);
  const std::size_t size = std::size_t(Op::size(n)), smem = shared_bytes<Op>(n);
  C* elems = buf.alloc<C>(p.steps * size);
  C* carry = carry_m ? buf.alloc<C>(size) : nullptr;
  if (!buf.ok()) return buf.error();
  if (cudaError_t e = allow_shared(leaves, smem); e != cudaSuccess) return e;
  leaves<<<unsigned(p.steps), group_threads(n), smem, stream>>>(p, elems, n);
  if (carry) posterior_kernel<Op, S, C><<<1, group_threads(n), 0, stream>>>(carry_m, carry_P, carry, n);
  return scan_to_outputs<Op>(elems, p.steps, carry, n, mean, cov, failed, buf, stream);
}

template <class S, class C>
cudaError_t filter(int n, const FilterProblem<S>& p, S* mean, S* cov, unsigned long long* failed,
                   cudaStream_t stream) {
  return run<FilterGroupOp<C>>(filter_leaves_kernel<S, C>, p, p.continued ? p.m : nullptr, p.P, n, mean, cov, failed,
                               stream);
}

template <class S, class C>
cudaError_t smooth(int n, const SmoothProblem<S>& p, S* mean, S* cov, unsigned long long* failed,
                   cudaStream_t stream) {
  return run<SmoothGroupOp<C>>(smooth_leaves_kernel<S, C>, p, p.after_mean, p.after_cov, n, mean, cov, failed,
                               stream);
}

}  // namespace kalmanscan::filters::gpu::group
