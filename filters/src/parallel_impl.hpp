// The parallel filter and smoother for one compiled state size N (private; instantiated in
// parallel_sizes_*.cpp for the sizes in parallel_state_sizes). Host side: prepares the model
// in precision T padded to N, builds elements on the fly as scan leaves and writes the prefixes
// straight into the trajectory.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include "checks.hpp"
#include "gpu.hpp"
#include "kalmanscan/filters/parallel.hpp"
#include "kalmanscan/filters/parallel_elements.hpp"
#include "kalmanscan/scan/parallel.hpp"
#include "steps.hpp"

namespace kalmanscan::filters::detail {

using elements::Mat;
using elements::Vec;

/// Threads a map over the steps may use under `o`.
unsigned map_threads(const ParallelOptions& o);

/// NIS and log-likelihood of a filtered run (the map-reduce after the scan; parallel.cpp).
template <class T>
void parallel_diagnostics(const Model& model, const Measurements& meas, const std::optional<StepState>& carry_in,
                          BasicTrajectory<T>& tr, const ParallelOptions& o);

/// The smallest local step at which something broke down (thread-safe).
class FirstFailure {
 public:
  void note(std::size_t t) {
    std::size_t cur = step_.load();
    while (t < cur && !step_.compare_exchange_weak(cur, t)) {
    }
  }
  std::optional<std::size_t> step() const {
    const std::size_t s = step_.load();
    return s == none ? std::nullopt : std::optional<std::size_t>(s);
  }

 private:
  static constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
  std::atomic<std::size_t> step_{none};
};

/// The model of one run in precision T, padded to N.
template <class T, int N>
class PaddedModel {
 public:
  using MatN = Mat<T, N, N>;
  using VecN = Vec<T, N>;

  PaddedModel(const Model& model, const Measurements& meas) : model_(model), meas_(meas), n_(model.state_dim()) {
    if (!model.motion)
      for (const Transition& tr : model.transition.table) {
        F_.push_back(mat(tr.F.data(), true));
        Q_.push_back(mat(tr.Q.data(), true));
      }
    sensors_.resize(model.sensors.size());
    for (std::size_t s = 0; s < model.sensors.size(); ++s)
      for (const SensorModel& sm : model.sensors[s].model.table) {
        // Hᵀ R⁻¹ H and R⁻¹ H once per sensor model (R validated positive definite).
        const Eigen::MatrixXd RiH = sm.R.llt().solve(sm.H);
        sensors_[s].push_back({RiH, sm.d, sm.H.transpose() * RiH});
      }
  }

  int n() const { return n_; }

  /// A flat n-vector / row-major n × n matrix (or column-major when col_major) padded with zeros.
  template <class U>
  VecN vec(const U* p) const {
    VecN v = VecN::zero();
    for (int i = 0; i < n_; ++i) v[i] = T(p[i]);
    return v;
  }
  template <class U>
  MatN mat(const U* p, bool col_major = false) const {
    MatN m = MatN::zero();
    for (int i = 0; i < n_; ++i)
      for (int j = 0; j < n_; ++j) m(i, j) = T(col_major ? p[j * n_ + i] : p[i * n_ + j]);
    return m;
  }

  VecN m0() const { return vec(model_.m0.data()); }
  MatN P0() const { return mat(model_.P0.data(), true); }

  /// Ψ = Σ Hᵀ R⁻¹ H and ψ = Σ Hᵀ R⁻¹ (z - d) of local step t (in double, then rounded to T).
  /// Fully measured observations use the per-sensor-model R⁻¹ H (no allocation).
  elements::StepInformation<T, N> information(std::size_t t) const {
    const std::size_t step = meas_.first_step + t;
    double Psi[N * N] = {}, psi[N] = {};
    for (std::size_t k = meas_.step_begin[t]; k < meas_.step_begin[t + 1]; ++k) {
      const std::uint32_t s = meas_.sensor[k];
      const double* z = meas_.values.data() + meas_.value_begin[k];
      const Eigen::Index m = Eigen::Index(meas_.value_begin[k + 1] - meas_.value_begin[k]);
      const std::size_t e = model_.sensors[s].model.position(step);
      const Prepared& p = sensors_[s][e];
      bool complete = true;
      for (Eigen::Index r = 0; r < m; ++r) complete = complete && !std::isnan(z[r]);
      if (complete) {
        for (int i = 0; i < n_ * n_; ++i) Psi[i] += p.HtRiH.data()[i];  // column-major, symmetric
        for (Eigen::Index r = 0; r < m; ++r) {
          const double y = z[r] - (p.d.size() ? p.d[r] : 0.0);
          for (int j = 0; j < n_; ++j) psi[j] += p.RiH(r, j) * y;
        }
        continue;
      }
      // Missing components: the same with the measured rows of H, d and rows/columns of R.
      const SensorModel& sm = model_.sensors[s].model.table[e];
      std::vector<Eigen::Index> present;
      for (Eigen::Index i = 0; i < m; ++i)
        if (!std::isnan(z[i])) present.push_back(i);
      const Eigen::Index mp = Eigen::Index(present.size());
      if (mp == 0) continue;
      Eigen::MatrixXd H(mp, n_), R(mp, mp);
      Eigen::VectorXd y(mp);
      for (Eigen::Index a = 0; a < mp; ++a) {
        H.row(a) = sm.H.row(present[a]);
        y[a] = z[present[a]] - (sm.d.size() ? sm.d[present[a]] : 0.0);
        for (Eigen::Index b = 0; b < mp; ++b) R(a, b) = sm.R(present[a], present[b]);
      }
      const Eigen::MatrixXd RiH = R.llt().solve(H);
      const Eigen::MatrixXd HtRiH = H.transpose() * RiH;
      const Eigen::VectorXd Hty = RiH.transpose() * y;
      for (int i = 0; i < n_ * n_; ++i) Psi[i] += HtRiH.data()[i];
      for (int j = 0; j < n_; ++j) psi[j] += Hty[j];
    }
    return {mat(Psi, true), vec(psi)};
  }

  /// F, Q and c + B u of the transition from global step `from` over dt, with control u
  /// (null or empty: none).
  void transition(std::size_t from, double dt, const double* u, MatN& F, MatN& Q, VecN& c) const {
    double cc[N] = {};
    if (model_.motion) {
      double f[N * N], q[N * N];
      model_.motion->discretise(dt, f, q, n_);
      F = mat(f), Q = mat(q);
    } else {
      const std::size_t e = model_.transition.position(from);
      F = F_[e], Q = Q_[e];
      const Transition& tr = model_.transition.table[e];
      for (int i = 0; i < n_; ++i) cc[i] = tr.c.size() ? tr.c[i] : 0.0;
      if (u && tr.B.size())
        for (int i = 0; i < n_; ++i)
          for (Eigen::Index j = 0; j < tr.B.cols(); ++j) cc[i] += tr.B(i, j) * u[j];
    }
    c = vec(cc);
  }

  /// The transition into local step t (from t-1 or the carry).
  void transition_into(std::size_t t, const std::optional<StepState>& carry_in, MatN& F, MatN& Q, VecN& c) const {
    const double* u = nullptr;
    if (t > 0 && meas_.control_dim > 0 && !meas_.controls.empty()) u = meas_.controls.data() + (t - 1) * meas_.control_dim;
    if (t == 0 && carry_in && carry_in->control.size()) u = carry_in->control.data();
    transition(meas_.first_step + t - 1, dt_into(meas_, carry_in, t), u, F, Q, c);
  }

  /// The transition out of local step t (to t+1 or the state after the chunk).
  void transition_out_of(std::size_t t, const std::optional<StepState>& after, MatN& F, MatN& Q, VecN& c) const {
    const double* u = meas_.control_dim > 0 && !meas_.controls.empty() ? meas_.controls.data() + t * meas_.control_dim : nullptr;
    transition(meas_.first_step + t, dt_out_of(meas_, after, t), u, F, Q, c);
  }

 private:
  struct Prepared {
    Eigen::MatrixXd RiH;    ///< R⁻¹ H (m × n)
    Eigen::VectorXd d;      ///< offset (or empty)
    Eigen::MatrixXd HtRiH;  ///< Hᵀ R⁻¹ H (n × n)
  };
  const Model& model_;
  const Measurements& meas_;
  int n_;
  std::vector<MatN> F_, Q_;
  std::vector<std::vector<Prepared>> sensors_;
};

template <class T, int N>
bool finite(const Vec<T, N>& v, const Mat<T, N, N>& m) {
  T s = T(0);
  for (int i = 0; i < N; ++i) s += v[i];
  for (int i = 0; i < N * N; ++i) s += m[i];
  return std::isfinite(s);
}

/// Copies a padded matrix/vector into a flat array at entry t.
template <class T, int R, int C>
void store(std::vector<T>& to, std::size_t t, const Mat<T, R, C>& m) {
  std::copy(m.v, m.v + R * C, to.begin() + std::ptrdiff_t(t * R * C));
}

/// Unpads entry t of a flat padded array into n (vector) or n × n (matrix) values.
template <class T, int N>
void unpad(const std::vector<T>& from, std::size_t t, int n, bool matrix, T* to) {
  if (!matrix) {
    for (int r = 0; r < n; ++r) to[r] = from[t * N + r];
    return;
  }
  for (int r = 0; r < n; ++r)
    for (int k = 0; k < n; ++k) to[r * n + k] = from[t * N * N + r * N + k];
}

/// Requires a GPU path for (T, N) and a device.
template <class T, int N>
void require_gpu(std::size_t step) {
  if constexpr (!gpu::compiled<T, N>())
    fail(step, "backend cuda: no GPU path for state size " + std::to_string(N) + " (built without CUDA, or above " +
                   std::to_string(gpu::max_state_size) + ")");
  else if (scan::gpu::device_count() == 0)
    fail(step, "backend cuda: no CUDA device");
}

/// The parallel filter on the GPU: per-step leaf inputs prepared here (threaded), scanned there.
template <class T, int N>
void gpu_filter_n(const PaddedModel<T, N>& pm, const Measurements& meas, const std::optional<StepState>& carry_in,
                  BasicTrajectory<T>& tr, const ParallelOptions& o) {
  require_gpu<T, N>(meas.first_step);
  if constexpr (gpu::compiled<T, N>()) {
    const std::size_t steps = meas.steps(), nn = std::size_t(N) * N;
    std::vector<T> F(steps * nn, T(0)), Q(steps * nn, T(0)), c(steps * N, T(0)), Psi(steps * nn), psi(steps * N);
    const unsigned p = map_threads(o);
    scan::parallel_tasks(p, p, [&](std::size_t task) {
      for (std::size_t t = steps * task / p; t < steps * (task + 1) / p; ++t) {
        const elements::StepInformation<T, N> z = pm.information(t);
        store(Psi, t, z.Psi), store(psi, t, z.psi);
        if (t == 0 && !carry_in) continue;
        typename PaddedModel<T, N>::MatN Ft, Qt;
        typename PaddedModel<T, N>::VecN ct;
        pm.transition_into(t, carry_in, Ft, Qt, ct);
        store(F, t, Ft), store(Q, t, Qt), store(c, t, ct);
      }
    });
    const auto m = carry_in ? pm.vec(carry_in->mean.data()) : pm.m0();
    const auto P = carry_in ? pm.mat(carry_in->cov.data(), true) : pm.P0();
    const gpu::FilterProblem<T> problem{steps, {F.data(), Q.data(), c.data()}, Psi.data(), psi.data(), m.v, P.v,
                                        carry_in.has_value()};
    std::vector<T> mean(steps * N), cov(steps * nn);
    std::size_t failed = steps;
    const scan::Status st = gpu::filter<T>(N, problem, mean.data(), cov.data(), &failed, {.mixed = o.mixed_precision});
    if (!st.ok()) fail(meas.first_step, st.message);
    if (failed < steps)
      fail(meas.first_step + failed, "parallel filter (cuda): the filtered state broke down (singular I + C J or non-finite values)");
    const int n = pm.n();
    for (std::size_t t = 0; t < steps; ++t) {
      unpad<T, N>(mean, t, n, false, tr.filtered_mean.data() + t * n);
      unpad<T, N>(cov, t, n, true, tr.filtered_cov.data() + t * n * n);
    }
  }
}

/// The parallel smoother on the GPU (smoothed means/covariances of `tr`).
template <class T, int N>
void gpu_smooth_n(const PaddedModel<T, N>& pm, const Measurements& meas, const std::optional<StepState>& after,
                  BasicTrajectory<T>& tr, const ParallelOptions& o) {
  require_gpu<T, N>(meas.first_step);
  if constexpr (gpu::compiled<T, N>()) {
    const std::size_t steps = meas.steps(), nn = std::size_t(N) * N;
    const int n = pm.n();
    std::vector<T> F(steps * nn, T(0)), Q(steps * nn, T(0)), c(steps * N, T(0)), fm(steps * N), fc(steps * nn);
    const unsigned p = map_threads(o);
    scan::parallel_tasks(p, p, [&](std::size_t task) {
      for (std::size_t t = steps * task / p; t < steps * (task + 1) / p; ++t) {
        store(fm, t, pm.vec(tr.filtered_mean.data() + t * n));
        store(fc, t, pm.mat(tr.filtered_cov.data() + t * n * n));
        if (t + 1 == steps && !after) continue;
        typename PaddedModel<T, N>::MatN Ft, Qt;
        typename PaddedModel<T, N>::VecN ct;
        pm.transition_out_of(t, after, Ft, Qt, ct);
        store(F, t, Ft), store(Q, t, Qt), store(c, t, ct);
      }
    });
    typename PaddedModel<T, N>::VecN am{};
    typename PaddedModel<T, N>::MatN aP{};
    if (after) am = pm.vec(after->mean.data()), aP = pm.mat(after->cov.data(), true);
    const gpu::SmoothProblem<T> problem{steps, {F.data(), Q.data(), c.data()}, fm.data(), fc.data(),
                                        after ? am.v : nullptr, after ? aP.v : nullptr};
    std::vector<T> mean(steps * N), cov(steps * nn);
    std::size_t failed = steps;
    const scan::Status st = gpu::smooth<T>(N, problem, mean.data(), cov.data(), &failed, {.mixed = o.mixed_precision});
    if (!st.ok()) fail(meas.first_step, st.message);
    if (failed < steps) fail(meas.first_step + failed, "parallel smoother (cuda): the smoothed state is not finite");
    for (std::size_t t = 0; t < steps; ++t) {
      unpad<T, N>(mean, t, n, false, tr.smoothed_mean.data() + t * n);
      unpad<T, N>(cov, t, n, true, tr.smoothed_cov.data() + t * n * n);
    }
  }
}

template <class T, int N>
BasicTrajectory<T> parallel_filter_n(const Model& model, const Measurements& meas,
                                     const std::optional<StepState>& carry_in, StepState* carry_out,
                                     const ParallelOptions& o) {
  check_run(model, meas, carry_in);
  using Op = elements::FilterOp<T, N>;
  using Element = typename Op::element;
  const PaddedModel<T, N> pm(model, meas);
  const int n = pm.n();
  BasicTrajectory<T> tr;
  tr.first_step = meas.first_step;
  tr.resize(meas.steps(), n);

  auto leaf = [&](std::size_t, std::size_t i) -> Element {
    const elements::StepInformation<T, N> z = pm.information(i);
    // A fresh sequence starts from the prior, with no prediction before the first update.
    if (i == 0 && !carry_in) return elements::first_filter_element(pm.m0(), pm.P0(), z);
    typename PaddedModel<T, N>::MatN F, Q;
    typename PaddedModel<T, N>::VecN c;
    pm.transition_into(i, carry_in, F, Q, c);
    return elements::filter_element(F, Q, c, z);
  };
  FirstFailure bad;
  auto sink = [&](std::size_t, std::size_t i, const Element& e) {
    // The prefix has A = 0, b = m_{i|i}, C = P_{i|i}.
    T* m = tr.filtered_mean.data() + i * n;
    T* P = tr.filtered_cov.data() + i * n * n;
    for (int r = 0; r < n; ++r) {
      m[r] = e.b[r];
      for (int k = 0; k < n; ++k) P[r * n + k] = e.C(r, k);
    }
    if (e.failed || !finite(e.b, e.C)) bad.note(i);
  };
  if (o.backend == scan::Backend::cuda) {
    gpu_filter_n<T, N>(pm, meas, carry_in, tr, o);
  } else {
    Element cin{};
    if (carry_in) cin = elements::posterior_element(pm.vec(carry_in->mean.data()), pm.mat(carry_in->cov.data(), true));
    scan::Carries<Op> carries;
    if (carry_in) carries.in = {&cin, 1};
    scan::scan<Op>(scan::Layout::single(meas.steps()), leaf, sink,
                   {.backend = o.backend, .direction = scan::Direction::forward, .threads = o.threads}, carries);
  }
  if (const auto t = bad.step())
    fail(meas.first_step + *t, "parallel filter: the filtered state (" + dims(n, 1) +
                                   ") broke down (singular I + C J or non-finite values)");
  if (o.diagnostics) parallel_diagnostics(model, meas, carry_in, tr, o);
  if (carry_out) *carry_out = last_state(model, meas, carry_in, tr.filtered_mean, tr.filtered_cov);
  return tr;
}

template <class T, int N>
void parallel_smooth_n(const Model& model, const Measurements& meas, BasicTrajectory<T>& tr,
                       const std::optional<StepState>& after, bool cross, const ParallelOptions& o) {
  check_after(model, meas, after);
  const std::size_t steps = meas.steps();
  using Op = elements::SmoothOp<T, N>;
  using Element = typename Op::element;
  const PaddedModel<T, N> pm(model, meas);
  const int n = pm.n();
  if (tr.steps != steps || tr.n != n || tr.filtered_mean.size() != steps * n)
    fail(meas.first_step, "parallel smoother: the trajectory (" + std::to_string(tr.steps) + " steps of size " +
                              std::to_string(tr.n) + ") does not match the chunk");
  const std::size_t nn = std::size_t(n) * n;
  tr.smoothed_mean.assign(steps * n, T(0));
  tr.smoothed_cov.assign(steps * nn, T(0));
  tr.cross_cov.assign(cross ? (after ? steps : (steps > 0 ? steps - 1 : 0)) * nn : 0, T(0));

  // The smoothing element of local step i (the last one of the log is (0, m, P)).
  auto element_at = [&](std::size_t i) -> Element {
    const auto m = pm.vec(tr.filtered_mean.data() + i * n);
    const auto P = pm.mat(tr.filtered_cov.data() + i * nn);
    if (i + 1 == steps && !after) return elements::last_smooth_element(m, P);
    typename PaddedModel<T, N>::MatN F, Q;
    typename PaddedModel<T, N>::VecN c;
    pm.transition_out_of(i, after, F, Q, c);
    return elements::smooth_element(F, Q, c, m, P);
  };
  auto leaf = [&](std::size_t, std::size_t i) { return element_at(i); };
  FirstFailure bad;
  auto sink = [&](std::size_t, std::size_t i, const Element& e) {
    // The suffix has E = 0, g = m_{i|T-1}, L = P_{i|T-1}.
    T* m = tr.smoothed_mean.data() + i * n;
    T* P = tr.smoothed_cov.data() + i * nn;
    for (int r = 0; r < n; ++r) {
      m[r] = e.g[r];
      for (int k = 0; k < n; ++k) P[r * n + k] = e.L(r, k);
    }
    if (!finite(e.g, e.L)) bad.note(i);
  };
  if (o.backend == scan::Backend::cuda) {
    gpu_smooth_n<T, N>(pm, meas, after, tr, o);
  } else {
    Element cin{};
    if (after) cin = elements::last_smooth_element(pm.vec(after->mean.data()), pm.mat(after->cov.data(), true));
    scan::Carries<Op> carries;
    if (after) carries.in = {&cin, 1};
    scan::scan<Op>(scan::Layout::single(steps), leaf, sink,
                   {.backend = o.backend, .direction = scan::Direction::reverse, .threads = o.threads}, carries);
  }
  if (const auto t = bad.step()) fail(meas.first_step + *t, "parallel smoother: the smoothed state is not finite");
  if (!cross || tr.cross_cov.empty()) return;
  // Cov(x_{t+1}, x_t | all) = Pˢ_{t+1} E_tᵀ, a map over the steps.
  const std::size_t pairs = tr.cross_cov.size() / nn;
  const unsigned p = map_threads(o);
  scan::parallel_tasks(p, p, [&](std::size_t task) {
    for (std::size_t t = pairs * task / p; t < pairs * (task + 1) / p; ++t) {
      const auto Pn = t + 1 < steps ? pm.mat(tr.smoothed_cov.data() + (t + 1) * nn) : pm.mat(after->cov.data(), true);
      const auto C = Pn * transpose(element_at(t).E);
      for (int r = 0; r < n; ++r)
        for (int k = 0; k < n; ++k) tr.cross_cov[t * nn + r * n + k] = C(r, k);
    }
  });
}

}  // namespace kalmanscan::filters::detail

/// Explicitly instantiates the parallel filter and smoother for (T, N); used inside
/// namespace kalmanscan::filters::detail by the parallel_sizes_*.cpp files.
#define KALMANSCAN_INSTANTIATE_PARALLEL(T, N)                                                                   \
  template BasicTrajectory<T> parallel_filter_n<T, N>(const Model&, const Measurements&,                         \
                                                      const std::optional<StepState>&, StepState*,               \
                                                      const ParallelOptions&);                                   \
  template void parallel_smooth_n<T, N>(const Model&, const Measurements&, BasicTrajectory<T>&,                  \
                                        const std::optional<StepState>&, bool, const ParallelOptions&);
