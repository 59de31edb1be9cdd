// The GPU parallel filter and smoother: upload the per-step leaf inputs, run the element
// operators of parallel_elements.hpp through the engine's device scan with device leaf/sink
// functors, copy the prefixes back. Included by the explicit-instantiation .cu files only.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <vector>

#include "gpu.hpp"
#include "kalmanscan/filters/parallel_elements.hpp"
#include "kalmanscan/scan/cuda/device_scan.cuh"

namespace kalmanscan::filters::gpu {

namespace detail {

using elements::Mat;
using elements::Vec;

template <class T, int N>
__host__ __device__ inline Mat<T, N, N> load_mat(const T* p) {
  Mat<T, N, N> m;
  for (int k = 0; k < N * N; ++k) m.v[k] = p[k];
  return m;
}
template <class T, int N>
__host__ __device__ inline Vec<T, N> load_vec(const T* p) {
  Vec<T, N> v;
  for (int k = 0; k < N; ++k) v.v[k] = p[k];
  return v;
}

template <class T, int N>
struct FilterLeaf {
  const T *F, *Q, *c, *Psi, *psi, *m, *P;
  bool continued;
  __device__ elements::FilterElement<T, N> operator()(std::size_t, std::size_t i) const {
    const elements::StepInformation<T, N> z{load_mat<T, N>(Psi + i * N * N), load_vec<T, N>(psi + i * N)};
    if (i == 0 && !continued) return elements::first_filter_element(load_vec<T, N>(m), load_mat<T, N>(P), z);
    return elements::filter_element(load_mat<T, N>(F + i * N * N), load_mat<T, N>(Q + i * N * N),
                                    load_vec<T, N>(c + i * N), z);
  }
};

template <class T, int N>
struct FilterSink {
  T *mean, *cov;
  unsigned long long* failed;
  __device__ void operator()(std::size_t, std::size_t i, const elements::FilterElement<T, N>& e) const {
    T s = T(0);
    for (int k = 0; k < N; ++k) mean[i * N + k] = e.b.v[k], s += e.b.v[k];
    for (int k = 0; k < N * N; ++k) cov[i * N * N + k] = e.C.v[k], s += e.C.v[k];
    if (e.failed || !isfinite(s)) atomicMin(failed, static_cast<unsigned long long>(i));
  }
};

template <class T, int N>
struct SmoothLeaf {
  const T *F, *Q, *c, *mean, *cov;
  std::size_t steps;
  bool has_after;
  __device__ elements::SmoothElement<T, N> operator()(std::size_t, std::size_t i) const {
    const Vec<T, N> m = load_vec<T, N>(mean + i * N);
    const Mat<T, N, N> P = load_mat<T, N>(cov + i * N * N);
    if (i + 1 == steps && !has_after) return elements::last_smooth_element(m, P);
    return elements::smooth_element(load_mat<T, N>(F + i * N * N), load_mat<T, N>(Q + i * N * N),
                                    load_vec<T, N>(c + i * N), m, P);
  }
};

template <class T, int N>
struct SmoothSink {
  T *mean, *cov;
  __device__ void operator()(std::size_t, std::size_t i, const elements::SmoothElement<T, N>& e) const {
    for (int k = 0; k < N; ++k) mean[i * N + k] = e.g.v[k];
    for (int k = 0; k < N * N; ++k) cov[i * N * N + k] = e.L.v[k];
  }
};

/// Device buffers freed on every exit path; the first CUDA error is kept with its context.
class Session {
 public:
  ~Session() {
    for (void* p : owned_) cudaFree(p);
  }
  template <class U>
  U* upload(const U* h, std::size_t count) {
    U* d = alloc<U>(count);
    if (d && h && count) check(cudaMemcpy(d, h, count * sizeof(U), cudaMemcpyHostToDevice), "copy to device");
    return d;
  }
  template <class U>
  U* alloc(std::size_t count) {
    void* p = nullptr;
    if (!ok()) return nullptr;
    if (!check(cudaMalloc(&p, count * sizeof(U) + 1), "cudaMalloc")) return nullptr;
    owned_.push_back(p);
    return static_cast<U*>(p);
  }
  template <class U>
  void download(U* h, const U* d, std::size_t count) {
    if (ok() && count) check(cudaMemcpy(h, d, count * sizeof(U), cudaMemcpyDeviceToHost), "copy to host");
  }
  bool check(cudaError_t e, const char* what) {
    if (e != cudaSuccess && status_.ok())
      status_ = {int(e), std::string("kalmanscan::filters cuda: ") + what + ": " + cudaGetErrorString(e)};
    return e == cudaSuccess;
  }
  bool ok() const { return status_.ok(); }
  scan::Status status() const { return status_; }

 private:
  std::vector<void*> owned_;
  scan::Status status_;
};

/// Runs one device scan (size query, scratch, scan, synchronise).
template <class Op, class Leaf, class Sink>
void run_scan(Session& s, Leaf leaf, Sink sink, std::size_t steps, scan::Direction dir,
              const typename Op::element* d_carry_in) {
  namespace ksc = kalmanscan::scan::cuda;
  std::size_t bytes = 0;
  if (!s.check(ksc::device_scan<Op>(nullptr, bytes, leaf, sink, 1, steps, dir, d_carry_in, nullptr, nullptr),
               "scan size query"))
    return;
  void* scratch = s.alloc<unsigned char>(bytes);
  if (!s.ok()) return;
  if (!s.check(ksc::device_scan<Op>(scratch, bytes, leaf, sink, 1, steps, dir, d_carry_in, nullptr, nullptr), "scan"))
    return;
  s.check(cudaDeviceSynchronize(), "scan");
}

}  // namespace detail

template <class T, int N>
scan::Status filter(const FilterProblem<T>& p, T* mean, T* cov, std::size_t* failed_step) {
  using Op = elements::FilterOp<T, N>;
  *failed_step = p.steps;
  if (p.steps == 0) return {};
  detail::Session s;
  const std::size_t nn = std::size_t(N) * N, steps = p.steps;
  detail::FilterLeaf<T, N> leaf{s.upload(p.into.F, steps * nn), s.upload(p.into.Q, steps * nn),
                                s.upload(p.into.c, steps * N),  s.upload(p.Psi, steps * nn),
                                s.upload(p.psi, steps * N),     s.upload(p.m, N),
                                s.upload(p.P, nn),              p.continued};
  detail::FilterSink<T, N> sink{s.alloc<T>(steps * N), s.alloc<T>(steps * nn), s.alloc<unsigned long long>(1)};
  const unsigned long long none = steps;
  if (sink.failed) s.check(cudaMemcpy(sink.failed, &none, sizeof none, cudaMemcpyHostToDevice), "copy to device");
  // A continued chunk starts from the carry-in element (0, m, P, 0, 0).
  typename Op::element cin{};
  if (p.continued) cin = elements::posterior_element(detail::load_vec<T, N>(p.m), detail::load_mat<T, N>(p.P));
  const typename Op::element* d_cin = p.continued ? s.upload(&cin, 1) : nullptr;
  if (s.ok()) detail::run_scan<Op>(s, leaf, sink, steps, scan::Direction::forward, d_cin);
  s.download(mean, sink.mean, steps * N);
  s.download(cov, sink.cov, steps * nn);
  unsigned long long failed = none;
  if (sink.failed) s.download(&failed, sink.failed, 1);
  *failed_step = std::size_t(failed);
  return s.status();
}

template <class T, int N>
scan::Status smooth(const SmoothProblem<T>& p, T* mean, T* cov) {
  using Op = elements::SmoothOp<T, N>;
  if (p.steps == 0) return {};
  detail::Session s;
  const std::size_t nn = std::size_t(N) * N, steps = p.steps;
  const bool has_after = p.after_mean != nullptr;
  detail::SmoothLeaf<T, N> leaf{s.upload(p.out.F, steps * nn),
                                s.upload(p.out.Q, steps * nn),
                                s.upload(p.out.c, steps * N),
                                s.upload(p.filtered_mean, steps * N),
                                s.upload(p.filtered_cov, steps * nn),
                                steps,
                                has_after};
  detail::SmoothSink<T, N> sink{s.alloc<T>(steps * N), s.alloc<T>(steps * nn)};
  typename Op::element cin{};
  if (has_after)
    cin = elements::last_smooth_element(detail::load_vec<T, N>(p.after_mean), detail::load_mat<T, N>(p.after_cov));
  const typename Op::element* d_cin = has_after ? s.upload(&cin, 1) : nullptr;
  if (s.ok()) detail::run_scan<Op>(s, leaf, sink, steps, scan::Direction::reverse, d_cin);
  s.download(mean, sink.mean, steps * N);
  s.download(cov, sink.cov, steps * nn);
  return s.status();
}

}  // namespace kalmanscan::filters::gpu

#define KALMANSCAN_FILTERS_CUDA_INSTANTIATE(T, N)                                                                   \
  template kalmanscan::scan::Status kalmanscan::filters::gpu::filter<T, N>(                                         \
      const kalmanscan::filters::gpu::FilterProblem<T>&, T*, T*, std::size_t*);                                    \
  template kalmanscan::scan::Status kalmanscan::filters::gpu::smooth<T, N>(                                         \
      const kalmanscan::filters::gpu::SmoothProblem<T>&, T*, T*);
