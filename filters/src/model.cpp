#include "kalmanscan/filters/model.hpp"

#include <cmath>
#include <string>

#include "checks.hpp"

namespace kalmanscan::filters {

using detail::check_covariance;
using detail::check_shape;
using detail::Definiteness;

namespace {

template <class V>
void check_varying(const Varying<V>& v, const std::string& name) {
  if (v.table.empty()) fail(no_step, name + ": empty table");
  for (std::size_t t = 0; t < v.index.size(); ++t)
    if (v.index[t] >= v.table.size())
      fail(t, name + ": index " + std::to_string(v.index[t]) + " outside the table of " +
                  std::to_string(v.table.size()) + " entries");
}

std::string entry_name(const std::string& name, std::size_t k) { return name + ".table[" + std::to_string(k) + "]"; }

}  // namespace

int Model::control_dim() const {
  if (motion || transition.table.empty()) return 0;
  return static_cast<int>(transition.table.front().B.cols());
}

void Model::validate() const {
  const Eigen::Index n = m0.size();
  if (n == 0) fail(no_step, "prior mean m0 is empty (state size 0)");
  check_shape(m0, n, 1, no_step, "prior mean m0");
  check_covariance(P0, n, no_step, "prior covariance P0", Definiteness::semi);
  if (motion) {
    motion->validate();
    if (motion->state_dim() != n)
      fail(no_step, "motion model has state size " + std::to_string(motion->state_dim()) + " but m0 has " +
                        std::to_string(n));
  } else {
    check_varying(transition, "transition");
    const Eigen::Index k = transition.table.front().B.cols();
    for (std::size_t e = 0; e < transition.table.size(); ++e) {
      const Transition& tr = transition.table[e];
      const std::string nm = entry_name("transition", e);
      check_shape(tr.F, n, n, no_step, nm + ".F");
      check_covariance(tr.Q, n, no_step, nm + ".Q", Definiteness::semi);
      if (tr.c.size() != 0) check_shape(tr.c, n, 1, no_step, nm + ".c");
      if (tr.B.size() != 0 || k != 0) check_shape(tr.B, n, k, no_step, nm + ".B");
    }
  }
  for (std::size_t s = 0; s < sensors.size(); ++s) {
    const std::string sn = "sensor " + std::to_string(s) + (sensors[s].name.empty() ? "" : " (" + sensors[s].name + ")");
    check_varying(sensors[s].model, sn);
    const Eigen::Index m = sensors[s].dim();
    if (m == 0) fail(no_step, sn + ": measurement size 0");
    for (std::size_t e = 0; e < sensors[s].model.table.size(); ++e) {
      const SensorModel& sm = sensors[s].model.table[e];
      const std::string nm = entry_name(sn, e);
      check_shape(sm.H, m, n, no_step, nm + ".H");
      check_covariance(sm.R, m, no_step, nm + ".R", Definiteness::positive);
      if (sm.d.size() != 0) check_shape(sm.d, m, 1, no_step, nm + ".d");
    }
  }
}

Transition Model::transition_at(std::size_t t, double dt) const {
  if (motion) return {motion->F(dt), motion->Q(dt), {}, {}};
  return transition.at(t);
}

void Measurements::add_step(double time) {
  step_begin.push_back(sensor.size());
  if (!std::isnan(time) || !times.empty()) {
    times.resize(steps() - 1, std::numeric_limits<double>::quiet_NaN());
    times.push_back(time);
  }
  if (control_dim > 0) controls.resize(steps() * control_dim, 0.0);
}

void Measurements::add(std::uint32_t sensor_index, std::span<const double> z) {
  if (steps() == 0) fail(no_step, "Measurements::add before add_step");
  sensor.push_back(sensor_index);
  values.insert(values.end(), z.begin(), z.end());
  value_begin.push_back(values.size());
  step_begin.back() = sensor.size();
}

void Measurements::set_control(std::size_t t, const Eigen::VectorXd& u) {
  if (control_dim == 0) control_dim = static_cast<int>(u.size());
  if (u.size() != control_dim)
    fail(first_step + t, "control u has size " + std::to_string(u.size()) + ", expected " + std::to_string(control_dim));
  controls.resize(steps() * control_dim, 0.0);
  for (int i = 0; i < control_dim; ++i) controls[t * control_dim + i] = u[i];
}

Eigen::VectorXd Measurements::control(std::size_t t) const {
  if (control_dim == 0 || controls.empty()) return Eigen::VectorXd::Zero(control_dim);
  return Eigen::Map<const Eigen::VectorXd>(controls.data() + t * control_dim, control_dim);
}

void Measurements::validate(const Model& model) const {
  const std::size_t T = steps();
  if (step_begin.empty() || step_begin.front() != 0 || step_begin.back() != sensor.size())
    fail(no_step, "measurements: step_begin must start at 0 and end at the number of observations (" +
                      std::to_string(sensor.size()) + ")");
  if (value_begin.size() != sensor.size() + 1 || value_begin.front() != 0 || value_begin.back() != values.size())
    fail(no_step, "measurements: value_begin must have observations + 1 entries, from 0 to values.size()");
  if (!times.empty() && times.size() != T)
    fail(no_step, "measurements: " + std::to_string(times.size()) + " timestamps for " + std::to_string(T) + " steps");
  if (model.motion) {
    if (times.size() != T) fail(no_step, "measurements: the motion model needs one timestamp per step");
    for (std::size_t t = 0; t < T; ++t) {
      if (!std::isfinite(times[t])) fail(first_step + t, "timestamp is not finite");
      if (t > 0 && times[t] < times[t - 1])
        fail(first_step + t, "timestamp " + std::to_string(times[t]) + " is before the previous step's " +
                                 std::to_string(times[t - 1]));
    }
  }
  if (control_dim != 0 || !controls.empty()) {
    if (control_dim != model.control_dim())
      fail(no_step, "measurements: controls of size " + std::to_string(control_dim) + " but the transition's B has " +
                        std::to_string(model.control_dim()) + " columns");
    if (controls.size() != T * std::size_t(control_dim))
      fail(no_step, "measurements: " + std::to_string(controls.size()) + " control values, expected steps x control_dim = " +
                        std::to_string(T * control_dim));
    for (std::size_t i = 0; i < controls.size(); ++i)
      if (!std::isfinite(controls[i])) fail(first_step + i / control_dim, "control u has a non-finite entry");
  }
  if (!model.motion && T > 1 && !model.transition.defined_at(first_step + T - 2))
    fail(first_step + T - 2, "the time-varying transition table does not cover this step");
  for (std::size_t t = 0; t < T; ++t) {
    if (step_begin[t + 1] < step_begin[t]) fail(first_step + t, "measurements: step_begin decreases");
    for (std::size_t k = step_begin[t]; k < step_begin[t + 1]; ++k) {
      const std::uint32_t s = sensor[k];
      if (s >= model.sensors.size())
        fail(first_step + t, "observation of sensor " + std::to_string(s) + ", but the model has " +
                                 std::to_string(model.sensors.size()) + " sensors");
      if (value_begin[k + 1] < value_begin[k]) fail(first_step + t, "measurements: value_begin decreases");
      const std::size_t m = value_begin[k + 1] - value_begin[k];
      if (m != std::size_t(model.sensors[s].dim()))
        fail(first_step + t, "observation of sensor " + std::to_string(s) + " has " + std::to_string(m) +
                                 " values, expected " + std::to_string(model.sensors[s].dim()));
      if (!model.sensors[s].model.defined_at(first_step + t))
        fail(first_step + t, "the time-varying model of sensor " + std::to_string(s) + " does not cover this step");
      for (std::size_t i = value_begin[k]; i < value_begin[k + 1]; ++i)
        if (std::isinf(values[i]))
          fail(first_step + t, "observation of sensor " + std::to_string(s) + " has an infinite value (NaN marks missing)");
    }
  }
}

}  // namespace kalmanscan::filters
