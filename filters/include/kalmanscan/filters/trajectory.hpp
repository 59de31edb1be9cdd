// The result of filtering / smoothing a run of steps, stored flat (no per-step allocation):
// step t (local) has mean [t·n, (t+1)·n) and row-major covariance [t·n², (t+1)·n²).
#pragma once

#include <cstddef>
#include <vector>

#include <Eigen/Core>

namespace kalmanscan::filters {

template <class T>
struct BasicTrajectory {
  using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  std::size_t first_step = 0;  ///< global index of local step 0
  std::size_t steps = 0;
  int n = 0;                   ///< state size

  std::vector<T> filtered_mean, filtered_cov;  ///< p(x_t | z_0..t)
  std::vector<T> smoothed_mean, smoothed_cov;  ///< p(x_t | all); empty when only filtered
  /// Lag-one smoothed cross-covariances C_t = Cov(x_{t+1}, x_t | all), when asked: t = 0 …
  /// steps-2, and t = steps-1 too for a chunk smoothed with the state after it (smooth.hpp).
  std::vector<T> cross_cov;
  /// Normalised innovation squared per step, ν_tᵀ S_t⁻¹ ν_t, with nis_dof[t] = number of
  /// measured components (0 and 0 on steps without a measurement). χ²(nis_dof) if consistent.
  std::vector<T> nis;
  std::vector<int> nis_dof;
  /// log p(z_0..z_{T-1}) of this run (given the carry for a continued chunk), natural log.
  double log_likelihood = 0.0;

  /// Sizes the filtered and diagnostic buffers (zeros); smoothed and cross buffers are sized
  /// by the smoother.
  void resize(std::size_t steps_, int n_) {
    steps = steps_;
    n = n_;
    const std::size_t nn = std::size_t(n_) * n_;
    filtered_mean.assign(steps_ * n_, T(0));
    filtered_cov.assign(steps_ * nn, T(0));
    smoothed_mean.clear(), smoothed_cov.clear(), cross_cov.clear();
    nis.assign(steps_, T(0));
    nis_dof.assign(steps_, 0);
  }

  Eigen::Map<const Vector> filtered_mean_at(std::size_t t) const { return {filtered_mean.data() + t * n, n}; }
  Eigen::Map<const Matrix> filtered_cov_at(std::size_t t) const { return {filtered_cov.data() + t * n * n, n, n}; }
  Eigen::Map<const Vector> smoothed_mean_at(std::size_t t) const { return {smoothed_mean.data() + t * n, n}; }
  Eigen::Map<const Matrix> smoothed_cov_at(std::size_t t) const { return {smoothed_cov.data() + t * n * n, n, n}; }
  Eigen::Map<const Matrix> cross_cov_at(std::size_t t) const { return {cross_cov.data() + t * n * n, n, n}; }
  Eigen::Map<Vector> filtered_mean_at(std::size_t t) { return {filtered_mean.data() + t * n, n}; }
  Eigen::Map<Matrix> filtered_cov_at(std::size_t t) { return {filtered_cov.data() + t * n * n, n, n}; }
  Eigen::Map<Vector> smoothed_mean_at(std::size_t t) { return {smoothed_mean.data() + t * n, n}; }
  Eigen::Map<Matrix> smoothed_cov_at(std::size_t t) { return {smoothed_cov.data() + t * n * n, n, n}; }
  Eigen::Map<Matrix> cross_cov_at(std::size_t t) { return {cross_cov.data() + t * n * n, n, n}; }

  /// The same trajectory in another precision.
  template <class U>
  BasicTrajectory<U> cast() const {
    BasicTrajectory<U> r;
    r.first_step = first_step, r.steps = steps, r.n = n, r.log_likelihood = log_likelihood;
    auto conv = [](const std::vector<T>& v) { return std::vector<U>(v.begin(), v.end()); };
    r.filtered_mean = conv(filtered_mean), r.filtered_cov = conv(filtered_cov);
    r.smoothed_mean = conv(smoothed_mean), r.smoothed_cov = conv(smoothed_cov);
    r.cross_cov = conv(cross_cov), r.nis = conv(nis), r.nis_dof = nis_dof;
    return r;
  }
};

using Trajectory = BasicTrajectory<double>;

}  // namespace kalmanscan::filters
