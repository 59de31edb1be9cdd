#include "reference.hpp"

#include <cmath>
#include <numbers>

namespace kalmanscan::testing {

void cv_transition(int axes, double q, double dt, Eigen::MatrixXd& F, Eigen::MatrixXd& Q) {
  const int n = 2 * axes;
  F = Eigen::MatrixXd::Identity(n, n);
  Q = Eigen::MatrixXd::Zero(n, n);
  for (int a = 0; a < axes; ++a) {
    F(a, axes + a) = dt;
    Q(a, a) = q * dt * dt * dt / 3;
    Q(a, axes + a) = Q(axes + a, a) = q * dt * dt / 2;
    Q(axes + a, axes + a) = q * dt;
  }
}

SequentialResult sequential_reference(const Problem& p) {
  SequentialResult r;
  const std::size_t T = p.steps();
  Eigen::VectorXd m = p.m0;
  Eigen::MatrixXd P = p.P0;
  std::vector<Eigen::VectorXd> pm(T);
  std::vector<Eigen::MatrixXd> pP(T);
  for (std::size_t t = 0; t < T; ++t) {
    if (t > 0) {
      m = p.F[t - 1] * m + p.offset(t - 1);
      P = p.F[t - 1] * P * p.F[t - 1].transpose() + p.Q[t - 1];
    }
    pm[t] = m, pP[t] = P;
    std::vector<int> rows;
    for (int i = 0; i < p.z[t].size(); ++i)
      if (!std::isnan(p.z[t][i])) rows.push_back(i);
    const int k = static_cast<int>(rows.size());
    double nis = 0;
    if (k > 0) {
      Eigen::MatrixXd H(k, m.size());
      Eigen::VectorXd y(k), R(k);
      for (int j = 0; j < k; ++j) H.row(j) = p.H.row(rows[j]), y[j] = p.z[t][rows[j]] - p.d_at(rows[j]), R[j] = p.Rdiag[rows[j]];
      const Eigen::VectorXd nu = y - H * m;
      const Eigen::MatrixXd S = H * P * H.transpose() + Eigen::MatrixXd(R.asDiagonal());
      const Eigen::LDLT<Eigen::MatrixXd> S_ldlt(S);
      nis = nu.dot(S_ldlt.solve(nu));
      r.log_likelihood += -0.5 * (nis + std::log(S.determinant()) + k * std::log(2 * std::numbers::pi));
      const Eigen::MatrixXd K = S_ldlt.solve(H * P).transpose();  // K = P Hᵀ S⁻¹
      m = m + K * nu;
      P = P - K * S * K.transpose();
      P = 0.5 * (P + P.transpose());
    }
    r.nis.push_back(nis);
    r.dof.push_back(k);
    r.filtered.mean.push_back(m);
    r.filtered.cov.push_back(P);
  }
  r.smoothed = r.filtered;
  for (std::size_t t = T - 1; t-- > 0;) {
    // G = P_f Fᵀ P_pred⁻¹ (by solving P_pred Gᵀ = F P_f)
    const Eigen::MatrixXd G = pP[t + 1].ldlt().solve(p.F[t] * r.filtered.cov[t]).transpose();
    r.smoothed.mean[t] = r.filtered.mean[t] + G * (r.smoothed.mean[t + 1] - pm[t + 1]);
    r.smoothed.cov[t] = r.filtered.cov[t] + G * (r.smoothed.cov[t + 1] - pP[t + 1]) * G.transpose();
  }
  return r;
}

Estimates dense_reference(const Problem& p, std::size_t last) {
  const int n = static_cast<int>(p.m0.size());
  const int N = n * static_cast<int>(last + 1);
  Eigen::MatrixXd L = Eigen::MatrixXd::Zero(N, N);  // information matrix of the joint posterior
  Eigen::VectorXd eta = Eigen::VectorXd::Zero(N);   // information vector
  // Prior: (x_0 - m0)ᵀ P0⁻¹ (x_0 - m0)
  const Eigen::MatrixXd P0i = p.P0.ldlt().solve(Eigen::MatrixXd::Identity(n, n));
  L.topLeftCorner(n, n) += P0i;
  eta.head(n) += P0i * p.m0;
  // Transitions: (x_{t+1} - F x_t - o_t)ᵀ Q⁻¹ (x_{t+1} - F x_t - o_t), i.e. A = [-F I], residual A x - o_t
  for (std::size_t t = 0; t < last; ++t) {
    const Eigen::MatrixXd Qi = p.Q[t].ldlt().solve(Eigen::MatrixXd::Identity(n, n));
    Eigen::MatrixXd A(n, 2 * n);
    A << -p.F[t], Eigen::MatrixXd::Identity(n, n);
    L.block(int(t) * n, int(t) * n, 2 * n, 2 * n) += A.transpose() * Qi * A;
    eta.segment(int(t) * n, 2 * n) += A.transpose() * Qi * p.offset(t);
  }
  // Measurements: (z - d - H x_t)ᵀ R⁻¹ (z - d - H x_t) over observed components
  for (std::size_t t = 0; t <= last; ++t)
    for (int i = 0; i < p.z[t].size(); ++i) {
      if (std::isnan(p.z[t][i])) continue;
      const Eigen::RowVectorXd h = p.H.row(i);
      L.block(int(t) * n, int(t) * n, n, n) += h.transpose() * h / p.Rdiag[i];
      eta.segment(int(t) * n, n) += h.transpose() * (p.z[t][i] - p.d_at(i)) / p.Rdiag[i];
    }
  const Eigen::LDLT<Eigen::MatrixXd> ldlt(L);
  const Eigen::VectorXd mu = ldlt.solve(eta);
  Estimates e;
  for (std::size_t t = 0; t <= last; ++t) {
    Eigen::MatrixXd E = Eigen::MatrixXd::Zero(N, n);
    E.middleRows(int(t) * n, n).setIdentity();
    e.mean.push_back(mu.segment(int(t) * n, n));
    e.cov.push_back(ldlt.solve(E).middleRows(int(t) * n, n));  // the t-th diagonal block of Λ⁻¹, by solving
  }
  return e;
}

}  // namespace kalmanscan::testing
