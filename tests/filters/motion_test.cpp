// The built-in motion models against the continuous-time definitions: F(dt) = exp(A dt) and
// Q(dt) = ∫₀^dt exp(A s) L q Lᵀ exp(A s)ᵀ ds, evaluated independently (series for the nilpotent
// A, composite Simpson quadrature for the integral), and the semigroup property.
#include <gtest/gtest.h>

#include <string>

#include "kalmanscan/filters/motion.hpp"

namespace kalmanscan::filters {
namespace {

/// exp(A s) for a nilpotent A (A^k = 0 for k ≥ dim): the finite Taylor series.
Eigen::MatrixXd expm_nilpotent(const Eigen::MatrixXd& A, double s) {
  Eigen::MatrixXd r = Eigen::MatrixXd::Identity(A.rows(), A.cols()), term = r;
  for (int k = 1; k < A.rows(); ++k) {
    term = term * A * s / k;
    r += term;
  }
  return r;
}

TEST(Motion, MatchesContinuousTimeDefinitions) {
  for (MotionKind kind : {MotionKind::random_walk, MotionKind::constant_velocity, MotionKind::constant_acceleration})
    for (int axes = 1; axes <= 3; ++axes) {
      const MotionModel mm{kind, axes, 0.7};
      SCOPED_TRACE("order " + std::to_string(mm.order()) + ", axes " + std::to_string(axes));
      const int n = mm.state_dim(), K = mm.order();
      // dx/dt = A x + L w: each derivative drives the one below it, noise on the highest.
      Eigen::MatrixXd A = Eigen::MatrixXd::Zero(n, n), L = Eigen::MatrixXd::Zero(n, axes);
      for (int k = 0; k + 1 < K; ++k) A.block(k * axes, (k + 1) * axes, axes, axes).setIdentity();
      L.block((K - 1) * axes, 0, axes, axes).setIdentity();
      const double dt = 0.37;
      EXPECT_LE((mm.F(dt) - expm_nilpotent(A, dt)).norm(), 1e-14);
      const int intervals = 200;  // Simpson: the integrand is a polynomial of degree ≤ 4 in s
      Eigen::MatrixXd Q = Eigen::MatrixXd::Zero(n, n);
      for (int i = 0; i <= intervals; ++i) {
        const double s = dt * i / intervals, w = (i == 0 || i == intervals) ? 1 : (i % 2 ? 4 : 2);
        const Eigen::MatrixXd E = expm_nilpotent(A, s);
        Q += w * E * L * mm.q * L.transpose() * E.transpose();
      }
      Q *= dt / intervals / 3;
      EXPECT_LE((mm.Q(dt) - Q).norm(), 1e-12 * Q.norm());
      // Semigroup: two steps of dt₁ and dt₂ equal one of dt₁ + dt₂.
      const double d1 = 0.2, d2 = 0.45;
      const Eigen::MatrixXd Q2 = mm.F(d2) * mm.Q(d1) * mm.F(d2).transpose() + mm.Q(d2);
      EXPECT_LE((Q2 - mm.Q(d1 + d2)).norm(), 1e-13 * Q2.norm());
      EXPECT_LE((mm.F(d2) * mm.F(d1) - mm.F(d1 + d2)).norm(), 1e-13);
      EXPECT_EQ(mm.position_matrix().rows(), axes);
    }
}

TEST(Motion, ConstantVelocityClosedForm) {
  const MotionModel cv{MotionKind::constant_velocity, 1, 2.0};
  const double dt = 0.5;
  Eigen::Matrix2d Q;
  Q << dt * dt * dt / 3, dt * dt / 2, dt * dt / 2, dt;
  EXPECT_LE((cv.Q(dt) - 2.0 * Q).norm(), 1e-15);
}

}  // namespace
}  // namespace kalmanscan::filters
