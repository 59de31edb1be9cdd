// Independent references for the apps tests: a textbook sequential Kalman filter + RTS smoother
// and the dense batch solution (the joint Gaussian over all states, solved directly), written
// from the equations and sharing no code with kalmanscan's filters or formats.
#pragma once

#include <cstddef>
#include <vector>

#include <Eigen/Dense>

namespace kalmanscan::testing {

/// A test problem: x_{t+1} = F_t x_t + o_t + w, w ~ N(0, Q_t); z_t = H x_t + d + v, v ~ N(0, R),
/// with NaN entries of z_t missing (R diagonal so components are independent). The offsets o_t
/// (B u_t + c of explicit dynamics) and d may be left empty for zero.
struct Problem {
  Eigen::VectorXd m0;
  Eigen::MatrixXd P0;
  std::vector<Eigen::MatrixXd> F, Q;  ///< F[t], Q[t]: step t → t+1 (T - 1 entries)
  std::vector<Eigen::VectorXd> o;     ///< o[t]: step t → t+1 (T - 1 entries), or empty
  Eigen::MatrixXd H;                  ///< m × n
  Eigen::VectorXd Rdiag;              ///< m
  Eigen::VectorXd d;                  ///< m, or empty
  std::vector<Eigen::VectorXd> z;     ///< T vectors of m, NaN = missing
  std::size_t steps() const { return z.size(); }
  Eigen::VectorXd offset(std::size_t t) const { return o.empty() ? Eigen::VectorXd::Zero(m0.size()) : o[t]; }
  double d_at(int i) const { return d.size() ? d[i] : 0.0; }
};

struct Estimates {
  std::vector<Eigen::VectorXd> mean;
  std::vector<Eigen::MatrixXd> cov;
};

struct SequentialResult {
  Estimates filtered, smoothed;
  std::vector<double> nis;
  std::vector<int> dof;
  double log_likelihood = 0;
};

/// Covariance-form Kalman filter (textbook update K = P Hᵀ S⁻¹ by solving) and RTS smoother
/// (G = P_f Fᵀ (P_pred)⁻¹ by solving), with predictive log-likelihood and NIS.
SequentialResult sequential_reference(const Problem& p);

/// Dense batch solution: the posterior of all states given z_0..z_{last}, from the joint
/// information matrix Λ = Σ Aᵀ W A (prior, transitions, measurements) solved with LDLT.
/// Returns the marginal of every state 0..last.
Estimates dense_reference(const Problem& p, std::size_t last);

/// Constant-velocity CWNA per axis, state (positions, velocities), written out for the tests.
void cv_transition(int axes, double q, double dt, Eigen::MatrixXd& F, Eigen::MatrixXd& Q);

}  // namespace kalmanscan::testing
