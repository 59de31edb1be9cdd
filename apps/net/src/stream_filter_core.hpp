// The window of steps and the numerics of StreamFilter (stream_filter.hpp), written once over
// Eigen matrices whose capacity is a template parameter: with MaxN = MaxM = inline_capacity every
// vector and matrix lives inline (an update allocates nothing once the window is full); with
// Eigen::Dynamic the same code serves any size from the heap.
//
// The numerics are the filters library's step functions (kalmanscan/filters/kalman_steps.hpp:
// predict, innovate, joseph_update, rts_step), instantiated for these capacities; this file
// keeps only the service's own logic: the window of steps, stacking the measured components of
// the current step, and the fixed-lag backward pass over the window, whose stored predictions
// are exactly the ones rts_step is given offline. The tests (tests/net/stream_filter_test.cpp)
// run both capacities against the library's sequential filter and RTS smoother.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "filters_model.hpp"
#include "kalmanscan/filters/kalman_steps.hpp"
#include "kalmanscan/filters/model.hpp"
#include "kalmanscan/net/error.hpp"
#include "kalmanscan/net/stream_filter.hpp"

namespace kalmanscan::net {

class StreamFilter::Core {
 public:
  virtual ~Core() = default;
  /// The checks that depend on the window (late, duplicate component or control); `sensor` is
  /// the record's sensor, already validated against the model.
  virtual void validate_step(const proto::LogRecord& record, std::size_t sensor) const = 0;
  /// Applies a validated record; fills `out`. Throws Error(ERROR_NUMERICAL) with the filter unchanged.
  virtual void update(const proto::LogRecord& record, std::size_t sensor, Output& out) = 0;
  virtual std::uint64_t steps() const = 0;
  virtual bool inline_storage() const = 0;
};

namespace detail {

std::string number(double v);

/// Writes a Gaussian estimate into `rec`, reusing its storage.
template <class V, class M>
void write_estimate(proto::EstimateRecord& rec, std::uint64_t step, double t, const V& mean, const M& cov, double nis,
                    int dof, proto::EstimateRecord::Kind kind, bool diagonal_only) {
  rec.Clear();
  rec.set_step(step);
  rec.set_timestamp(t);
  rec.set_kind(kind);
  const auto n = mean.size();
  for (Eigen::Index i = 0; i < n; ++i) rec.add_mean(mean[i]);
  if (!diagonal_only)
    for (Eigen::Index i = 0; i < n; ++i)
      for (Eigen::Index j = 0; j < n; ++j) rec.add_covariance(cov(i, j));
  for (Eigen::Index i = 0; i < n; ++i) rec.add_std_dev(std::sqrt(std::max(cov(i, i), 0.0)));
  rec.set_nis(nis);
  rec.set_nis_dof(static_cast<std::uint32_t>(dof));
}

template <int MaxN, int MaxM>
class StreamFilterCore final : public StreamFilter::Core {
  using Ty = filters::steps::Types<double, MaxN, MaxM>;
  using StateVec = typename Ty::StateVec;
  using StateMat = typename Ty::StateMat;
  using MeasVec = typename Ty::MeasVec;
  using MeasMat = typename Ty::MeasMat;
  using ObsMat = typename Ty::ObsMat;

  struct Step {
    double t = 0;
    MeasVec z;     ///< stacked measurement so far (NaN = not measured)
    StateMat F;    ///< the transition into this step (unused for the first step)
    StateVec m_pred, m;
    StateMat P_pred, P;
    double nis = 0;
    int dof = 0;
  };
  /// Working storage of one update. Nothing in it outlives a call, so one per thread serves
  /// every stream (keeping per-stream memory, and cache misses across many streams, small).
  struct Scratch {
    Step work;
    ObsMat H;  ///< the stacked measurement of the step: H, R, y = z − d
    MeasMat R;
    MeasVec y;
    StateMat Ps;  ///< the fixed-lag backward pass
    StateVec ms;
    filters::steps::Workspace<double, MaxN, MaxM> ws;
  };
  static Scratch& scratch() {
    thread_local Scratch s;
    return s;
  }
  struct SensorModel {
    ObsMat H;
    MeasMat R;
    MeasVec d;
  };

 public:
  StreamFilterCore(const formats::Model& model, StreamFilterOptions options)
      : model_(model), fmodel_(to_filters_model(model)), options_(options),
        n_(static_cast<Eigen::Index>(model.state_dim())), m_(static_cast<Eigen::Index>(model.measurement_dim())),
        u_(Eigen::VectorXd::Zero(static_cast<Eigen::Index>(model.control_dim()))),
        u_given_(model.control_dim(), 0), ring_(options.smoothing_lag + 1) {
    for (const auto& s : fmodel_.sensors) {
      const filters::SensorModel& sm = s.model.table.front();  // the service's models are constant
      sensors_.push_back({sm.H, sm.R, sm.d.size() ? MeasVec(sm.d) : MeasVec(MeasVec::Zero(sm.H.rows()))});
    }
    if (!fmodel_.motion) set_transition(fmodel_.transition.table.front());
  }

  std::uint64_t steps() const override { return steps_; }
  bool inline_storage() const override { return MaxN != Eigen::Dynamic; }

  void validate_step(const proto::LogRecord& record, std::size_t sensor) const override {
    if (size_ == 0) return;
    const Step& cur = back();
    const double t = record.timestamp();
    if (t < cur.t)
      throw Error("timestamp: " + number(t) + " is earlier than the stream's current step at " + number(cur.t) +
                      " (late measurements are rejected)",
                  proto::ERROR_OUT_OF_ORDER);
    if (t > cur.t) return;
    // Same timestamp: the record joins the current step, as the offline reader does.
    const auto& layout = model_.sensors()[sensor];
    for (int i = 0; i < record.values_size(); ++i)
      if (!std::isnan(record.values(i)) && !std::isnan(cur.z[static_cast<Eigen::Index>(layout.offset) + i]))
        throw Error("values[" + std::to_string(i) + "]: sensor '" + layout.name + "' component already measured at " +
                    number(t));
    for (int j = 0; j < record.controls_size(); ++j)
      if (!std::isnan(record.controls(j)) && u_given_[j] && u_[j] != record.controls(j))
        throw Error("controls[" + std::to_string(j) + "]: already " + number(u_[j]) + " at " + number(t) + ", found " +
                    number(record.controls(j)));
  }

  void update(const proto::LogRecord& record, std::size_t sensor, StreamFilter::Output& out) override {
    Scratch& sc = scratch();
    const double t = record.timestamp();
    const bool new_step = size_ == 0 || t > back().t;
    const std::uint64_t step_index = new_step ? steps_ : steps_ - 1;

    // Build the step this record lands in (sc.work), without touching the window yet.
    Step& w = sc.work;
    if (new_step) {
      w.t = t;
      w.z.setConstant(m_, std::numeric_limits<double>::quiet_NaN());
      if (size_ == 0) {
        // The prior describes the first step before its measurement: no prediction.
        w.m_pred = model_.m0();
        w.P_pred = model_.P0();
      } else {
        // Predict from the previous step with the controls held at its end.
        const Step& prev = back();
        if (fmodel_.motion && t - prev.t != cached_dt_) {
          set_transition(fmodel_.transition_at(step_index - 1, t - prev.t));
          cached_dt_ = t - prev.t;
        }
        w.F = F_;
        filters::steps::predict(F_, Q_, B_, u_, c_, prev.m, prev.P, w.m_pred, w.P_pred, sc.ws);
      }
    } else {
      w = back();
    }
    const auto& layout = model_.sensors()[sensor];
    for (int i = 0; i < record.values_size(); ++i)
      if (!std::isnan(record.values(i))) w.z[static_cast<Eigen::Index>(layout.offset) + i] = record.values(i);

    try {
      joint_update(w);
    } catch (const Error& e) {
      throw Error("update at timestamp " + number(t) + " (step " + std::to_string(step_index) + "): " + e.what(),
                  proto::ERROR_NUMERICAL);
    }

    // Commit.
    if (new_step) std::fill(u_given_.begin(), u_given_.end(), 0);
    for (int j = 0; j < record.controls_size(); ++j)
      if (!std::isnan(record.controls(j))) {
        u_[j] = record.controls(j);
        u_given_[j] = 1;
      }
    if (new_step) {
      if (size_ == ring_.size()) head_ = (head_ + 1) % ring_.size();
      else ++size_;
      ++steps_;
    }
    std::swap(back(), w);

    const Step& last = back();
    write_estimate(out.filtered, step_index, last.t, last.m, last.P, last.nis, last.dof,
                   proto::EstimateRecord::FILTERED, options_.diagonal_only);
    const unsigned L = options_.smoothing_lag;
    if (L == 0 || size_ < L + 1) {
      out.smoothed.reset();
      return;
    }
    // Fixed-lag RTS over the window: from the current step (smoothed = filtered) back L steps.
    sc.ms = last.m;
    sc.Ps = last.P;
    for (std::size_t j = size_ - 1; j-- > 0;) {
      const Step& cur = at(j);
      const Step& next = at(j + 1);
      filters::steps::rts_step(next.F, cur.m, cur.P, next.m_pred, next.P_pred, sc.ms, sc.Ps, sc.ms, sc.Ps, sc.ws);
    }
    const Step& first = at(0);
    if (!out.smoothed) out.smoothed.emplace();
    write_estimate(*out.smoothed, step_index - L, first.t, sc.ms, sc.Ps, first.nis, first.dof,
                   proto::EstimateRecord::SMOOTHED, options_.diagonal_only);
  }

 private:
  void set_transition(const filters::Transition& tr) {
    F_ = tr.F;
    Q_ = tr.Q;
    c_ = tr.c;
    B_ = tr.B;
  }

  /// The step's update from its prediction with everything measured at its timestamp (Joseph form).
  void joint_update(Step& w) {
    Scratch& sc = scratch();
    // Stack the measured components (stack_measurement's layout).
    Eigen::Index rows = 0;
    for (const auto& layout : model_.sensors())
      for (std::size_t i = 0; i < layout.size; ++i) rows += std::isnan(w.z[static_cast<Eigen::Index>(layout.offset + i)]) ? 0 : 1;
    w.dof = static_cast<int>(rows);
    w.nis = 0;
    w.m = w.m_pred;
    w.P = w.P_pred;
    if (rows == 0) return;
    sc.H.setZero(rows, n_);
    sc.R.setZero(rows, rows);
    sc.y.resize(rows);
    Eigen::Index row = 0;
    for (std::size_t s = 0; s < sensors_.size(); ++s) {
      const auto& layout = model_.sensors()[s];
      const SensorModel& sm = sensors_[s];
      const Eigen::Index first = row;
      for (std::size_t i = 0; i < layout.size; ++i) {
        const double v = w.z[static_cast<Eigen::Index>(layout.offset + i)];
        if (std::isnan(v)) continue;
        const auto ii = static_cast<Eigen::Index>(i);
        sc.H.row(row) = sm.H.row(ii);
        sc.y[row] = v - sm.d[ii];
        // R restricted to the measured components of this sensor.
        Eigen::Index col = first;
        for (std::size_t k = 0; k < layout.size; ++k)
          if (!std::isnan(w.z[static_cast<Eigen::Index>(layout.offset + k)])) sc.R(row, col++) = sm.R(ii, static_cast<Eigen::Index>(k));
        ++row;
      }
    }
    switch (filters::steps::innovate(w.m_pred, w.P_pred, sc.H, sc.y, sc.R, sc.ws)) {
      case filters::steps::InnovationStatus::not_positive_definite:
        throw Error("innovation covariance S (" + std::to_string(rows) + "x" + std::to_string(rows) +
                    ") is not positive definite");
      case filters::steps::InnovationStatus::not_finite:
        throw Error("innovation ν (" + std::to_string(rows) + "x1) is not finite");
      case filters::steps::InnovationStatus::ok: break;
    }
    w.nis = sc.ws.nis;
    filters::steps::joseph_update(w.m_pred, w.P_pred, sc.H, sc.R, sc.ws, w.m, w.P);
    if (!w.m.allFinite() || !w.P.allFinite()) throw Error("filtered state is not finite");
  }

  Step& back() { return at(size_ - 1); }
  const Step& back() const { return at(size_ - 1); }
  /// The j-th step of the window, oldest first.
  Step& at(std::size_t j) { return ring_[(head_ + j) % ring_.size()]; }
  const Step& at(std::size_t j) const { return ring_[(head_ + j) % ring_.size()]; }

  const formats::Model& model_;
  filters::Model fmodel_;
  StreamFilterOptions options_;
  Eigen::Index n_, m_;
  Eigen::VectorXd u_;            ///< controls held so far
  std::vector<char> u_given_;    ///< controls given at the current step's timestamp
  std::vector<Step> ring_;       ///< the last min(L + 1, steps) steps, oldest at head_
  std::size_t head_ = 0, size_ = 0;
  std::uint64_t steps_ = 0;
  std::vector<SensorModel> sensors_;
  // The transition in use: explicit dynamics, or the motion model at cached_dt_.
  StateMat F_, Q_;
  Eigen::VectorXd c_;
  Eigen::MatrixXd B_;
  double cached_dt_ = -1;
};

}  // namespace detail
}  // namespace kalmanscan::net
