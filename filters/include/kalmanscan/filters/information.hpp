// The sequential information filter: Y = P⁻¹, y = P⁻¹ m. Its update is additive over sensors,
//   Y⁺ = Y⁻ + Σ_s H_sᵀ R_s⁻¹ H_s,   y⁺ = y⁻ + Σ_s H_sᵀ R_s⁻¹ (z_s - d_s)
// (Maybeck, "Stochastic Models, Estimation and Control" vol. 1, §5.7), with R_s⁻¹ applied by
// LLT solves. Its prediction needs P⁻ = F Y⁻¹ Fᵀ + Q and Y⁻ = (P⁻)⁻¹, obtained as LLT solves
// against the identity, so it requires a positive-definite prior and predicted covariance.
#pragma once

#include <cstddef>

#include <Eigen/Core>

#include "kalmanscan/filters/gaussian.hpp"
#include "kalmanscan/filters/model.hpp"
#include "kalmanscan/filters/trajectory.hpp"

namespace kalmanscan::filters {

template <class T>
struct Information {
  VecX<T> y;  ///< information vector P⁻¹ m
  MatX<T> Y;  ///< information matrix P⁻¹
};

/// (m, P) → (P⁻¹ m, P⁻¹); throws Error naming `what` and `step` unless P is positive definite.
template <class T>
Information<T> to_information(const Gaussian<T>& g, std::size_t step, const char* what);
/// (y, Y) → (Y⁻¹ y, Y⁻¹); throws Error unless Y is positive definite.
template <class T>
Gaussian<T> to_gaussian(const Information<T>& info, std::size_t step);

/// Prediction through the transition t → t+1 (covariance form in between, see above).
template <class T>
Information<T> information_predict(const Information<T>& info, const Transition& tr, const Eigen::VectorXd& u,
                                   std::size_t step);

/// Adds one observation of one sensor (NaN entries of z are skipped).
template <class T>
Information<T> information_update(const Information<T>& info, const SensorModel& sensor,
                                  Eigen::Ref<const Eigen::VectorXd> z, std::size_t step);

/// The information filter over a whole run from the prior; filtered means/covariances only
/// (converted back to moments per step). Validates model and measurements.
template <class T>
BasicTrajectory<T> information_filter(const Model& model, const Measurements& meas);

}  // namespace kalmanscan::filters
