#include "kalmanscan/filters/kalman.hpp"

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include <Eigen/Cholesky>

#include "checks.hpp"
#include "kalmanscan/filters/kalman_steps.hpp"
#include "steps.hpp"

namespace kalmanscan::filters {

using detail::dims;

template <class T>
StackedMeasurement<T> stack_measurement(const Model& model, const Measurements& meas, std::size_t t) {
  const Eigen::Index n = model.state_dim();
  const std::size_t step = meas.first_step + t;
  // Count the measured components first, then fill H, y and the diagonal blocks of R.
  Eigen::Index m = 0;
  for (std::size_t k = meas.step_begin[t]; k < meas.step_begin[t + 1]; ++k)
    m += meas.value(k).array().isNaN().select(0, Eigen::VectorXi::Ones(meas.value(k).size())).sum();
  StackedMeasurement<T> z{MatX<T>::Zero(m, n), VecX<T>::Zero(m), MatX<T>::Zero(m, m)};
  Eigen::Index row = 0;
  for (std::size_t k = meas.step_begin[t]; k < meas.step_begin[t + 1]; ++k) {
    const SensorModel& sm = model.sensors[meas.sensor[k]].model.at(step);
    const auto v = meas.value(k);
    std::vector<Eigen::Index> present;
    for (Eigen::Index i = 0; i < v.size(); ++i)
      if (!std::isnan(v[i])) present.push_back(i);
    for (std::size_t a = 0; a < present.size(); ++a) {
      const Eigen::Index i = present[a];
      z.H.row(row + a) = sm.H.row(i).cast<T>();
      z.y[row + a] = T(v[i] - (sm.d.size() ? sm.d[i] : 0.0));
      for (std::size_t b = 0; b < present.size(); ++b) z.R(row + a, row + b) = T(sm.R(i, present[b]));
    }
    row += Eigen::Index(present.size());
  }
  return z;
}

template <class T>
Gaussian<T> predict(const Gaussian<T>& state, const Transition& tr, const Eigen::VectorXd& u) {
  steps::Workspace<T> ws;
  Gaussian<T> r;
  steps::predict(tr.F, tr.Q, tr.B, u, tr.c, state.mean, state.cov, r.mean, r.cov, ws);
  return r;
}

namespace {
/// innovate(), leaving S's factorisation and H P⁻ in `ws` for the update.
template <class T>
Innovation<T> innovate_into(const Gaussian<T>& predicted, const StackedMeasurement<T>& z, std::size_t step,
                            steps::Workspace<T>& ws) {
  Innovation<T> in;
  in.dof = z.dim();
  if (in.dof == 0) return in;
  const steps::InnovationStatus status = steps::innovate(predicted.mean, predicted.cov, z.H, z.y, z.R, ws);
  if (status == steps::InnovationStatus::not_positive_definite)
    fail(step, "innovation covariance S (" + dims(in.dof, in.dof) + ") is not positive definite");
  if (status == steps::InnovationStatus::not_finite) fail(step, "innovation ν (" + dims(in.dof, 1) + ") is not finite");
  in.nu = ws.nu;
  in.S = ws.S;
  in.nis = ws.nis;
  // log p(y) = -½ (NIS + log det S + m log 2π), log det S = 2 Σ log L_ii.
  double logdet = 0.0;
  for (int i = 0; i < in.dof; ++i) logdet += 2.0 * std::log(double(ws.llt.matrixL()(i, i)));
  in.log_likelihood = -0.5 * (double(in.nis) + logdet + in.dof * std::log(2.0 * std::numbers::pi));
  if (!std::isfinite(in.log_likelihood)) fail(step, "innovation ν (" + dims(in.dof, 1) + ") is not finite");
  return in;
}
}  // namespace

template <class T>
Innovation<T> innovate(const Gaussian<T>& predicted, const StackedMeasurement<T>& z, std::size_t step) {
  steps::Workspace<T> ws;
  return innovate_into(predicted, z, step, ws);
}

template <class T>
Gaussian<T> update(const Gaussian<T>& predicted, const StackedMeasurement<T>& z, std::size_t step,
                   Innovation<T>* innovation) {
  steps::Workspace<T> ws;
  Innovation<T> in = innovate_into(predicted, z, step, ws);
  Gaussian<T> r = predicted;
  if (in.dof > 0) steps::joseph_update(predicted.mean, predicted.cov, z.H, z.R, ws, r.mean, r.cov);
  if (innovation) *innovation = std::move(in);
  return r;
}

template <class T>
T nees(const Gaussian<T>& estimate, const VecX<T>& truth) {
  const Eigen::Index n = estimate.mean.size();
  if (truth.size() != n || estimate.cov.rows() != n || estimate.cov.cols() != n)
    fail(no_step, "nees: mean " + dims(n, 1) + ", covariance " + dims(estimate.cov.rows(), estimate.cov.cols()) +
                      " and truth " + dims(truth.size(), 1) + " disagree");
  const Eigen::LDLT<MatX<T>> ldlt(estimate.cov);
  if (ldlt.info() != Eigen::Success || !ldlt.isPositive() || ldlt.vectorD().minCoeff() <= T(0))
    fail(no_step, "nees: covariance (" + dims(n, n) + ") is not positive definite");
  const VecX<T> e = truth - estimate.mean;
  return e.dot(ldlt.solve(e));
}

template <class T>
BasicTrajectory<T> kalman_filter(const Model& model, const Measurements& meas, const std::optional<StepState>& carry_in,
                                 StepState* carry_out) {
  detail::check_run(model, meas, carry_in);
  BasicTrajectory<T> tr;
  tr.first_step = meas.first_step;
  tr.resize(meas.steps(), model.state_dim());
  std::optional<Gaussian<T>> prev;
  if (carry_in) prev = Gaussian<T>{carry_in->mean.cast<T>(), carry_in->cov.cast<T>()};
  for (std::size_t t = 0; t < meas.steps(); ++t) {
    const std::size_t step = meas.first_step + t;
    // The first step of a fresh run starts from the prior; every other step is predicted.
    const Gaussian<T> predicted =
        prev ? predict(*prev, detail::transition_into(model, meas, carry_in, t), detail::control_before(meas, carry_in, t))
             : Gaussian<T>{model.m0.cast<T>(), model.P0.cast<T>()};
    Innovation<T> in;
    prev = update(predicted, stack_measurement<T>(model, meas, t), step, &in);
    tr.filtered_mean_at(t) = prev->mean;
    tr.filtered_cov_at(t) = prev->cov;
    tr.nis[t] = in.nis;
    tr.nis_dof[t] = in.dof;
    tr.log_likelihood += in.log_likelihood;
    if (!prev->mean.allFinite() || !prev->cov.allFinite())
      fail(step, "filtered state (" + dims(prev->mean.size(), 1) + ") is not finite");
  }
  if (carry_out) *carry_out = detail::last_state(model, meas, carry_in, tr.filtered_mean, tr.filtered_cov);
  return tr;
}

#define KALMANSCAN_INSTANTIATE(T)                                                                                     \
  template StackedMeasurement<T> stack_measurement<T>(const Model&, const Measurements&, std::size_t);                \
  template Gaussian<T> predict<T>(const Gaussian<T>&, const Transition&, const Eigen::VectorXd&);                      \
  template Innovation<T> innovate<T>(const Gaussian<T>&, const StackedMeasurement<T>&, std::size_t);                   \
  template Gaussian<T> update<T>(const Gaussian<T>&, const StackedMeasurement<T>&, std::size_t, Innovation<T>*);       \
  template T nees<T>(const Gaussian<T>&, const VecX<T>&);                                                              \
  template BasicTrajectory<T> kalman_filter<T>(const Model&, const Measurements&, const std::optional<StepState>&,    \
                                               StepState*);
KALMANSCAN_INSTANTIATE(float)
KALMANSCAN_INSTANTIATE(double)
#undef KALMANSCAN_INSTANTIATE

}  // namespace kalmanscan::filters
