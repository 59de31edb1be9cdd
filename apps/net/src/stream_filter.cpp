#include "kalmanscan/net/stream_filter.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "filters_model.hpp"
#include "kalmanscan/filters/error.hpp"
#include "kalmanscan/filters/kalman.hpp"
#include "kalmanscan/filters/rts.hpp"
#include "kalmanscan/net/error.hpp"

namespace kalmanscan::net {

namespace {
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
constexpr double nan = std::numeric_limits<double>::quiet_NaN();
}  // namespace

StreamFilter::StreamFilter(std::shared_ptr<const formats::Model> model, StreamFilterOptions options)
    : model_(std::move(model)), fmodel_(detail::to_filters_model(*model_)), options_(options), u_(Eigen::VectorXd::Zero(model_->control_dim())) {
  if (options.smoothing_lag > max_smoothing_lag)
    throw Error("smoothing_lag: expected at most " + std::to_string(max_smoothing_lag) + ", found " +
                std::to_string(options.smoothing_lag));
}

std::size_t StreamFilter::sensor_index(const proto::LogRecord& record) const {
  const auto& sensors = model_->sensors();
  if (record.sensor().empty()) {
    if (sensors.size() == 1) return 0;
    throw Error("sensor: empty, but the model has " + std::to_string(sensors.size()) + " sensors; name one");
  }
  for (std::size_t s = 0; s < sensors.size(); ++s)
    if (sensors[s].name == record.sensor()) return s;
  throw Error("sensor: '" + record.sensor().substr(0, 64) + "' is not a sensor of the model");
}

void StreamFilter::validate(const proto::LogRecord& record) const {
  const double t = record.timestamp();
  if (!std::isfinite(t)) throw Error("timestamp: expected a finite number, found " + number(t));
  const auto& sensor = model_->sensors()[sensor_index(record)];
  if (static_cast<std::size_t>(record.values_size()) != sensor.size)
    throw Error("values: sensor '" + sensor.name + "' has " + std::to_string(sensor.size) + " components, found " +
                std::to_string(record.values_size()));
  for (int i = 0; i < record.values_size(); ++i)
    if (std::isinf(record.values(i)))
      throw Error("values[" + std::to_string(i) + "]: expected a finite number or NaN (missing), found " +
                  number(record.values(i)));
  const std::size_t k = model_->control_dim();
  if (record.controls_size() != 0 && static_cast<std::size_t>(record.controls_size()) != k)
    throw Error("controls: the model has " + std::to_string(k) + " control inputs, found " +
                std::to_string(record.controls_size()));
  for (int j = 0; j < record.controls_size(); ++j)
    if (std::isinf(record.controls(j)))
      throw Error("controls[" + std::to_string(j) + "]: expected a finite number or NaN (held), found " +
                  number(record.controls(j)));
  if (window_.empty()) return;
  const StepState& cur = window_.back();
  if (t < cur.t)
    throw Error("timestamp: " + number(t) + " is earlier than the stream's current step at " + number(cur.t) +
                    " (late measurements are rejected)",
                proto::ERROR_OUT_OF_ORDER);
  if (t > cur.t) return;
  // Same timestamp: the record joins the current step, as the offline reader does.
  for (int i = 0; i < record.values_size(); ++i)
    if (!std::isnan(record.values(i)) && !std::isnan(cur.z[static_cast<Eigen::Index>(sensor.offset) + i]))
      throw Error("values[" + std::to_string(i) + "]: sensor '" + sensor.name + "' component already measured at " +
                  number(t));
  for (int j = 0; j < record.controls_size(); ++j)
    if (!std::isnan(record.controls(j)) && cur.u_given[j] && u_[j] != record.controls(j))
      throw Error("controls[" + std::to_string(j) + "]: already " + number(u_[j]) + " at " + number(t) + ", found " +
                  number(record.controls(j)));
}

StreamFilter::Output StreamFilter::update(const proto::LogRecord& record) {
  validate(record);
  const formats::Model& M = *model_;
  const double t = record.timestamp();
  const std::size_t s = sensor_index(record);
  const auto& sensor = M.sensors()[s];
  const bool new_step = window_.empty() || t > window_.back().t;
  const std::uint64_t step_index = new_step ? steps_ : steps_ - 1;

  // Build the step this record lands in, without touching the filter yet.
  StepState step;
  Eigen::VectorXd u = u_;
  try {
    if (new_step) {
      step.t = t;
      step.z = Eigen::VectorXd::Constant(static_cast<Eigen::Index>(M.measurement_dim()), nan);
      step.u_given.assign(M.control_dim(), 0);
      if (window_.empty()) {
        // The prior describes the first step before its measurement: no prediction.
        step.predicted = {M.m0(), M.P0()};
      } else {
        // Predict from the previous step with the controls held at its end.
        const StepState& prev = window_.back();
        step.into = transition(step_index - 1, t - prev.t);
        step.u_into = u_;
        step.predicted = filters::predict<double>(prev.filtered, step.into, step.u_into);
      }
    } else {
      step = window_.back();
    }
    for (int i = 0; i < record.values_size(); ++i)
      if (!std::isnan(record.values(i))) step.z[static_cast<Eigen::Index>(sensor.offset) + i] = record.values(i);
    for (int j = 0; j < record.controls_size(); ++j)
      if (!std::isnan(record.controls(j))) {
        u[j] = record.controls(j);
        step.u_given[j] = 1;
      }

    // Joint update of the step from its prediction with everything measured at this timestamp:
    // one observation per sensor with any component measured, as the offline reader stacks them.
    filters::Measurements& meas = scratch_;  // cleared, keeping its capacity
    meas.first_step = step_index;
    meas.times.clear();
    meas.step_begin.assign(1, 0);
    meas.sensor.clear();
    meas.value_begin.assign(1, 0);
    meas.values.clear();
    meas.add_step(t);
    for (std::size_t k = 0; k < M.sensors().size(); ++k) {
      const auto& L = M.sensors()[k];
      const auto zk = step.z.segment(static_cast<Eigen::Index>(L.offset), static_cast<Eigen::Index>(L.size));
      if (!zk.array().isNaN().all()) meas.add(static_cast<std::uint32_t>(k), Eigen::VectorXd(zk));
    }
    filters::Innovation<double> innovation;
    step.filtered = filters::update<double>(step.predicted, filters::stack_measurement<double>(fmodel_, meas, 0),
                                            step_index, &innovation);
    step.nis = innovation.nis;
    step.dof = innovation.dof;
  } catch (const filters::Error& e) {
    throw Error(std::string("update at timestamp ") + number(t) + ": " + e.what(), proto::ERROR_NUMERICAL);
  }

  // Commit.
  u_ = u;
  if (new_step) {
    window_.push_back(std::move(step));
    ++steps_;
    while (window_.size() > options_.smoothing_lag + 1) window_.pop_front();
  } else {
    window_.back() = std::move(step);
  }

  const StepState& last = window_.back();
  Output out;
  out.filtered = to_record(step_index, last.t, last.filtered, last.nis, last.dof, proto::EstimateRecord::FILTERED);
  const unsigned L = options_.smoothing_lag;
  if (L > 0 && window_.size() == L + 1) {
    // Fixed-lag RTS over the window: from the current step (smoothed = filtered) back L steps.
    filters::Gaussian<double> smoothed = last.filtered;
    for (std::size_t j = window_.size() - 1; j-- > 0;)
      smoothed = filters::rts_step<double>(window_[j].filtered, smoothed, window_[j + 1].into, window_[j + 1].u_into);
    const StepState& first = window_.front();
    out.smoothed = to_record(step_index - L, first.t, smoothed, first.nis, first.dof, proto::EstimateRecord::SMOOTHED);
  }
  return out;
}

const filters::Transition& StreamFilter::transition(std::uint64_t step, double dt) {
  if (!fmodel_.motion) return fmodel_.transition.at(step);
  if (dt != cached_dt_) {
    cached_ = fmodel_.transition_at(step, dt);
    cached_dt_ = dt;
  }
  return cached_;
}

proto::EstimateRecord StreamFilter::to_record(std::uint64_t step, double t, const filters::Gaussian<double>& x,
                                              double nis, int dof, proto::EstimateRecord::Kind kind) const {
  proto::EstimateRecord rec;
  rec.set_step(step);
  rec.set_timestamp(t);
  rec.set_kind(kind);
  const auto n = x.mean.size();
  rec.mutable_mean()->Reserve(static_cast<int>(n));
  for (Eigen::Index i = 0; i < n; ++i) rec.add_mean(x.mean[i]);
  if (!options_.diagonal_only) {
    rec.mutable_covariance()->Reserve(static_cast<int>(n * n));
    for (Eigen::Index i = 0; i < n; ++i)
      for (Eigen::Index j = 0; j < n; ++j) rec.add_covariance(x.cov(i, j));
  }
  for (Eigen::Index i = 0; i < n; ++i) rec.add_std_dev(std::sqrt(std::max(x.cov(i, i), 0.0)));
  rec.set_nis(nis);
  rec.set_nis_dof(static_cast<std::uint32_t>(dof));
  return rec;
}

}  // namespace kalmanscan::net
