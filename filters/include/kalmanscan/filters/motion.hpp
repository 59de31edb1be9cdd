// Built-in motion models driven by timestamps: random walk, constant velocity and constant
// acceleration in 1, 2 or 3 axes, discretised exactly for a step of dt seconds.
//
// State layout (derivative-major): x = [p_1..p_d, v_1..v_d, a_1..a_d] for d axes, i.e.
// component (k, axis) sits at index k·d + axis, k = 0 position, 1 velocity, 2 acceleration.
//
// Noise convention (continuous white noise on the highest modelled derivative): each axis is
// driven by white noise of spectral density q per second (units: [highest derivative]²·s),
// so with K = order() derivatives the per-axis blocks are, for i, j = 0 … K-1,
//   F_ij(dt) = dt^(j-i) / (j-i)!                                  (j ≥ i, 0 otherwise)
//   Q_ij(dt) = q · dt^(2K-1-i-j) / ((K-1-i)! (K-1-j)! (2K-1-i-j))
// which is, for the three models,
//   random walk           (K = 1, white-noise velocity):     Q = q·dt
//   constant velocity     (K = 2, white-noise acceleration): Q = q·[[dt³/3, dt²/2], [dt²/2, dt]]
//   constant acceleration (K = 3, white-noise jerk):         Q = q·[[dt⁵/20, dt⁴/8, dt³/6],
//                                                                    [dt⁴/8,  dt³/3, dt²/2],
//                                                                    [dt³/6,  dt²/2, dt   ]]
// (Bar-Shalom, Li & Kirubarajan, "Estimation with Applications to Tracking and Navigation",
// §6.2.2 and §6.2.3.) Axes are independent: F = F₁ ⊗ I_d, Q = Q₁ ⊗ I_d.
#pragma once

#include <Eigen/Core>

namespace kalmanscan::filters {

enum class MotionKind { random_walk, constant_velocity, constant_acceleration };

struct MotionModel {
  MotionKind kind = MotionKind::constant_velocity;
  int axes = 1;    ///< 1, 2 or 3
  double q = 1.0;  ///< spectral density of the driving white noise, per second, per axis (≥ 0)

  /// Derivatives per axis in the state: 1, 2 or 3.
  int order() const;
  int state_dim() const { return order() * axes; }
  /// Throws Error unless 1 ≤ axes ≤ 3 and q is finite and ≥ 0.
  void validate() const;
  /// Writes F(dt) and Q(dt) row-major into F[stride·i + j], Q[stride·i + j] for i, j <
  /// state_dim() (no allocation; stride ≥ state_dim()).
  void discretise(double dt, double* F, double* Q, int stride) const;
  /// F(dt) and Q(dt) as above; dt ≥ 0 seconds (dt = 0 gives F = I, Q = 0).
  Eigen::MatrixXd F(double dt) const;
  Eigen::MatrixXd Q(double dt) const;
  /// The measurement matrix that observes the positions: H = [I_d 0 …] (axes × state_dim).
  Eigen::MatrixXd position_matrix() const;
};

}  // namespace kalmanscan::filters
