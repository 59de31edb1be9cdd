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

template <class S, class C>
cudaError_t run_filter(int n, const FilterProblem<S>& p, S* mean, S* cov, unsigned long long* failed,
                       const DeviceOptions& o, cudaStream_t s) {
  if constexpr (fixed_compiled<S, C>()) {
    if (n == 2) return fast::filter<S, C, 2>(p, mean, cov, failed, o, s);
    if (n == 4) return fast::filter<S, C, 4>(p, mean, cov, failed, o, s);
    if (n == 6) return fast::filter<S, C, 6>(p, mean, cov, failed, o, s);
  }
  return group::filter<S, C>(n, p, mean, cov, failed, s);
}

template <class S, class C>
cudaError_t run_smooth(int n, const SmoothProblem<S>& p, S* mean, S* cov, unsigned long long* failed,
                       const DeviceOptions& o, cudaStream_t s) {
  if constexpr (fixed_compiled<S, C>()) {
    if (n == 2) return fast::smooth<S, C, 2>(p, mean, cov, failed, o, s);
    if (n == 4) return fast::smooth<S, C, 4>(p, mean, cov, failed, o, s);
    if (n == 6) return fast::smooth<S, C, 6>(p, mean, cov, failed, o, s);
  }
  return group::smooth<S, C>(n, p, mean, cov, failed, s);
}

inline scan::Status status_of(cudaError_t e) {
  if (e == cudaSuccess) return {};
  return {int(e), std::string("kalmanscan::filters cuda: ") + cudaGetErrorString(e)};
}

/// Runs run(d_failed, stream) with a device failure flag initialised to `steps`, synchronises,
/// and reads the flag into *failed_step.
template <class Run>
scan::Status run_device(std::size_t steps, int n, std::size_t* failed_step, const DeviceOptions& o, Run run) {
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
    if (e == cudaSuccess) e = run(d_failed, s);
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
  return detail::run_device(p.steps, n, failed_step, o, [&](unsigned long long* failed, cudaStream_t s) {
    if constexpr (std::is_same_v<T, float>)
      if (o.mixed) return detail::run_filter<float, double>(n, p, mean, cov, failed, o, s);
    return detail::run_filter<T, T>(n, p, mean, cov, failed, o, s);
  });
}

template <class T>
scan::Status smooth_device(int n, const SmoothProblem<T>& p, T* mean, T* cov, std::size_t* failed_step,
                           const DeviceOptions& o) {
  return detail::run_device(p.steps, n, failed_step, o, [&](unsigned long long* failed, cudaStream_t s) {
    if constexpr (std::is_same_v<T, float>)
      if (o.mixed) return detail::run_smooth<float, double>(n, p, mean, cov, failed, o, s);
    return detail::run_smooth<T, T>(n, p, mean, cov, failed, o, s);
  });
}

template <class T>
scan::Status filter(int n, const FilterProblem<T>& h, T* mean, T* cov, std::size_t* failed_step,
                    const DeviceOptions& o) {
  *failed_step = h.steps;
  if (h.steps == 0) return {};
  const std::size_t steps = h.steps, nn = std::size_t(n) * n;
  detail::Transfer x(static_cast<cudaStream_t>(o.stream));
  FilterProblem<T> d = h;
  const std::size_t ts = h.into.invariant ? 1 : steps;
  d.into = {x.up(h.into.F, ts * nn), x.up(h.into.Q, ts * nn), x.up(h.into.c, ts * n), h.into.invariant};
  d.Psi = x.up(h.Psi, (h.Psi_invariant ? 1 : steps) * nn), d.psi = x.up(h.psi, steps * n), d.m = x.up(h.m, n), d.P = x.up(h.P, nn);
  T *dm = x.alloc<T>(steps * n), *dc = x.alloc<T>(steps * nn);
  if (const scan::Status st = x.status(); !st.ok()) return st;
  if (const scan::Status st = filter_device(n, d, dm, dc, failed_step, o); !st.ok()) return st;
  x.down(mean, dm, steps * n);
  x.down(cov, dc, steps * nn);
  return x.status();
}

template <class T>
scan::Status smooth(int n, const SmoothProblem<T>& h, T* mean, T* cov, std::size_t* failed_step,
                    const DeviceOptions& o) {
  *failed_step = h.steps;
  if (h.steps == 0) return {};
  const std::size_t steps = h.steps, nn = std::size_t(n) * n;
  detail::Transfer x(static_cast<cudaStream_t>(o.stream));
  SmoothProblem<T> d = h;
  const std::size_t ts = h.out.invariant ? 1 : steps;
  d.out = {x.up(h.out.F, ts * nn), x.up(h.out.Q, ts * nn), x.up(h.out.c, ts * n), h.out.invariant};
  d.filtered_mean = x.up(h.filtered_mean, steps * n), d.filtered_cov = x.up(h.filtered_cov, steps * nn);
  d.after_mean = x.up(h.after_mean, n), d.after_cov = x.up(h.after_cov, nn);
  T *dm = x.alloc<T>(steps * n), *dc = x.alloc<T>(steps * nn);
  if (const scan::Status st = x.status(); !st.ok()) return st;
  if (const scan::Status st = smooth_device(n, d, dm, dc, failed_step, o); !st.ok()) return st;
  x.down(mean, dm, steps * n);
  x.down(cov, dc, steps * nn);
  return x.status();
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
