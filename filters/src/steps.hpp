// Step bookkeeping shared by the sequential and parallel filters (private): which transition
// and control lead into or out of a local step of a chunk, given the carry or boundary state
// that lies just outside it.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include <Eigen/Core>

#include "kalmanscan/filters/model.hpp"
#include "kalmanscan/filters/smooth.hpp"

namespace kalmanscan::filters::detail {

/// Validates model, measurements and the carry (at step first_step - 1, sizes, covariance PSD,
/// timestamp not after the chunk's first one).
void check_run(const Model& model, const Measurements& meas, const std::optional<StepState>& carry_in);

/// Validates a smoother boundary `after` (at step first_step + steps(), sizes, PSD, time).
void check_after(const Model& model, const Measurements& meas, const std::optional<StepState>& after);

/// The transition from local step t-1 (or the carry, for t = 0) into local step t.
Transition transition_into(const Model& model, const Measurements& meas, const std::optional<StepState>& carry_in,
                           std::size_t t);
/// The control u_{t-1} driving that transition (empty for none).
Eigen::VectorXd control_before(const Measurements& meas, const std::optional<StepState>& carry_in, std::size_t t);

/// The transition from local step t to t+1 (or to `after`, for the last step).
Transition transition_out_of(const Model& model, const Measurements& meas, const std::optional<StepState>& after,
                             std::size_t t);

/// dt into local step t (from the previous step or the carry); 0 without timestamps.
double dt_into(const Measurements& meas, const std::optional<StepState>& carry_in, std::size_t t);
/// dt out of local step t (to the next step or `after`); 0 without timestamps.
double dt_out_of(const Measurements& meas, const std::optional<StepState>& after, std::size_t t);

/// The state of the chunk's last step from flat (row-major) buffers, as the next carry;
/// carry_in itself for an empty chunk.
template <class T>
StepState last_state(const Model& model, const Measurements& meas, const std::optional<StepState>& carry_in,
                     const std::vector<T>& means, const std::vector<T>& covs) {
  const std::size_t steps = meas.steps();
  if (steps == 0) {
    if (carry_in) return *carry_in;
    return {meas.first_step == 0 ? 0 : meas.first_step - 1, std::numeric_limits<double>::quiet_NaN(), {}, model.m0, model.P0};
  }
  const int n = model.state_dim();
  const std::size_t t = steps - 1;
  StepState s;
  s.step = meas.first_step + t;
  s.time = meas.times.empty() ? std::numeric_limits<double>::quiet_NaN() : meas.times[t];
  if (meas.control_dim > 0 && !meas.controls.empty()) s.control = meas.control(t);
  s.mean = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(means.data() + t * n, n).template cast<double>();
  s.cov = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(covs.data() + t * n * n, n, n)
              .template cast<double>();
  return s;
}

}  // namespace kalmanscan::filters::detail
