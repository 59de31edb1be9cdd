#include "kalmanscan/filters/motion.hpp"

#include <cmath>
#include <string>

#include "kalmanscan/filters/error.hpp"

namespace kalmanscan::filters {

int MotionModel::order() const {
  switch (kind) {
    case MotionKind::random_walk: return 1;
    case MotionKind::constant_velocity: return 2;
    case MotionKind::constant_acceleration: return 3;
  }
  return 0;
}

void MotionModel::validate() const {
  if (axes < 1 || axes > 3) fail(no_step, "motion model: axes = " + std::to_string(axes) + ", expected 1, 2 or 3");
  if (!std::isfinite(q) || q < 0) fail(no_step, "motion model: spectral density q = " + std::to_string(q) + ", expected finite and >= 0");
  if (order() == 0) fail(no_step, "motion model: unknown kind");
}

namespace {
double factorial(int k) { return k <= 1 ? 1.0 : k * factorial(k - 1); }
}  // namespace

void MotionModel::discretise(double dt, double* F, double* Q, int stride) const {
  const int K = order(), n = state_dim();
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) F[i * stride + j] = Q[i * stride + j] = 0.0;
  for (int i = 0; i < K; ++i)
    for (int j = 0; j < K; ++j) {
      const int p = 2 * K - 1 - i - j;  // power of dt in Q_ij, ≥ 1
      const double f = j >= i ? std::pow(dt, j - i) / factorial(j - i) : 0.0;
      const double v = q * std::pow(dt, p) / (factorial(K - 1 - i) * factorial(K - 1 - j) * p);
      for (int a = 0; a < axes; ++a) {
        F[(i * axes + a) * stride + j * axes + a] = f;
        Q[(i * axes + a) * stride + j * axes + a] = v;
      }
    }
}

Eigen::MatrixXd MotionModel::F(double dt) const {
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> F(state_dim(), state_dim()), Q(state_dim(), state_dim());
  discretise(dt, F.data(), Q.data(), state_dim());
  return F;
}

Eigen::MatrixXd MotionModel::Q(double dt) const {
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> F(state_dim(), state_dim()), Q(state_dim(), state_dim());
  discretise(dt, F.data(), Q.data(), state_dim());
  return Q;
}

Eigen::MatrixXd MotionModel::position_matrix() const {
  return Eigen::MatrixXd::Identity(axes, state_dim());
}

}  // namespace kalmanscan::filters
