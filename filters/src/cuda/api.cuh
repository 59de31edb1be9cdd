// The entry points of gpu.hpp for one storage type T: dispatch by state size to the fast
// paths (fixed_run.cuh) or the group path (group_run.cuh), the failure flag, and the host-array
// wrappers. Included by float.cu and double.cu, which instantiate it.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <type_traits>

#include "device_buffers.cuh"
#include "fixed_run.cuh"
#include "gpu.hpp"
#include "group_run.cuh"

namespace kalmanscan::filters::gpu {
namespace detail {

/// Whether the fixed-size path is instantiated for storage S and arithmetic C (must match the
/// KALMANSCAN_FILTERS_FIXED lines of float.cu, float_mixed.cu and double.cu).
template <class S, class C>
constexpr bool fixed_compiled() {
  return (std::is_same_v<S, float> && std::is_same_v<C, float>) || KALMANSCAN_CUDA_FULL_INSTANTIATIONS;
}

/// The paths' entry points for a filtering or a smoothing problem, by overload.
template <class S, class C, int N>
cudaError_t fast_run(const FilterProblem<S>& p, S* mean, S* cov, unsigned long long* failed, const DeviceOptions& o,
                     cudaStream_t s) {
  return fast::filter<S, C, N>(p, mean, cov, failed, o, s);
}
template <class S, class C, int N>
cudaError_t fast_run(const SmoothProblem<S>& p, S* mean, S* cov, unsigned long long* failed, const DeviceOptions& o,
                     cudaStream_t s) {
  return fast::smooth<S, C, N>(p, mean, cov, failed, o, s);
}
template <class S, class C>
cudaError_t group_run(int n, const FilterProblem<S>& p, S* mean, S* cov, unsigned long long* failed, cudaStream_t s) {
  return group::filter<S, C>(n, p, mean, cov, failed, s);
}
template <class S, class C>
cudaError_t group_run(int n, const SmoothProblem<S>& p, S* mean, S* cov, unsigned long long* failed, cudaStream_t s) {
  return group::smooth<S, C>(n, p, mean, cov, failed, s);
}

/// Problem p (a FilterProblem or SmoothProblem in S) in arithmetic C: on the fast path of its
/// size where compiled, else on the group path.
template <class S, class C, class Problem>
cudaError_t run_path(int n, const Problem& p, S* mean, S* cov, unsigned long long* failed, const DeviceOptions& o,
                     cudaStream_t s) {
  if constexpr (fixed_compiled<S, C>()) {
    if (n == 2) return fast_run<S, C, 2>(p, mean, cov, failed, o, s);
    if (n == 4) return fast_run<S, C, 4>(p, mean, cov, failed, o, s);
    if (n == 6) return fast_run<S, C, 6>(p, mean, cov, failed, o, s);
  }
  return group_run<S, C>(n, p, mean, cov, failed, s);
}

/// Problem p (device arrays) on its path, with a device failure flag initialised to p.steps;
/// synchronises and reads the flag into *failed_step. T = float with DeviceOptions::mixed: in
/// double arithmetic.
template <class T, class Problem>
scan::Status run_device(int n, const Problem& p, T* mean, T* cov, std::size_t* failed_step, const DeviceOptions& o) {
  const std::size_t steps = p.steps;
  *failed_step = steps;
  if (steps == 0) return {};
  if (n < 1 || n > max_state_size)
    return {int(cudaErrorInvalidValue), "kalmanscan::filters cuda: state size " + std::to_string(n) +
                                            " outside the GPU's 1 … " + std::to_string(max_state_size)};
  const cudaStream_t s = static_cast<cudaStream_t>(o.stream);
  unsigned long long failed = steps;
  cudaError_t e;
  {
    DeviceBuffers buf(s);
    unsigned long long* d_failed = buf.alloc<unsigned long long>(1);
    e = buf.error();
    if (e == cudaSuccess) e = cudaMemcpyAsync(d_failed, &failed, sizeof failed, cudaMemcpyHostToDevice, s);
    if (e == cudaSuccess) {
      if constexpr (std::is_same_v<T, float>)
        e = o.mixed ? run_path<float, double>(n, p, mean, cov, d_failed, o, s)
                    : run_path<float, float>(n, p, mean, cov, d_failed, o, s);
      else
        e = run_path<T, T>(n, p, mean, cov, d_failed, o, s);
    }
    if (e == cudaSuccess) e = cudaMemcpyAsync(&failed, d_failed, sizeof failed, cudaMemcpyDeviceToHost, s);
  }
  const cudaError_t sync = cudaStreamSynchronize(s);
  if (e == cudaSuccess) e = sync;
  if (e == cudaSuccess) *failed_step = std::size_t(failed);
  return status_of(e);
}

/// Device copies of host arrays for the host-array entry points.
class Transfer : public DeviceBuffers {
 public:
  using DeviceBuffers::DeviceBuffers;
  template <class U>
  const U* up(const U* h, std::size_t count) {
    if (!h) return nullptr;
    U* d = alloc<U>(count);
    if (d) note(cudaMemcpy(d, h, count * sizeof(U), cudaMemcpyHostToDevice));
    return d;
  }
  template <class U>
  void down(U* h, const U* d, std::size_t count) {
    if (first_ == cudaSuccess) note(cudaMemcpy(h, d, count * sizeof(U), cudaMemcpyDeviceToHost));
  }
  scan::Status status() const { return status_of(ok() ? first_ : error()); }

 private:
  void note(cudaError_t e) {
    if (first_ == cudaSuccess) first_ = e;
  }
  cudaError_t first_ = cudaSuccess;
};

/// Device copies of a problem's host arrays.
template <class T>
Transitions<T> uploaded(Transfer& x, const Transitions<T>& h, std::size_t steps, int n) {
  const std::size_t ts = h.invariant ? 1 : steps, nn = std::size_t(n) * n;
  return {x.up(h.F, ts * nn), x.up(h.Q, ts * nn), x.up(h.c, ts * n), h.invariant};
}
template <class T>
FilterProblem<T> uploaded(Transfer& x, const FilterProblem<T>& h, int n) {
  const std::size_t nn = std::size_t(n) * n;
  FilterProblem<T> d = h;
  d.into = uploaded(x, h.into, h.steps, n);
  d.Psi = x.up(h.Psi, (h.Psi_invariant ? 1 : h.steps) * nn), d.psi = x.up(h.psi, h.steps * n);
  d.m = x.up(h.m, n), d.P = x.up(h.P, nn);
  return d;
}
template <class T>
SmoothProblem<T> uploaded(Transfer& x, const SmoothProblem<T>& h, int n) {
  const std::size_t nn = std::size_t(n) * n;
  SmoothProblem<T> d = h;
  d.out = uploaded(x, h.out, h.steps, n);
  d.filtered_mean = x.up(h.filtered_mean, h.steps * n), d.filtered_cov = x.up(h.filtered_cov, h.steps * nn);
  d.after_mean = x.up(h.after_mean, n), d.after_cov = x.up(h.after_cov, nn);
  return d;
}

/// run_device on a problem whose arrays (and the outputs) are in host memory.
template <class T, class Problem>
scan::Status run_host(int n, const Problem& h, T* mean, T* cov, std::size_t* failed_step, const DeviceOptions& o) {
  *failed_step = h.steps;
  if (h.steps == 0) return {};
  const std::size_t steps = h.steps, nn = std::size_t(n) * n;
  Transfer x(static_cast<cudaStream_t>(o.stream));
  const Problem d = uploaded(x, h, n);
  T *dm = x.alloc<T>(steps * n), *dc = x.alloc<T>(steps * nn);
  if (const scan::Status st = x.status(); !st.ok()) return st;
  if (const scan::Status st = run_device(n, d, dm, dc, failed_step, o); !st.ok()) return st;
  x.down(mean, dm, steps * n);
  x.down(cov, dc, steps * nn);
  return x.status();
}

}  // namespace detail

template <class T>
bool fast_path(int n, bool mixed) {
  const bool variant = std::is_same_v<T, double> || !mixed ? detail::fixed_compiled<T, T>()
                                                           : detail::fixed_compiled<float, double>();
  return variant && (n == 2 || n == 4 || n == 6);
}

template <class T>
scan::Status filter_device(int n, const FilterProblem<T>& p, T* mean, T* cov, std::size_t* failed_step,
                           const DeviceOptions& o) {
  return detail::run_device(n, p, mean, cov, failed_step, o);
}

template <class T>
scan::Status smooth_device(int n, const SmoothProblem<T>& p, T* mean, T* cov, std::size_t* failed_step,
                           const DeviceOptions& o) {
  return detail::run_device(n, p, mean, cov, failed_step, o);
}

template <class T>
scan::Status filter(int n, const FilterProblem<T>& h, T* mean, T* cov, std::size_t* failed_step,
                    const DeviceOptions& o) {
  return detail::run_host(n, h, mean, cov, failed_step, o);
}

template <class T>
scan::Status smooth(int n, const SmoothProblem<T>& h, T* mean, T* cov, std::size_t* failed_step,
                    const DeviceOptions& o) {
  return detail::run_host(n, h, mean, cov, failed_step, o);
}

}  // namespace kalmanscan::filters::gpu

#define KALMANSCAN_FILTERS_API_INSTANTIATE(T)                                                                     \
  template bool kalmanscan::filters::gpu::fast_path<T>(int, bool);                                               \
  template kalmanscan::scan::Status kalmanscan::filters::gpu::filter_device<T>(                                  \
      int, const kalmanscan::filters::gpu::FilterProblem<T>&, T*, T*, std::size_t*,                              \
      const kalmanscan::filters::gpu::DeviceOptions&);                                                           \
  template kalmanscan::scan::Status kalmanscan::filters::gpu::smooth_device<T>(                                  \
      int, const kalmanscan::filters::gpu::SmoothProblem<T>&, T*, T*, std::size_t*,                              \
      const kalmanscan::filters::gpu::DeviceOptions&);                                                           \
  template kalmanscan::scan::Status kalmanscan::filters::gpu::filter<T>(                                         \
      int, const kalmanscan::filters::gpu::FilterProblem<T>&, T*, T*, std::size_t*,                              \
      const kalmanscan::filters::gpu::DeviceOptions&);                                                           \
  template kalmanscan::scan::Status kalmanscan::filters::gpu::smooth<T>(                                         \
      int, const kalmanscan::filters::gpu::SmoothProblem<T>&, T*, T*, std::size_t*,                              \
      const kalmanscan::filters::gpu::DeviceOptions&);
