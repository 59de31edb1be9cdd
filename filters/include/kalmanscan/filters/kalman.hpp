// The sequential covariance Kalman filter, in functional style (GTSAM KalmanFilter-like):
// every function takes states in and returns new states; nothing is stored between calls.
// T is float or double (explicitly instantiated); model quantities are given in double and
// rounded to T. `step` is the global step index, used only to name the step in errors.
#pragma once

#include <cstddef>
#include <optional>

#include <Eigen/Core>

#include "kalmanscan/filters/gaussian.hpp"
#include "kalmanscan/filters/model.hpp"
#include "kalmanscan/filters/smooth.hpp"
#include "kalmanscan/filters/trajectory.hpp"

namespace kalmanscan::filters {

/// All components measured at one step, stacked over the sensors that report there (missing
/// components removed): y = z - d = H x + v, v ~ N(0, R) with R block-diagonal by observation.
template <class T>
struct StackedMeasurement {
  MatX<T> H;  ///< m × n
  VecX<T> y;  ///< m: measured values minus the offsets d
  MatX<T> R;  ///< m × m
  int dim() const { return static_cast<int>(y.size()); }
};

/// Stacks the observations of local step t of `meas` (sensor models at global step first_step + t).
template <class T>
StackedMeasurement<T> stack_measurement(const Model& model, const Measurements& meas, std::size_t t);

/// Prediction through the transition t → t+1:
///   m⁻ = F m + B u + c,   P⁻ = F P Fᵀ + Q   (symmetrised).
/// `u` may be empty when the transition has no B. Discrete, per-step Q.
template <class T>
Gaussian<T> predict(const Gaussian<T>& state, const Transition& tr, const Eigen::VectorXd& u);

/// The innovation of a predicted state against a stacked measurement:
///   ν = y - H m⁻,   S = H P⁻ Hᵀ + R,   NIS = νᵀ S⁻¹ ν,
///   log p(y) = -½ (νᵀ S⁻¹ ν + log det S + m log 2π)        (S factorised by LLT, not inverted).
/// Throws Error naming `step` when S is not positive definite.
template <class T>
struct Innovation {
  VecX<T> nu;
  MatX<T> S;
  T nis = T(0);
  double log_likelihood = 0.0;
  int dof = 0;
};
template <class T>
Innovation<T> innovate(const Gaussian<T>& predicted, const StackedMeasurement<T>& z, std::size_t step);

/// Measurement update in Joseph form (Bucy & Joseph 1968; Bar-Shalom et al. eq. 5.2.3-18):
///   K = P⁻ Hᵀ S⁻¹  (solved with the LLT of S),   m = m⁻ + K ν,
///   P = (I - K H) P⁻ (I - K H)ᵀ + K R Kᵀ           (symmetrised; stays PSD under rounding).
/// An empty measurement returns the predicted state. `innovation`, when given, receives ν, S,
/// NIS and the log-likelihood term. Throws Error naming `step` for a singular S.
template <class T>
Gaussian<T> update(const Gaussian<T>& predicted, const StackedMeasurement<T>& z, std::size_t step,
                   Innovation<T>* innovation = nullptr);

/// Normalised estimation error squared (x - m)ᵀ P⁻¹ (x - m) (solved by LDLT), for a known true
/// state x; χ²(n) when the filter is consistent.
template <class T>
T nees(const Gaussian<T>& estimate, const VecX<T>& truth);

/// The sequential filter over a run of steps: from the prior (no carry_in; no prediction
/// before the first update) or from a carry (predicted into the first step first). Fills the
/// filtered means/covariances, NIS and log-likelihood; writes the last filtered posterior to
/// carry_out when given (or carry_in when the run is empty). Validates model and measurements.
template <class T>
BasicTrajectory<T> kalman_filter(const Model& model, const Measurements& meas, const std::optional<StepState>& carry_in,
                                 StepState* carry_out = nullptr);

}  // namespace kalmanscan::filters
