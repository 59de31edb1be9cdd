// The parallel filter and smoother for a compiled state size N (the fast paths 2, 4, 6) on
// device arrays: the element operators of parallel_elements.hpp run through the engine's device
// scan with device leaf/sink functors, one thread per chunk, elements in registers. Inputs are
// read in the storage type S and the elements built and combined in the arithmetic type C
// (C = double for S = float is the mixed-precision variant). Included by the .cu files only.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>

#include "device_buffers.cuh"
#include "gpu.hpp"
#include "kalmanscan/filters/parallel_elements.hpp"
#include "kalmanscan/scan/cuda/device_scan.cuh"

namespace kalmanscan::filters::gpu::fixed {

using elements::Mat;
using elements::Vec;

template <class C, int N, class S>
__device__ inline Mat<C, N, N> load_mat(const S* p) {
  Mat<C, N, N> m;
  for (int k = 0; k < N * N; ++k) m.v[k] = C(p[k]);
  return m;
}
template <class C, int N, class S>
__device__ inline Vec<C, N> load_vec(const S* p) {
  Vec<C, N> v;
  for (int k = 0; k < N; ++k) v.v[k] = C(p[k]);
  return v;
}

template <class S, class C, int N>
struct FilterLeaf {
  FilterProblem<S> p;
  __device__ elements::FilterElement<C, N> operator()(std::size_t, std::size_t i) const {
    const std::size_t k = p.Psi_invariant ? 0 : i, j = p.into.invariant ? 0 : i;
    const elements::StepInformation<C, N> z{load_mat<C, N>(p.Psi + k * N * N), load_vec<C, N>(p.psi + i * N)};
    if (i == 0 && !p.continued) return elements::first_filter_element(load_vec<C, N>(p.m), load_mat<C, N>(p.P), z);
    return elements::filter_element(load_mat<C, N>(p.into.F + j * N * N), load_mat<C, N>(p.into.Q + j * N * N),
                                    load_vec<C, N>(p.into.c + j * N), z);
  }
};

/// Stores the mean/covariance of a prefix (b, C) or suffix (g, L) in S; notes the first step
/// whose element broke down or whose stored values are not finite.
template <class S, class C, int N>
struct Store {
  S *mean, *cov;
  unsigned long long* failed;
  __device__ void operator()(std::size_t i, const Vec<C, N>& m, const Mat<C, N, N>& P, bool broke) const {
    S s = S(0);
    for (int k = 0; k < N; ++k) mean[i * N + k] = S(m.v[k]), s += S(m.v[k]);
    for (int k = 0; k < N * N; ++k) cov[i * N * N + k] = S(P.v[k]), s += S(P.v[k]);
    if (broke || !isfinite(s)) atomicMin(failed, static_cast<unsigned long long>(i));
  }
};

template <class S, class C, int N>
struct FilterSink {
  Store<S, C, N> store;
  __device__ void operator()(std::size_t, std::size_t i, const elements::FilterElement<C, N>& e) const {
    store(i, e.b, e.C, e.failed != 0);
  }
};

template <class S, class C, int N>
struct SmoothLeaf {
  SmoothProblem<S> p;
  __device__ elements::SmoothElement<C, N> operator()(std::size_t, std::size_t i) const {
    const Vec<C, N> m = load_vec<C, N>(p.filtered_mean + i * N);
    const Mat<C, N, N> P = load_mat<C, N>(p.filtered_cov + i * N * N);
    if (i + 1 == p.steps && !p.after_mean) return elements::last_smooth_element(m, P);
    const std::size_t j = p.out.invariant ? 0 : i;
    return elements::smooth_element(load_mat<C, N>(p.out.F + j * N * N), load_mat<C, N>(p.out.Q + j * N * N),
                                    load_vec<C, N>(p.out.c + j * N), m, P);
  }
};

template <class S, class C, int N>
struct SmoothSink {
  Store<S, C, N> store;
  __device__ void operator()(std::size_t, std::size_t i, const elements::SmoothElement<C, N>& e) const {
    store(i, e.g, e.L, false);
  }
};

/// The scan carry-in: a continued filter chunk's posterior (0, m, P, 0, 0), or the smoother's
/// (0, mˢ, Pˢ) of the step after the chunk.
template <class S, class C, int N>
__global__ void filter_carry_kernel(const S* m, const S* P, elements::FilterElement<C, N>* out) {
  *out = elements::posterior_element(load_vec<C, N>(m), load_mat<C, N>(P));
}
template <class S, class C, int N>
__global__ void smooth_carry_kernel(const S* m, const S* P, elements::SmoothElement<C, N>* out) {
  *out = elements::last_smooth_element(load_vec<C, N>(m), load_mat<C, N>(P));
}

/// One device scan (size query, stream-ordered scratch, scan); asynchronous.
template <class Op, class Leaf, class Sink>
cudaError_t run_scan(Leaf leaf, Sink sink, std::size_t steps, scan::Direction dir, const typename Op::element* d_cin,
                     DeviceBuffers& buf, cudaStream_t stream) {
  namespace ksc = kalmanscan::scan::cuda;
  std::size_t bytes = 0;
  if (cudaError_t e = ksc::device_scan<Op>(nullptr, bytes, leaf, sink, 1, steps, dir, d_cin, nullptr, stream);
      e != cudaSuccess)
    return e;
  void* scratch = buf.alloc<unsigned char>(bytes);
  if (!buf.ok()) return buf.error();
  return ksc::device_scan<Op>(scratch, bytes, leaf, sink, 1, steps, dir, d_cin, nullptr, stream);
}

template <class S, class C, int N>
cudaError_t filter(const FilterProblem<S>& p, S* mean, S* cov, unsigned long long* d_failed, cudaStream_t stream) {
  using Op = elements::FilterOp<C, N>;
  DeviceBuffers buf(stream);
  typename Op::element* cin = p.continued ? buf.alloc<typename Op::element>(1) : nullptr;
  if (!buf.ok()) return buf.error();
  if (cin) filter_carry_kernel<S, C, N><<<1, 1, 0, stream>>>(p.m, p.P, cin);
  return run_scan<Op>(FilterLeaf<S, C, N>{p}, FilterSink<S, C, N>{{mean, cov, d_failed}}, p.steps,
                      scan::Direction::forward, cin, buf, stream);
}

template <class S, class C, int N>
cudaError_t smooth(const SmoothProblem<S>& p, S* mean, S* cov, unsigned long long* d_failed, cudaStream_t stream) {
  using Op = elements::SmoothOp<C, N>;
  DeviceBuffers buf(stream);
  typename Op::element* cin = p.after_mean ? buf.alloc<typename Op::element>(1) : nullptr;
  if (!buf.ok()) return buf.error();
  if (cin) smooth_carry_kernel<S, C, N><<<1, 1, 0, stream>>>(p.after_mean, p.after_cov, cin);
  return run_scan<Op>(SmoothLeaf<S, C, N>{p}, SmoothSink<S, C, N>{{mean, cov, d_failed}}, p.steps,
                      scan::Direction::reverse, cin, buf, stream);
}

}  // namespace kalmanscan::filters::gpu::fixed

/// Explicit instantiation (prefix empty) or its extern declaration (prefix extern) of the
/// fixed-size path for storage S, arithmetic C, size N.
#define KALMANSCAN_FILTERS_FIXED(prefix, S, C, N)                                                                \
  prefix template cudaError_t kalmanscan::filters::gpu::fixed::filter<S, C, N>(                                 \
      const kalmanscan::filters::gpu::FilterProblem<S>&, S*, S*, unsigned long long*, cudaStream_t);            \
  prefix template cudaError_t kalmanscan::filters::gpu::fixed::smooth<S, C, N>(                                 \
      const kalmanscan::filters::gpu::SmoothProblem<S>&, S*, S*, unsigned long long*, cudaStream_t);
