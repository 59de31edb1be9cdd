// A stable constant-velocity log and its inputs in the information form of the GPU fast paths
// (Ψ = Hᵀ R⁻¹ H, ψ = Hᵀ R⁻¹ z per step), shared by the GPU tests and the CPU tests of the fast
// paths' per-step recursions.
#pragma once

#include <Eigen/Cholesky>

#include <cmath>
#include <cstddef>
#include <vector>

#include "kalmanscan/filters/model.hpp"

namespace kalmanscan::filters::testing {

/// `axes` axes, dt = 0.1, positions measured every step but every 7th.
inline Measurements cv_log(int axes, std::size_t steps) {
  Measurements meas;
  Eigen::VectorXd z(axes);
  for (std::size_t t = 0; t < steps; ++t) {
    const double s = 0.1 * double(t);
    meas.add_step(s);
    for (int i = 0; i < axes; ++i) z[i] = std::sin(0.05 * s + i) + 0.1 * std::cos(3.1 * s * (i + 1));
    if (t % 7 != 3) meas.add(0, z);
  }
  return meas;
}

/// The row-major inputs of a cv_log run in T: the time-invariant transition (F, Q, c = 0), the
/// prior, and per step Ψ and ψ (0 where unmeasured, so Ψ varies per step).
template <class T>
struct CvInputs {
  int n;
  std::vector<T> F, Q, c, Psi, psi, m0, P0;
  CvInputs(const Model& model, const Measurements& meas) : n(model.state_dim()) {
    const Transition tr = model.transition_at(0, 0.1);
    const SensorModel& s = model.sensors[0].model.table[0];
    const Eigen::MatrixXd RiH = s.R.llt().solve(s.H), HRH = s.H.transpose() * RiH;
    auto put = [](std::vector<T>& to, const Eigen::MatrixXd& m) {
      for (Eigen::Index i = 0; i < m.rows(); ++i)
        for (Eigen::Index j = 0; j < m.cols(); ++j) to.push_back(T(m(i, j)));
    };
    put(F, tr.F), put(Q, tr.Q), c.assign(n, T(0)), put(m0, model.m0), put(P0, model.P0);
    for (std::size_t t = 0; t < meas.steps(); ++t) {
      const bool measured = meas.step_begin[t + 1] > meas.step_begin[t];
      put(Psi, measured ? HRH : Eigen::MatrixXd::Zero(n, n));
      put(psi, measured ? Eigen::MatrixXd(RiH.transpose() * meas.value(meas.step_begin[t])) : Eigen::MatrixXd::Zero(n, 1));
    }
  }
};

}  // namespace kalmanscan::filters::testing
