#include "kalmanscan/filters/kalman.hpp"

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include <Eigen/Cholesky>

#include "checks.hpp"
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
  const MatX<T> F = tr.F.cast<T>();
  Gaussian<T> r;
  r.mean = F * state.mean;
  if (tr.B.size() && u.size()) r.mean += (tr.B * u).cast<T>();
  if (tr.c.size()) r.mean += tr.c.cast<T>();
  // P⁻ = F P Fᵀ + Q, symmetrised.
  const MatX<T> P = F * state.cov * F.transpose() + tr.Q.cast<T>();
  r.cov = T(0.5) * (P + P.transpose());
  return r;
}

template <class T>
Innovation<T> innovate(const Gaussian<T>& predicted, const StackedMeasurement<T>& z, std::size_t step) {
  Innovation<T> in;
  in.dof = z.dim();
  if (in.dof == 0) return in;
  // ν = y - H m⁻,  S = H P⁻ Hᵀ + R.
  in.nu = z.y - z.H * predicted.mean;
  in.S = z.H * predicted.cov * z.H.transpose() + z.R;
  in.S = T(0.5) * (in.S + in.S.transpose()).eval();
  const Eigen::LLT<MatX<T>> llt(in.S);
  if (llt.info() != Eigen::Success || !in.S.allFinite())
    fail(step, "innovation covariance S (" + dims(in.dof, in.dof) + ") is not positive definite");
  // NIS = νᵀ S⁻¹ ν = |L⁻¹ ν|², log det S = 2 Σ log L_ii.
  const VecX<T> w = llt.matrixL().solve(in.nu);
  in.nis = w.squaredNorm();
  double logdet = 0.0;
  for (int i = 0; i < in.dof; ++i) logdet += 2.0 * std::log(double(llt.matrixL()(i, i)));
  in.log_likelihood = -0.5 * (double(in.nis) + logdet + in.dof * std::log(2.0 * std::numbers::pi));
  if (!std::isfinite(in.log_likelihood)) fail(step, "innovation ν (" + dims(in.dof, 1) + ") is not finite");
  return in;
}

template <class T>
Gaussian<T> update(const Gaussian<T>& predicted, const StackedMeasurement<T>& z, std::size_t step,
                   Innovation<T>* innovation) {
  Innovation<T> in = innovate(predicted, z, step);
  Gaussian<T> r = predicted;
  if (in.dof > 0) {
    // K = P⁻ Hᵀ S⁻¹, i.e. Kᵀ = S⁻¹ H P⁻ (S symmetric), solved with the LLT of S.
    const MatX<T> K = in.S.llt().solve(z.H * predicted.cov).transpose();
    r.mean = predicted.mean + K * in.nu;
    // Joseph form: (I - K H) P⁻ (I - K H)ᵀ + K R Kᵀ.
    const MatX<T> IKH = MatX<T>::Identity(predicted.cov.rows(), predicted.cov.cols()) - K * z.H;
    const MatX<T> P = IKH * predicted.cov * IKH.transpose() + K * z.R * K.transpose();
    r.cov = T(0.5) * (P + P.transpose());
  }
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
