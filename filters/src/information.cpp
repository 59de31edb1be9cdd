#include "kalmanscan/filters/information.hpp"

#include <cmath>
#include <string>
#include <vector>

#include <Eigen/Cholesky>

#include "checks.hpp"
#include "kalmanscan/filters/kalman.hpp"
#include "steps.hpp"

namespace kalmanscan::filters {

using detail::dims;

namespace {
/// LLT of a matrix that must be positive definite; throws naming it otherwise.
template <class T>
Eigen::LLT<MatX<T>> factor(const MatX<T>& m, std::size_t step, const std::string& what) {
  Eigen::LLT<MatX<T>> llt(m);
  if (llt.info() != Eigen::Success || !m.allFinite())
    fail(step, what + " (" + dims(m.rows(), m.cols()) + ") is not positive definite (information filter)");
  return llt;
}
}  // namespace

template <class T>
Information<T> to_information(const Gaussian<T>& g, std::size_t step, const char* what) {
  const auto llt = factor<T>(g.cov, step, what);
  const MatX<T> Y = llt.solve(MatX<T>::Identity(g.cov.rows(), g.cov.cols()));
  return {llt.solve(g.mean), T(0.5) * (Y + Y.transpose())};
}

template <class T>
Gaussian<T> to_gaussian(const Information<T>& info, std::size_t step) {
  const auto llt = factor<T>(info.Y, step, std::string("information matrix Y"));
  const MatX<T> P = llt.solve(MatX<T>::Identity(info.Y.rows(), info.Y.cols()));
  return {llt.solve(info.y), T(0.5) * (P + P.transpose())};
}

template <class T>
Information<T> information_predict(const Information<T>& info, const Transition& tr, const Eigen::VectorXd& u,
                                   std::size_t step) {
  return to_information(predict(to_gaussian(info, step), tr, u), step, "predicted covariance F P Fᵀ + Q");
}

template <class T>
Information<T> information_update(const Information<T>& info, const SensorModel& sensor,
                                  Eigen::Ref<const Eigen::VectorXd> z, std::size_t step) {
  std::vector<Eigen::Index> present;
  for (Eigen::Index i = 0; i < z.size(); ++i)
    if (!std::isnan(z[i])) present.push_back(i);
  const Eigen::Index m = Eigen::Index(present.size()), n = info.Y.rows();
  if (m == 0) return info;
  MatX<T> H(m, n), R(m, m);
  VecX<T> y(m);
  for (Eigen::Index a = 0; a < m; ++a) {
    H.row(a) = sensor.H.row(present[a]).cast<T>();
    y[a] = T(z[present[a]] - (sensor.d.size() ? sensor.d[present[a]] : 0.0));
    for (Eigen::Index b = 0; b < m; ++b) R(a, b) = T(sensor.R(present[a], present[b]));
  }
  // Y += Hᵀ R⁻¹ H,  y += Hᵀ R⁻¹ (z - d), with R⁻¹ applied by its LLT.
  const auto llt = factor<T>(R, step, "measurement covariance R");
  const MatX<T> RiH = llt.solve(H);
  Information<T> r{info.y + RiH.transpose() * y, info.Y + H.transpose() * RiH};
  r.Y = T(0.5) * (r.Y + r.Y.transpose()).eval();
  return r;
}

template <class T>
BasicTrajectory<T> information_filter(const Model& model, const Measurements& meas) {
  detail::check_run(model, meas, std::nullopt);
  BasicTrajectory<T> tr;
  tr.first_step = meas.first_step;
  tr.resize(meas.steps(), model.state_dim());
  Information<T> info;
  for (std::size_t t = 0; t < meas.steps(); ++t) {
    const std::size_t step = meas.first_step + t;
    info = t == 0 ? to_information(Gaussian<T>{model.m0.cast<T>(), model.P0.cast<T>()}, step, "prior covariance P0")
                  : information_predict(info, detail::transition_into(model, meas, std::nullopt, t),
                                        detail::control_before(meas, std::nullopt, t), step);
    // The additive multi-sensor update: one term per observation.
    for (std::size_t k = meas.step_begin[t]; k < meas.step_begin[t + 1]; ++k)
      info = information_update(info, model.sensors[meas.sensor[k]].model.at(step), meas.value(k), step);
    const Gaussian<T> g = to_gaussian(info, step);
    tr.filtered_mean_at(t) = g.mean;
    tr.filtered_cov_at(t) = g.cov;
  }
  return tr;
}

#define KALMANSCAN_INSTANTIATE(T)                                                                                  \
  template Information<T> to_information<T>(const Gaussian<T>&, std::size_t, const char*);                         \
  template Gaussian<T> to_gaussian<T>(const Information<T>&, std::size_t);                                          \
  template Information<T> information_predict<T>(const Information<T>&, const Transition&, const Eigen::VectorXd&,  \
                                                 std::size_t);                                                      \
  template Information<T> information_update<T>(const Information<T>&, const SensorModel&,                          \
                                                Eigen::Ref<const Eigen::VectorXd>, std::size_t);                    \
  template BasicTrajectory<T> information_filter<T>(const Model&, const Measurements&);
KALMANSCAN_INSTANTIATE(float)
KALMANSCAN_INSTANTIATE(double)
#undef KALMANSCAN_INSTANTIATE

}  // namespace kalmanscan::filters
