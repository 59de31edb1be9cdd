// The models and logs of the filters benchmarks (CPU and GPU): state/measurement sizes 2/1, 4/2,
// 6/3 (constant velocity in 1, 2, 3 axes with position sensors, dt = 0.1) and any other n
// (12/6, 20/10: a random stable model, F = 0.95·orthogonal, measuring n/2 random combinations).
// Every step is measured with a deterministic signal `measurement(t, i)`.
#pragma once

#include <Eigen/QR>

#include <cmath>
#include <random>

#include "kalmanscan/filters/model.hpp"

namespace kalmanscan::filters::bench {

inline Model model_of_size(int n) {
  Model m;
  m.m0 = Eigen::VectorXd::Zero(n);
  if (n > 6) {
    std::mt19937 rng{unsigned(n)};
    std::normal_distribution<double> nd;
    auto rnd = [&](int r, int c) {
      Eigen::MatrixXd x(r, c);
      for (int i = 0; i < r; ++i)
        for (int j = 0; j < c; ++j) x(i, j) = nd(rng);
      return x;
    };
    m.P0 = Eigen::MatrixXd::Identity(n, n);
    const Eigen::HouseholderQR<Eigen::MatrixXd> qr(rnd(n, n));
    m.transition = Varying<Transition>::constant(
        {0.95 * Eigen::MatrixXd(qr.householderQ()), 0.01 * Eigen::MatrixXd::Identity(n, n), {}, {}});
    m.sensors.push_back({"s", Varying<SensorModel>::constant({rnd(n / 2, n), 0.25 * Eigen::MatrixXd::Identity(n / 2, n / 2), {}})});
    return m;
  }
  const int axes = n / 2;
  m.motion = MotionModel{MotionKind::constant_velocity, axes, 0.2};
  m.P0 = 10.0 * Eigen::MatrixXd::Identity(n, n);
  m.sensors.push_back({"position", Varying<SensorModel>::constant(
                                       {m.motion->position_matrix(), 0.25 * Eigen::MatrixXd::Identity(axes, axes), {}})});
  return m;
}

inline constexpr double step_seconds = 0.1;

/// Component i of the measurement at step t.
inline double measurement(std::size_t t, int i) {
  const double s = step_seconds * double(t);
  return std::sin(0.05 * s + i) + 0.1 * std::cos(3.1 * s * (i + 1));
}

/// A log of `steps` steps, each measured (timestamps t · step_seconds).
inline Measurements log_of(std::size_t steps, const Model& model) {
  const int m = model.sensors[0].dim();
  Measurements meas;
  Eigen::VectorXd z(m);
  for (std::size_t t = 0; t < steps; ++t) {
    meas.add_step(step_seconds * double(t));
    for (int i = 0; i < m; ++i) z[i] = measurement(t, i);
    meas.add(0, z);
  }
  return meas;
}

}  // namespace kalmanscan::filters::bench
