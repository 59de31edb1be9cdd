#include "reference.hpp"

#include <cmath>
#include <numbers>
#include <random>

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>

namespace kalmanscan::filters::testing {

namespace {

Eigen::MatrixXd random_matrix(int r, int c, std::mt19937& rng) {
  std::normal_distribution<double> nd;
  Eigen::MatrixXd m(r, c);
  for (int i = 0; i < r; ++i)
    for (int j = 0; j < c; ++j) m(i, j) = nd(rng);
  return m;
}

Eigen::MatrixXd random_spd(int n, int rank, double scale, std::mt19937& rng) {
  const Eigen::MatrixXd G = random_matrix(n, rank, rng);
  Eigen::MatrixXd S = scale * G * G.transpose() / rank;
  if (rank >= n) S += 0.1 * scale * Eigen::MatrixXd::Identity(n, n);
  return 0.5 * (S + S.transpose());
}

/// A square root of a PSD matrix (works for singular ones).
Eigen::MatrixXd sqrt_psd(const Eigen::MatrixXd& S) {
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(S);
  return es.eigenvectors() * es.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal();
}

}  // namespace

Model random_model(int n, const std::vector<int>& sensor_dims, std::uint32_t seed, int q_rank) {
  std::mt19937 rng(seed);
  Model m;
  m.m0 = random_matrix(n, 1, rng);
  m.P0 = random_spd(n, n, 1.0, rng);
  Transition tr;
  // F = 0.9 · (orthogonal), spectral radius 0.9.
  const Eigen::HouseholderQR<Eigen::MatrixXd> qr(random_matrix(n, n, rng));
  tr.F = 0.9 * Eigen::MatrixXd(qr.householderQ());
  tr.Q = random_spd(n, q_rank < 0 ? n : q_rank, 0.2, rng);
  tr.c = 0.1 * random_matrix(n, 1, rng);
  m.transition = Varying<Transition>::constant(tr);
  for (std::size_t s = 0; s < sensor_dims.size(); ++s) {
    const int d = sensor_dims[s];
    m.sensors.push_back({"s" + std::to_string(s),
                         Varying<SensorModel>::constant({random_matrix(d, n, rng), random_spd(d, d, 0.5, rng),
                                                         0.1 * random_matrix(d, 1, rng)})});
  }
  return m;
}

Measurements simulate(const Model& model, std::size_t steps, const std::vector<int>& rates, double missing,
                      std::uint32_t seed, std::vector<Eigen::VectorXd>* truth, double dt) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd;
  std::uniform_real_distribution<double> ud;
  auto noise = [&](const Eigen::MatrixXd& S) {
    Eigen::VectorXd e(S.rows());
    for (Eigen::Index i = 0; i < e.size(); ++i) e[i] = nd(rng);
    return Eigen::VectorXd(sqrt_psd(S) * e);
  };
  Measurements meas;
  Eigen::VectorXd x = model.m0 + noise(model.P0);
  for (std::size_t t = 0; t < steps; ++t) {
    if (t > 0) {
      const Transition tr = model.transition_at(t - 1, dt);
      Eigen::VectorXd nx = tr.F * x + noise(tr.Q);
      if (tr.c.size()) nx += tr.c;
      if (tr.B.size() && !meas.controls.empty()) nx += tr.B * meas.control(t - 1);
      x = nx;
    }
    if (truth) truth->push_back(x);
    meas.add_step(dt > 0 ? double(t) * dt : std::numeric_limits<double>::quiet_NaN());
    if (model.control_dim() > 0) meas.set_control(t, Eigen::VectorXd::Constant(model.control_dim(), std::sin(0.3 * t)));
    for (std::size_t s = 0; s < model.sensors.size(); ++s) {
      if (t % rates[s] != 0) continue;
      const SensorModel& sm = model.sensors[s].model.at(t);
      Eigen::VectorXd z = sm.H * x + noise(sm.R);
      if (sm.d.size()) z += sm.d;
      for (Eigen::Index i = 0; i < z.size(); ++i)
        if (ud(rng) < missing) z[i] = std::numeric_limits<double>::quiet_NaN();
      meas.add(std::uint32_t(s), z);
    }
  }
  return meas;
}

Batch batch_solution(const Model& model, const Measurements& meas) {
  const int n = model.state_dim();
  const int T = int(meas.steps());
  const int N = n * T;
  // Prior of the stacked state X = μ + G ε, ε = (e_0, w_0, …, w_{T-2}) ~ N(0, blockdiag(P0, Q_0, …)):
  // x_t = Φ(t,0) e_0 + Σ_{s<t} Φ(t,s+1) w_s with Φ(t,s) = F_{t-1} ⋯ F_s.
  std::vector<Transition> trs;
  for (int t = 0; t + 1 < T; ++t)
    trs.push_back(model.transition_at(t, meas.times.empty() ? 0.0 : meas.times[t + 1] - meas.times[t]));
  Eigen::VectorXd mu(N);
  Eigen::MatrixXd G = Eigen::MatrixXd::Zero(N, N), E = Eigen::MatrixXd::Zero(N, N);
  E.topLeftCorner(n, n) = model.P0;
  mu.head(n) = model.m0;
  for (int t = 0; t + 1 < T; ++t) {
    Eigen::VectorXd m = trs[t].F * mu.segment(t * n, n);
    if (trs[t].c.size()) m += trs[t].c;
    if (trs[t].B.size() && !meas.controls.empty()) m += trs[t].B * meas.control(t);
    mu.segment((t + 1) * n, n) = m;
    E.block((t + 1) * n, (t + 1) * n, n, n) = trs[t].Q;
  }
  for (int t = 0; t < T; ++t)
    for (int s = 0; s <= t; ++s) {  // block (t, s) of G maps ε_s (e_0 for s = 0, w_{s-1} otherwise) to x_t
      Eigen::MatrixXd Phi = Eigen::MatrixXd::Identity(n, n);
      for (int k = s; k < t; ++k) Phi = trs[k].F * Phi;
      G.block(t * n, s * n, n, n) = Phi;
    }
  const Eigen::MatrixXd Sigma = G * E * G.transpose();
  // Stacked observations z = H X + d + v (measured components only), in step order.
  int M = 0;
  for (int t = 0; t < T; ++t)
    for (std::size_t k = meas.step_begin[t]; k < meas.step_begin[t + 1]; ++k)
      for (Eigen::Index i = 0; i < meas.value(k).size(); ++i) M += std::isnan(meas.value(k)[i]) ? 0 : 1;
  Eigen::MatrixXd H = Eigen::MatrixXd::Zero(M, N), R = Eigen::MatrixXd::Zero(M, M);
  Eigen::VectorXd z(M), d(M);
  std::vector<int> step_of(M);
  int row = 0;
  for (int t = 0; t < T; ++t)
    for (std::size_t k = meas.step_begin[t]; k < meas.step_begin[t + 1]; ++k) {
      const SensorModel& sm = model.sensors[meas.sensor[k]].model.at(t);
      const auto v = meas.value(k);
      std::vector<int> present;
      for (Eigen::Index i = 0; i < v.size(); ++i)
        if (!std::isnan(v[i])) present.push_back(int(i));
      for (std::size_t a = 0; a < present.size(); ++a) {
        H.block(row + a, t * n, 1, n) = sm.H.row(present[a]);
        z[row + a] = v[present[a]];
        d[row + a] = sm.d.size() ? sm.d[present[a]] : 0.0;
        step_of[row + a] = t;
        for (std::size_t b = 0; b < present.size(); ++b) R(row + a, row + b) = sm.R(present[a], present[b]);
      }
      row += int(present.size());
    }
  // Gaussian conditioning on a subset of rows: mean μ + Σ Hᵀ S⁻¹ (z - H μ - d), cov Σ - Σ Hᵀ S⁻¹ H Σ.
  auto condition = [&](int rows, Eigen::VectorXd& mean, Eigen::MatrixXd& cov) {
    mean = mu, cov = Sigma;
    if (rows == 0) return;
    const Eigen::MatrixXd Hr = H.topRows(rows);
    const Eigen::MatrixXd S = Hr * Sigma * Hr.transpose() + R.topLeftCorner(rows, rows);
    const Eigen::LLT<Eigen::MatrixXd> llt(S);
    const Eigen::MatrixXd SHS = llt.solve(Hr * Sigma);
    mean += SHS.transpose() * (z.head(rows) - Hr * mu - d.head(rows));
    cov -= (Hr * Sigma).transpose() * SHS;
  };
  Batch b;
  Eigen::VectorXd mean;
  Eigen::MatrixXd cov;
  for (int t = 0; t < T; ++t) {
    int rows = 0;
    while (rows < M && step_of[rows] <= t) ++rows;
    condition(rows, mean, cov);
    b.filtered_mean.push_back(mean.segment(t * n, n));
    b.filtered_cov.push_back(cov.block(t * n, t * n, n, n));
  }
  condition(M, mean, cov);
  for (int t = 0; t < T; ++t) {
    b.smoothed_mean.push_back(mean.segment(t * n, n));
    b.smoothed_cov.push_back(cov.block(t * n, t * n, n, n));
    if (t + 1 < T) b.cross_cov.push_back(cov.block((t + 1) * n, t * n, n, n));
  }
  if (M > 0) {
    const Eigen::MatrixXd S = H * Sigma * H.transpose() + R;
    const Eigen::LLT<Eigen::MatrixXd> llt(S);
    const Eigen::VectorXd r = z - H * mu - d;
    double logdet = 0;
    for (int i = 0; i < M; ++i) logdet += 2 * std::log(llt.matrixL()(i, i));
    b.log_likelihood = -0.5 * (r.dot(llt.solve(r)) + logdet + M * std::log(2 * std::numbers::pi));
  }
  return b;
}

std::vector<double> flatten(const std::vector<Eigen::VectorXd>& v) {
  std::vector<double> r;
  for (const auto& x : v) r.insert(r.end(), x.data(), x.data() + x.size());
  return r;
}

std::vector<double> flatten(const std::vector<Eigen::MatrixXd>& m) {
  std::vector<double> r;
  for (const auto& x : m)
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      for (Eigen::Index j = 0; j < x.cols(); ++j) r.push_back(x(i, j));
  return r;
}

Model constant_velocity(int axes, double q, double sigma) {
  Model m;
  m.motion = MotionModel{MotionKind::constant_velocity, axes, q};
  m.m0 = Eigen::VectorXd::Zero(2 * axes);
  m.P0 = 10.0 * Eigen::MatrixXd::Identity(2 * axes, 2 * axes);
  m.sensors.push_back({"position", Varying<SensorModel>::constant(
                                       {m.motion->position_matrix(), sigma * sigma * Eigen::MatrixXd::Identity(axes, axes), {}})});
  return m;
}

}  // namespace kalmanscan::filters::testing
