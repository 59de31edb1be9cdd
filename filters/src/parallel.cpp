#include "kalmanscan/filters/parallel.hpp"

#include <string>

#include "kalmanscan/filters/kalman.hpp"
#include "parallel_impl.hpp"

// The per-size instantiations live in parallel_sizes_*.cpp.
#define KALMANSCAN_EXTERN(T, N)                                                                                      \
  extern template BasicTrajectory<T> parallel_filter_n<T, N>(const Model&, const Measurements&,                      \
                                                             const std::optional<StepState>&, StepState*,            \
                                                             const ParallelOptions&);                                \
  extern template void parallel_smooth_n<T, N>(const Model&, const Measurements&, BasicTrajectory<T>&,               \
                                               const std::optional<StepState>&, bool, const ParallelOptions&);
#define KALMANSCAN_EXTERN_SIZE(N) KALMANSCAN_EXTERN(float, N) KALMANSCAN_EXTERN(double, N)

namespace kalmanscan::filters {
namespace detail {
KALMANSCAN_EXTERN_SIZE(2)
KALMANSCAN_EXTERN_SIZE(4)
KALMANSCAN_EXTERN_SIZE(6)
KALMANSCAN_EXTERN_SIZE(8)
KALMANSCAN_EXTERN_SIZE(12)
KALMANSCAN_EXTERN_SIZE(16)
KALMANSCAN_EXTERN_SIZE(24)
KALMANSCAN_EXTERN_SIZE(32)
KALMANSCAN_EXTERN_SIZE(48)
KALMANSCAN_EXTERN_SIZE(64)
KALMANSCAN_EXTERN_SIZE(elements::dynamic_size)

unsigned map_threads(const ParallelOptions& o) {
  if (o.backend == scan::Backend::sequential) return 1;
  return o.threads ? o.threads : scan::default_threads();
}

template <class T>
void parallel_diagnostics(const Model& model, const Measurements& meas, const std::optional<StepState>& carry_in,
                          BasicTrajectory<T>& tr, const ParallelOptions& o) {
  const std::size_t steps = meas.steps();
  const unsigned p = map_threads(o);
  std::vector<double> ll(p, 0.0);
  // Each step's innovation from the prediction of the previous filtered state (or the prior /
  // the carry for the first step), exactly as the sequential filter forms it (kalman.hpp).
  scan::parallel_tasks(p, p, [&](std::size_t task) {
    for (std::size_t t = steps * task / p; t < steps * (task + 1) / p; ++t) {
      Gaussian<double> predicted;
      if (t == 0 && !carry_in) {
        predicted = {model.m0, model.P0};
      } else {
        const Gaussian<double> prev =
            t > 0 ? Gaussian<double>{tr.filtered_mean_at(t - 1).template cast<double>(),
                                     tr.filtered_cov_at(t - 1).template cast<double>()}
                  : Gaussian<double>{carry_in->mean, carry_in->cov};
        predicted = predict(prev, transition_into(model, meas, carry_in, t), control_before(meas, carry_in, t));
      }
      const Innovation<double> in = innovate(predicted, stack_measurement<double>(model, meas, t), meas.first_step + t);
      tr.nis[t] = T(in.nis);
      tr.nis_dof[t] = in.dof;
      ll[task] += in.log_likelihood;
    }
  });
  tr.log_likelihood = 0.0;
  for (double v : ll) tr.log_likelihood += v;
}

template void parallel_diagnostics<float>(const Model&, const Measurements&, const std::optional<StepState>&,
                                          BasicTrajectory<float>&, const ParallelOptions&);
template void parallel_diagnostics<double>(const Model&, const Measurements&, const std::optional<StepState>&,
                                           BasicTrajectory<double>&, const ParallelOptions&);

/// Calls f.template operator()<N>() for the dynamic size when `o` asks for it or n is above the
/// largest compiled size (CPU backends), else for the smallest compiled N ≥ n.
template <class F>
decltype(auto) with_state_size(int n, const ParallelOptions& o, F&& f) {
  if (o.backend != scan::Backend::cuda && (o.dynamic_size || n > parallel_state_sizes.back()))
    return f.template operator()<elements::dynamic_size>();
  if (n <= 2) return f.template operator()<2>();
  if (n <= 4) return f.template operator()<4>();
  if (n <= 6) return f.template operator()<6>();
  if (n <= 8) return f.template operator()<8>();
  if (n <= 12) return f.template operator()<12>();
  if (n <= 16) return f.template operator()<16>();
  if (n <= 24) return f.template operator()<24>();
  if (n <= 32) return f.template operator()<32>();
  if (n <= 48) return f.template operator()<48>();
  if (n <= 64) return f.template operator()<64>();
  fail(no_step, "backend cuda: no GPU path for state size " + std::to_string(n) + " (above " +
                    std::to_string(gpu::max_state_size) + ")");
}

}  // namespace detail

template <class T>
BasicTrajectory<T> parallel_filter(const Model& model, const Measurements& meas, const std::optional<StepState>& carry_in,
                                   StepState* carry_out, const ParallelOptions& options) {
  return detail::with_state_size(model.state_dim(), options, [&]<int N>() {
    return detail::parallel_filter_n<T, N>(model, meas, carry_in, carry_out, options);
  });
}

template <class T>
void parallel_smooth(const Model& model, const Measurements& meas, BasicTrajectory<T>& trajectory,
                     const std::optional<StepState>& after, bool cross, const ParallelOptions& options) {
  detail::with_state_size(model.state_dim(), options, [&]<int N>() {
    detail::parallel_smooth_n<T, N>(model, meas, trajectory, after, cross, options);
  });
}

template BasicTrajectory<float> parallel_filter<float>(const Model&, const Measurements&, const std::optional<StepState>&,
                                                       StepState*, const ParallelOptions&);
template BasicTrajectory<double> parallel_filter<double>(const Model&, const Measurements&,
                                                         const std::optional<StepState>&, StepState*,
                                                         const ParallelOptions&);
template void parallel_smooth<float>(const Model&, const Measurements&, BasicTrajectory<float>&,
                                     const std::optional<StepState>&, bool, const ParallelOptions&);
template void parallel_smooth<double>(const Model&, const Measurements&, BasicTrajectory<double>&,
                                      const std::optional<StepState>&, bool, const ParallelOptions&);

}  // namespace kalmanscan::filters
