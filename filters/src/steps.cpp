#include "steps.hpp"

#include <cmath>
#include <string>

#include "checks.hpp"

namespace kalmanscan::filters::detail {

namespace {

void check_state(const Model& model, const StepState& s, const std::string& name) {
  const Eigen::Index n = model.state_dim();
  check_shape(s.mean, n, 1, s.step, name + " mean");
  check_covariance(s.cov, n, s.step, name + " covariance", Definiteness::semi);
  if (s.control.size() != 0 && s.control.size() != model.control_dim())
    fail(s.step, name + " control has size " + std::to_string(s.control.size()) + ", expected " +
                     std::to_string(model.control_dim()));
  if (model.motion && !std::isfinite(s.time)) fail(s.step, name + " has no timestamp, which the motion model needs");
}

}  // namespace

void check_run(const Model& model, const Measurements& meas, const std::optional<StepState>& carry_in) {
  model.validate();
  meas.validate(model);
  if (!carry_in) return;
  if (carry_in->step + 1 != meas.first_step)
    fail(meas.first_step, "carry_in is the state of step " + std::to_string(carry_in->step) + ", expected step " +
                              std::to_string(meas.first_step) + " - 1");
  check_state(model, *carry_in, "carry_in");
  if (model.motion && meas.steps() > 0 && carry_in->time > meas.times[0])
    fail(meas.first_step, "carry_in time " + std::to_string(carry_in->time) + " is after this step's " +
                              std::to_string(meas.times[0]));
  if (!model.motion && !model.transition.defined_at(carry_in->step))
    fail(carry_in->step, "the time-varying transition table does not cover this step");
}

void check_after(const Model& model, const Measurements& meas, const std::optional<StepState>& after) {
  if (!after) return;
  const std::size_t last = meas.first_step + meas.steps();
  if (after->step != last)
    fail(last, "the smoothed state after the chunk is of step " + std::to_string(after->step) + ", expected " +
                   std::to_string(last));
  check_state(model, *after, "smoothed state after the chunk");
  if (model.motion && meas.steps() > 0 && after->time < meas.times.back())
    fail(last, "time " + std::to_string(after->time) + " is before the previous step's " + std::to_string(meas.times.back()));
  if (!model.motion && meas.steps() > 0 && !model.transition.defined_at(last - 1))
    fail(last - 1, "the time-varying transition table does not cover this step");
}

double dt_into(const Measurements& meas, const std::optional<StepState>& carry_in, std::size_t t) {
  if (meas.times.empty()) return 0.0;
  const double before = t > 0 ? meas.times[t - 1] : (carry_in ? carry_in->time : meas.times[0]);
  return meas.times[t] - before;
}

double dt_out_of(const Measurements& meas, const std::optional<StepState>& after, std::size_t t) {
  if (meas.times.empty()) return 0.0;
  const double next = t + 1 < meas.steps() ? meas.times[t + 1] : (after ? after->time : meas.times[t]);
  return next - meas.times[t];
}

Transition transition_into(const Model& model, const Measurements& meas, const std::optional<StepState>& carry_in,
                           std::size_t t) {
  return model.transition_at(meas.first_step + t - 1, dt_into(meas, carry_in, t));
}

Eigen::VectorXd control_before(const Measurements& meas, const std::optional<StepState>& carry_in, std::size_t t) {
  if (t > 0) return meas.control_dim > 0 && !meas.controls.empty() ? meas.control(t - 1) : Eigen::VectorXd();
  return carry_in ? carry_in->control : Eigen::VectorXd();
}

Transition transition_out_of(const Model& model, const Measurements& meas, const std::optional<StepState>& after,
                             std::size_t t) {
  return model.transition_at(meas.first_step + t, dt_out_of(meas, after, t));
}

}  // namespace kalmanscan::filters::detail
