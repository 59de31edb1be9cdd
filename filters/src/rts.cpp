#include "kalmanscan/filters/rts.hpp"

#include "checks.hpp"
#include "kalmanscan/filters/kalman.hpp"
#include "kalmanscan/filters/kalman_steps.hpp"
#include "steps.hpp"

namespace kalmanscan::filters {

template <class T>
Gaussian<T> rts_step(const Gaussian<T>& filtered, const Gaussian<T>& smoothed_next, const Transition& tr,
                     const Eigen::VectorXd& u, MatX<T>* cross) {
  const Gaussian<T> pred = predict(filtered, tr, u);
  steps::Workspace<T> ws;
  Gaussian<T> r;
  steps::rts_step(tr.F, filtered.mean, filtered.cov, pred.mean, pred.cov, smoothed_next.mean, smoothed_next.cov, r.mean,
                  r.cov, ws);
  if (cross) *cross = smoothed_next.cov * ws.G.transpose();
  return r;
}

template <class T>
void rts_smooth(const Model& model, const Measurements& meas, BasicTrajectory<T>& tr,
                const std::optional<StepState>& after, bool cross) {
  detail::check_after(model, meas, after);
  const std::size_t steps = meas.steps();
  if (tr.steps != steps || tr.n != model.state_dim() || tr.filtered_mean.size() != steps * tr.n)
    fail(meas.first_step, "rts_smooth: the trajectory (" + std::to_string(tr.steps) + " steps of size " +
                              std::to_string(tr.n) + ") does not match the chunk");
  const std::size_t nn = std::size_t(tr.n) * tr.n;
  tr.smoothed_mean.assign(steps * tr.n, T(0));
  tr.smoothed_cov.assign(steps * nn, T(0));
  tr.cross_cov.assign(cross ? (after ? steps : (steps > 0 ? steps - 1 : 0)) * nn : 0, T(0));
  if (steps == 0) return;
  auto filtered = [&](std::size_t t) { return Gaussian<T>{tr.filtered_mean_at(t), tr.filtered_cov_at(t)}; };
  // The last step is its own smoothed state, unless the chunk continues into `after`.
  Gaussian<T> next = after ? Gaussian<T>{after->mean.cast<T>(), after->cov.cast<T>()} : filtered(steps - 1);
  const std::size_t first = after ? steps : steps - 1;
  if (!after) {
    tr.smoothed_mean_at(steps - 1) = next.mean;
    tr.smoothed_cov_at(steps - 1) = next.cov;
  }
  for (std::size_t t = first; t-- > 0;) {
    MatX<T> C;
    const Eigen::VectorXd u = meas.control_dim > 0 && !meas.controls.empty()
                                  ? meas.control(t)
                                  : Eigen::VectorXd();
    next = rts_step(filtered(t), next, detail::transition_out_of(model, meas, after, t), u, cross ? &C : nullptr);
    if (!next.mean.allFinite() || !next.cov.allFinite()) fail(meas.first_step + t, "smoothed state is not finite");
    tr.smoothed_mean_at(t) = next.mean;
    tr.smoothed_cov_at(t) = next.cov;
    if (cross) tr.cross_cov_at(t) = C;
  }
}

#define KALMANSCAN_INSTANTIATE(T)                                                                              \
  template Gaussian<T> rts_step<T>(const Gaussian<T>&, const Gaussian<T>&, const Transition&,                   \
                                   const Eigen::VectorXd&, MatX<T>*);                                           \
  template void rts_smooth<T>(const Model&, const Measurements&, BasicTrajectory<T>&,                          \
                              const std::optional<StepState>&, bool);
KALMANSCAN_INSTANTIATE(float)
KALMANSCAN_INSTANTIATE(double)
#undef KALMANSCAN_INSTANTIATE

}  // namespace kalmanscan::filters
