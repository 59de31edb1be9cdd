// Linear-Gaussian state-space models and measurement sequences (DESIGN.md §3).
//
//   x_{t+1} = F_t x_t + B_t u_t + c_t + w_t,   w_t ~ N(0, Q_t)     (the transition t → t+1)
//   z_t^s   = H_t^s x_t + d_t^s + v_t^s,       v_t^s ~ N(0, R_t^s) (sensor s, when it reports at t)
//   x_0 ~ N(m0, P0): the state AT the first step, BEFORE its measurement (no prediction first).
//
// Conventions:
// - The control u_t, stored with step t, drives the transition from step t to step t+1.
// - Q is the discrete per-step covariance and may be singular (positive semi-definite);
//   R must be positive definite; P0 positive semi-definite.
// - A step may carry observations of any subset of the sensors, each at its own rate; an
//   observation's NaN entries are missing components; a step with no observation is a pure
//   prediction step. Noise of different sensors (and of repeated observations) is independent.
// - Steps are indexed globally: a Measurements chunk covers steps first_step … first_step +
//   steps() - 1, and time-varying model entries are looked up by the global index.
// - With a MotionModel the transition between steps t and t+1 is F(dt), Q(dt) for
//   dt = times[t+1] - times[t] (motion.hpp); c = 0 and there is no control.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "kalmanscan/filters/error.hpp"
#include "kalmanscan/filters/motion.hpp"

namespace kalmanscan::filters {

/// A per-step model quantity: one value for all steps (table of size 1, no index), one value
/// per step (table[t], no index), or a small table of distinct values chosen per step by
/// index[t] (e.g. one transition per distinct time step).
template <class V>
struct Varying {
  std::vector<V> table;
  std::vector<std::uint32_t> index;  ///< empty, or one table position per step

  static Varying constant(V v) { return {{std::move(v)}, {}}; }
  static Varying per_step(std::vector<V> v) { return {std::move(v), {}}; }

  bool defined_at(std::size_t t) const {
    if (!index.empty()) return t < index.size();
    return table.size() == 1 || t < table.size();
  }
  /// Position in the table of step t's value. Precondition: defined_at(t) (checked by validate()).
  std::size_t position(std::size_t t) const {
    if (!index.empty()) return index[t];
    return table.size() == 1 ? 0 : t;
  }
  const V& at(std::size_t t) const { return table[position(t)]; }
};

/// The transition from step t to step t+1: x_{t+1} = F x_t + B u_t + c + w, w ~ N(0, Q).
struct Transition {
  Eigen::MatrixXd F;  ///< n × n
  Eigen::MatrixXd Q;  ///< n × n, symmetric positive semi-definite
  Eigen::VectorXd c;  ///< n, or empty for 0
  Eigen::MatrixXd B;  ///< n × control_dim, or empty (no control)
};

/// One sensor's measurement equation at a step: z = H x + d + v, v ~ N(0, R).
struct SensorModel {
  Eigen::MatrixXd H;  ///< m × n
  Eigen::MatrixXd R;  ///< m × m, symmetric positive definite
  Eigen::VectorXd d;  ///< m, or empty for 0
};

struct Sensor {
  std::string name;
  Varying<SensorModel> model;
  /// Measurement size m (rows of the first table entry's H).
  int dim() const { return model.table.empty() ? 0 : static_cast<int>(model.table.front().H.rows()); }
};

struct Model {
  Eigen::VectorXd m0;                 ///< prior mean at the first step, before its measurement
  Eigen::MatrixXd P0;                 ///< prior covariance (positive semi-definite)
  Varying<Transition> transition;     ///< transition.at(t): step t → t+1 (unused when motion is set)
  std::optional<MotionModel> motion;  ///< F(dt), Q(dt) from Measurements::times instead
  std::vector<Sensor> sensors;

  int state_dim() const { return static_cast<int>(m0.size()); }
  /// Size of u_t (columns of B), 0 without controls.
  int control_dim() const;
  /// Throws Error naming the first problem: sizes, non-finite values, P0 or Q not positive
  /// semi-definite, R not positive definite, motion model parameters. Entries of `transition`
  /// and of the sensors' tables are checked once each, whatever their number of steps.
  void validate() const;
  /// The transition of step t → t+1 (global t); dt (seconds) is used by motion models only.
  Transition transition_at(std::size_t t, double dt) const;
};

/// Observations of a run of steps, in compressed layout: step t (local, 0-based) owns the
/// observations step_begin[t] … step_begin[t+1]-1; observation k is of sensor sensor[k] with
/// values values[value_begin[k] … value_begin[k+1]-1] (NaN = missing component).
struct Measurements {
  std::size_t first_step = 0;               ///< global index of local step 0
  std::vector<double> times;                ///< empty, or one timestamp (seconds) per step
  int control_dim = 0;                      ///< size of u_t
  std::vector<double> controls;             ///< empty, or steps() × control_dim (row t = u_t)
  std::vector<std::size_t> step_begin{0};   ///< steps() + 1 entries
  std::vector<std::uint32_t> sensor;        ///< one per observation
  std::vector<std::size_t> value_begin{0};  ///< observations + 1 entries
  std::vector<double> values;

  std::size_t steps() const { return step_begin.size() - 1; }
  std::size_t observations() const { return sensor.size(); }
  /// Opens a new step (with its timestamp when the model is driven by time).
  void add_step(double time = std::numeric_limits<double>::quiet_NaN());
  /// Adds an observation of `sensor_index` to the last step opened (NaN entries = missing).
  void add(std::uint32_t sensor_index, std::span<const double> z);
  void add(std::uint32_t sensor_index, const Eigen::VectorXd& z) {
    add(sensor_index, std::span<const double>(z.data(), std::size_t(z.size())));
  }
  /// Sets u_t for local step t (sizes controls to steps() × u.size() on first use).
  void set_control(std::size_t t, const Eigen::VectorXd& u);

  /// u_t for local step t (zero vector of control_dim when no controls were given).
  Eigen::VectorXd control(std::size_t t) const;
  Eigen::Map<const Eigen::VectorXd> value(std::size_t k) const {
    return {values.data() + value_begin[k], Eigen::Index(value_begin[k + 1] - value_begin[k])};
  }
  /// Throws Error naming the first inconsistency with `model`: layout, sensor indices,
  /// observation sizes, non-finite (other than NaN) values, missing or decreasing timestamps
  /// for a motion model, control sizes, time-varying tables that do not cover the steps.
  void validate(const Model& model) const;
};

}  // namespace kalmanscan::filters
