#include "kalmanscan/filters/smooth.hpp"

#include <string>
#include <type_traits>

#include "kalmanscan/filters/kalman.hpp"
#include "kalmanscan/filters/parallel.hpp"
#include "kalmanscan/filters/rts.hpp"
#include "kalmanscan/scan/scan.hpp"

namespace kalmanscan::filters {

Backend parse_backend(const std::string& s) {
  if (s == "auto" || s == "automatic") return Backend::automatic;
  if (s == "sequential" || s == "seq") return Backend::sequential;
  if (s == "threaded" || s == "cpu") return Backend::threaded;
  if (s == "cuda" || s == "gpu") return Backend::cuda;
  fail(no_step, "backend: expected one of auto, sequential, threaded (cpu), cuda; found '" + s + "'");
}

Precision parse_precision(const std::string& s) {
  if (s == "double" || s == "float64" || s == "f64") return Precision::float64;
  if (s == "float" || s == "float32" || s == "f32") return Precision::float32;
  fail(no_step, "precision: expected double (float64) or float (float32); found '" + s + "'");
}

namespace {

/// The backend that runs a chunk of `steps` steps (automatic never picks the GPU, nor the parallel
/// forms for a state larger than their largest compiled size, which they refuse).
Backend resolve(const SmoothOptions& o, const Model& model, std::size_t steps) {
  if (o.backend != Backend::automatic) return o.backend;
  if (model.state_dim() > parallel_state_sizes.back()) return Backend::sequential;
  return steps >= scan::threaded_crossover ? Backend::threaded : Backend::sequential;
}

ParallelOptions parallel_options(Backend b, const SmoothOptions& o) {
  return {.backend = b == Backend::cuda ? scan::Backend::cuda : scan::Backend::threaded, .threads = o.threads,
          .diagnostics = true};
}

template <class T>
BasicTrajectory<T> filter_as(const Model& model, const Measurements& meas, const std::optional<StepState>& carry_in,
                             StepState* carry_out, Backend backend, const SmoothOptions& o) {
  if (backend == Backend::sequential) return kalman_filter<T>(model, meas, carry_in, carry_out);
  return parallel_filter<T>(model, meas, carry_in, carry_out, parallel_options(backend, o));
}

template <class T>
void smooth_as(const Model& model, const Measurements& meas, BasicTrajectory<T>& tr,
               const std::optional<StepState>& after, Backend backend, const SmoothOptions& o) {
  if (backend == Backend::sequential) return rts_smooth<T>(model, meas, tr, after, o.cross_covariances);
  parallel_smooth<T>(model, meas, tr, after, o.cross_covariances, parallel_options(backend, o));
}

/// Runs in precision T and returns double results.
template <class T>
Trajectory run(const Model& model, const Measurements& meas, const std::optional<StepState>& carry_in,
               StepState* carry_out, bool smooth_too, const SmoothOptions& o) {
  const Backend backend = resolve(o, model, meas.steps());
  BasicTrajectory<T> tr = filter_as<T>(model, meas, carry_in, carry_out, backend, o);
  if (smooth_too) smooth_as<T>(model, meas, tr, std::nullopt, backend, o);
  if constexpr (std::is_same_v<T, double>)
    return tr;
  else
    return tr.template cast<double>();
}

}  // namespace

Trajectory smooth(const Model& model, const Measurements& measurements, const SmoothOptions& options) {
  const bool smooth_too = !options.filter_only;
  if (options.precision == Precision::float32)
    return run<float>(model, measurements, std::nullopt, nullptr, smooth_too, options);
  return run<double>(model, measurements, std::nullopt, nullptr, smooth_too, options);
}

FilteredChunk filter_chunk(const Model& model, const Measurements& chunk, const std::optional<StepState>& carry_in,
                           const SmoothOptions& options) {
  FilteredChunk r;
  r.trajectory = options.precision == Precision::float32
                     ? run<float>(model, chunk, carry_in, &r.carry_out, false, options)
                     : run<double>(model, chunk, carry_in, &r.carry_out, false, options);
  return r;
}

void smooth_chunk(const Model& model, const Measurements& chunk, Trajectory& trajectory,
                  const std::optional<StepState>& after, const SmoothOptions& options) {
  const Backend backend = resolve(options, model, chunk.steps());
  if (options.precision == Precision::float64) return smooth_as<double>(model, chunk, trajectory, after, backend, options);
  BasicTrajectory<float> tr = trajectory.cast<float>();
  smooth_as<float>(model, chunk, tr, after, backend, options);
  trajectory = tr.cast<double>();
}

StepState first_smoothed(const Measurements& chunk, const Trajectory& smoothed) {
  if (smoothed.steps == 0 || smoothed.smoothed_mean.empty())
    fail(chunk.first_step, "first_smoothed: the chunk has no smoothed steps");
  StepState s;
  s.step = chunk.first_step;
  s.time = chunk.times.empty() ? std::numeric_limits<double>::quiet_NaN() : chunk.times[0];
  if (chunk.control_dim > 0 && !chunk.controls.empty()) s.control = chunk.control(0);
  s.mean = smoothed.smoothed_mean_at(0);
  s.cov = smoothed.smoothed_cov_at(0);
  return s;
}

}  // namespace kalmanscan::filters
