// The Rauch–Tung–Striebel smoother (Rauch, Tung & Striebel 1965; Särkkä, "Bayesian Filtering and
// Smoothing", 2nd ed., Thm 12.2), functional style.
#pragma once

#include <cstddef>
#include <optional>

#include "kalmanscan/filters/gaussian.hpp"
#include "kalmanscan/filters/model.hpp"
#include "kalmanscan/filters/smooth.hpp"
#include "kalmanscan/filters/trajectory.hpp"

namespace kalmanscan::filters {

/// One backward step, from the filtered state at t and the smoothed state at t+1:
///   m⁻ = F m + B u + c,  P⁻ = F P Fᵀ + Q,
///   G  = P Fᵀ (P⁻)⁺            (solved: Gᵀ = LDLT(P⁻).solve(F P); zero pivots dropped, so a
///                               singular P⁻ works as a pseudo-inverse on its range),
///   mˢ = m + G (mˢ₊ - m⁻),  Pˢ = P + G (Pˢ₊ - P⁻) Gᵀ (symmetrised),
///   Cov(x_{t+1}, x_t | all) = Pˢ₊ Gᵀ (written to *cross when given).
template <class T>
Gaussian<T> rts_step(const Gaussian<T>& filtered, const Gaussian<T>& smoothed_next, const Transition& tr,
                     const Eigen::VectorXd& u, MatX<T>* cross = nullptr);

/// Smooths a filtered run in place (smoothed_mean/cov, and cross_cov when `cross`). `after` is
/// the smoothed state of the step after the run, or none when the run ends the log.
template <class T>
void rts_smooth(const Model& model, const Measurements& meas, BasicTrajectory<T>& trajectory,
                const std::optional<StepState>& after, bool cross);

}  // namespace kalmanscan::filters
