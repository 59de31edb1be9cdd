// Test references for the filters: random models, simulation, and the dense batch solution —
// the joint Gaussian over all states x_0 … x_{T-1} built directly from the prior, the
// dynamics and the measurements and conditioned with Eigen, independent of every recursion.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <Eigen/Core>

#include "kalmanscan/filters/model.hpp"
#include "kalmanscan/filters/trajectory.hpp"

namespace kalmanscan::filters::testing {

/// A random stable model: n states, sensors of the given sizes, F of spectral radius < 1,
/// positive-definite Q, R, P0; `q_rank` < n makes Q singular of that rank.
Model random_model(int n, const std::vector<int>& sensor_dims, std::uint32_t seed, int q_rank = -1);

/// Simulates `steps` steps from the model (time-invariant or per step), each sensor reporting
/// when step % rates[s] == 0; `missing` is the probability that a component is NaN. Also
/// returns the true states (steps × n). Timestamps t·dt when dt > 0.
Measurements simulate(const Model& model, std::size_t steps, const std::vector<int>& rates, double missing,
                      std::uint32_t seed, std::vector<Eigen::VectorXd>* truth = nullptr, double dt = 0.0);

/// The dense batch solution of a whole log (first_step = 0).
struct Batch {
  std::vector<Eigen::VectorXd> filtered_mean, smoothed_mean;
  std::vector<Eigen::MatrixXd> filtered_cov, smoothed_cov;
  std::vector<Eigen::MatrixXd> cross_cov;  ///< Cov(x_{t+1}, x_t | all)
  double log_likelihood = 0.0;             ///< log N(z; H μ + d, H Σ Hᵀ + R) of the stacked observations
};
Batch batch_solution(const Model& model, const Measurements& meas);

/// ‖a - b‖ / ‖b‖ over the flat buffers (plain relative Frobenius/Euclidean norm); infinite when
/// the sizes differ, so that a missing (empty) result can never pass a tolerance.
template <class T, class U>
double normwise(const std::vector<T>& a, const std::vector<U>& b) {
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - double(b[i])) * (double(a[i]) - double(b[i]));
    den += double(b[i]) * double(b[i]);
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

/// Flattens per-step vectors/matrices (row-major) to compare with a trajectory.
std::vector<double> flatten(const std::vector<Eigen::VectorXd>& v);
std::vector<double> flatten(const std::vector<Eigen::MatrixXd>& m);

/// A stable constant-velocity model in `axes` axes with position sensors (dt constant).
Model constant_velocity(int axes, double q, double sigma);

}  // namespace kalmanscan::filters::testing
