// The window of steps and the numerics of StreamFilter (stream_filter.hpp), written once over
// Eigen matrices whose capacity is a template parameter: with MaxN = MaxM = inline_capacity every
// vector and matrix lives inline (an update allocates nothing once the window is full); with
// Eigen::Dynamic the same code serves any size from the heap.
//
// The equations are those of the filters library's functional steps, which the tests use as the
// reference (tests/net/stream_filter_test.cpp runs both capacities against them):
//  - predict (filters/kalman.cpp):  m⁻ = F m + B u + c,  P⁻ = F P Fᵀ + Q (symmetrised);
//  - stack_measurement: the components measured at the step, sensor by sensor in model order,
//    y = z − d, H and R restricted to them (R block-diagonal across sensors);
//  - update in Joseph form: ν = y − H m⁻, S = H P⁻ Hᵀ + R, K = P⁻ Hᵀ S⁻¹ (solved with the LLT of
//    S), m = m⁻ + K ν, P = (I − K H) P⁻ (I − K H)ᵀ + K R Kᵀ, NIS = |L⁻¹ ν|²;
//  - rts_step (filters/rts.cpp): G = P F_{+}ᵀ (P⁻_{+})⁺ by an LDLᵀ solve, m_s = m + G (m_s,+ − m⁻_{+}),
//    P_s = P + G (P_s,+ − P⁻_{+}) Gᵀ; the next step's stored prediction is exactly the one
//    rts_step would recompute.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include "filters_model.hpp"
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
  template <int MaxRows, int MaxCols>
  using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor, MaxRows, MaxCols>;
  using StateVec = Eigen::Matrix<double, Eigen::Dynamic, 1, Eigen::ColMajor, MaxN, 1>;
  using StateMat = Mat<MaxN, MaxN>;
  using MeasVec = Eigen::Matrix<double, Eigen::Dynamic, 1, Eigen::ColMajor, MaxM, 1>;
  using MeasMat = Mat<MaxM, MaxM>;
  using ObsMat = Mat<MaxM, MaxN>;   ///< H, m × n
  using GainMat = Mat<MaxN, MaxM>;  ///< K, n × m

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
    ObsMat H, HP;
    MeasMat R, S;
    MeasVec y, nu, w;
    GainMat K, KR;
    StateMat IKH, nn, G, Ps;
    StateVec ms;
    Eigen::LLT<MeasMat> llt;
    Eigen::LDLT<StateMat> ldlt;
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
        w.m_pred.noalias() = F_ * prev.m;
        if (B_.size() && u_.size()) w.m_pred.noalias() += B_ * u_;
        if (c_.size()) w.m_pred += c_;
        sc.nn.noalias() = F_ * prev.P;
        w.P_pred = Q_;
        w.P_pred.noalias() += sc.nn * F_.transpose();
        symmetrise(w.P_pred);
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
      // Gᵀ = (P⁻_{+})⁺ F P by a pivoted LDLᵀ solve (zero pivots give zero components).
      sc.nn.noalias() = next.F * cur.P;
      sc.ldlt.compute(next.P_pred);
      sc.G = sc.ldlt.solve(sc.nn).transpose();
      sc.ms = cur.m + sc.G * (sc.ms - next.m_pred);
      sc.nn.noalias() = sc.G * (sc.Ps - next.P_pred);
      sc.Ps = cur.P;
      sc.Ps.noalias() += sc.nn * sc.G.transpose();
      symmetrise(sc.Ps);
    }
    const Step& first = at(0);
    if (!out.smoothed) out.smoothed.emplace();
    write_estimate(*out.smoothed, step_index - L, first.t, sc.ms, sc.Ps, first.nis, first.dof,
                   proto::EstimateRecord::SMOOTHED, options_.diagonal_only);
  }

 private:
  template <class M>
  static void symmetrise(M& P) {
    for (Eigen::Index i = 0; i < P.rows(); ++i)
      for (Eigen::Index j = 0; j < i; ++j) P(i, j) = P(j, i) = 0.5 * (P(i, j) + P(j, i));
  }

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
    // ν = y − H m⁻,  S = H P⁻ Hᵀ + R (symmetrised).
    sc.nu = sc.y;
    sc.nu.noalias() -= sc.H * w.m_pred;
    sc.HP.noalias() = sc.H * w.P_pred;
    sc.S = sc.R;
    sc.S.noalias() += sc.HP * sc.H.transpose();
    symmetrise(sc.S);
    sc.llt.compute(sc.S);
    if (sc.llt.info() != Eigen::Success || !sc.S.allFinite())
      throw Error("innovation covariance S (" + std::to_string(rows) + "x" + std::to_string(rows) +
                  ") is not positive definite");
    if (!sc.nu.allFinite()) throw Error("innovation ν (" + std::to_string(rows) + "x1) is not finite");
    // NIS = νᵀ S⁻¹ ν = |L⁻¹ ν|².
    sc.w = sc.llt.matrixL().solve(sc.nu);
    w.nis = sc.w.squaredNorm();
    // K = P⁻ Hᵀ S⁻¹, i.e. Kᵀ = S⁻¹ H P⁻.
    sc.K = sc.llt.solve(sc.HP).transpose();
    w.m.noalias() += sc.K * sc.nu;
    // Joseph form: (I − K H) P⁻ (I − K H)ᵀ + K R Kᵀ.
    sc.IKH.setIdentity(n_, n_);
    sc.IKH.noalias() -= sc.K * sc.H;
    sc.nn.noalias() = sc.IKH * w.P_pred;
    w.P.noalias() = sc.nn * sc.IKH.transpose();
    sc.KR.noalias() = sc.K * sc.R;
    w.P.noalias() += sc.KR * sc.K.transpose();
    symmetrise(w.P);
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
