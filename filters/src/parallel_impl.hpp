// The parallel filter and smoother for one compiled state size N, or for any size with
// N = dynamic_size (private; instantiated in parallel_sizes_*.cpp for the sizes in
// parallel_state_sizes and in parallel_dynamic.cpp). Host side: prepares the model in precision T
// padded to N, builds elements on the fly as scan leaves and writes the prefixes straight into
// the trajectory. The dynamic path runs the same element code on Eigen heap matrices
// (dynamic_dense.hpp) with storage reused per thread: leaves are rebuilt in place and combined
// in place (the engine's combine_into), so a scan allocates per thread and range, not per step.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include "checks.hpp"
#include "dynamic_dense.hpp"
#include "gpu.hpp"
#include "kalmanscan/filters/parallel.hpp"
#include "kalmanscan/filters/parallel_elements.hpp"
#include "kalmanscan/scan/parallel.hpp"
#include "steps.hpp"

namespace kalmanscan::filters::detail {

using elements::Mat;
using elements::Vec;

/// The engine's split threshold for state size N: a dynamic-size element costs microseconds
/// (n ≈ 8) to milliseconds (n ≈ 65) where a fork–join costs ~10 µs, so the dynamic path splits
/// sequences from 64 steps; compiled sizes keep the engine's default.
template <int N>
constexpr std::size_t min_split_length() {
  return N == elements::dynamic_size ? 64 : scan::detail::min_split_length;
}

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

/// The model of one run in precision T, padded to a compiled N (or of its own size n for
/// N = dynamic_size). The per-step builders write into caller storage and a Scratch of double
/// buffers, so that the dynamic path reuses per-thread storage from step to step.
template <class T, int N>
class PaddedModel {
 public:
  using D = elements::Dense<T, N>;
  using MatN = typename D::Mat;
  using VecN = typename D::Vec;
  using Information = elements::StepInformation<T, N>;
  /// Double-precision accumulators of one step (inline for a compiled N, heap for dynamic_size).
  struct Scratch {
    Eigen::Matrix<double, N, N> Psi, f, q;
    Eigen::Matrix<double, N, 1> psi, cc;
  };

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

  /// A flat n-vector / row-major n × n matrix (or column-major when col_major), padded with zeros.
  template <class U>
  void vec_into(const U* p, VecN& v) const {
    D::resize(v, n_, 1);
    D::set_zero(v);
    for (int i = 0; i < n_; ++i) v[i] = T(p[i]);
  }
  template <class U>
  void mat_into(const U* p, MatN& m, bool col_major = false) const {
    D::resize(m, n_, n_);
    D::set_zero(m);
    for (int i = 0; i < n_; ++i)
      for (int j = 0; j < n_; ++j) m(i, j) = T(col_major ? p[j * n_ + i] : p[i * n_ + j]);
  }
  template <class U>
  VecN vec(const U* p) const {
    VecN v;
    vec_into(p, v);
    return v;
  }
  template <class U>
  MatN mat(const U* p, bool col_major = false) const {
    MatN m;
    mat_into(p, m, col_major);
    return m;
  }

  VecN m0() const { return vec(model_.m0.data()); }
  MatN P0() const { return mat(model_.P0.data(), true); }

  /// Ψ = Σ Hᵀ R⁻¹ H and ψ = Σ Hᵀ R⁻¹ (z - d) of local step t (in double, then rounded to T).
  /// Fully measured observations use the per-sensor-model R⁻¹ H (no allocation).
  void information(std::size_t t, Information& z, Scratch& s) const {
    const std::size_t step = meas_.first_step + t;
    zero(s.Psi, n_, n_), zero(s.psi, n_, 1);
    for (std::size_t k = meas_.step_begin[t]; k < meas_.step_begin[t + 1]; ++k) {
      const std::uint32_t sensor = meas_.sensor[k];
      const double* zk = meas_.values.data() + meas_.value_begin[k];
      const Eigen::Index m = Eigen::Index(meas_.value_begin[k + 1] - meas_.value_begin[k]);
      const std::size_t e = model_.sensors[sensor].model.position(step);
      const Prepared& p = sensors_[sensor][e];
      bool complete = true;
      for (Eigen::Index r = 0; r < m; ++r) complete = complete && !std::isnan(zk[r]);
      if (complete) {
        s.Psi.topLeftCorner(n_, n_) += p.HtRiH;
        for (Eigen::Index r = 0; r < m; ++r) {
          const double y = zk[r] - (p.d.size() ? p.d[r] : 0.0);
          for (int j = 0; j < n_; ++j) s.psi[j] += p.RiH(r, j) * y;
        }
        continue;
      }
      // Missing components: the same with the measured rows of H, d and rows/columns of R.
      const SensorModel& sm = model_.sensors[sensor].model.table[e];
      std::vector<Eigen::Index> present;
      for (Eigen::Index i = 0; i < m; ++i)
        if (!std::isnan(zk[i])) present.push_back(i);
      const Eigen::Index mp = Eigen::Index(present.size());
      if (mp == 0) continue;
      Eigen::MatrixXd H(mp, n_), R(mp, mp);
      Eigen::VectorXd y(mp);
      for (Eigen::Index a = 0; a < mp; ++a) {
        H.row(a) = sm.H.row(present[a]);
        y[a] = zk[present[a]] - (sm.d.size() ? sm.d[present[a]] : 0.0);
        for (Eigen::Index b = 0; b < mp; ++b) R(a, b) = sm.R(present[a], present[b]);
      }
      const Eigen::MatrixXd RiH = R.llt().solve(H);
      s.Psi.topLeftCorner(n_, n_) += H.transpose() * RiH;
      s.psi.head(n_) += RiH.transpose() * y;
    }
    D::resize(z.Psi, n_, n_), D::resize(z.psi, n_, 1);
    D::set_zero(z.Psi), D::set_zero(z.psi);
    for (int i = 0; i < n_; ++i) {
      z.psi[i] = T(s.psi[i]);
      for (int j = 0; j < n_; ++j) z.Psi(i, j) = T(s.Psi(i, j));
    }
  }
  Information information(std::size_t t) const {
    Information z;
    Scratch s;
    information(t, z, s);
    return z;
  }

  /// F, Q and c + B u of the transition from global step `from` over dt, with control u
  /// (null or empty: none).
  void transition(std::size_t from, double dt, const double* u, MatN& F, MatN& Q, VecN& c, Scratch& s) const {
    zero(s.cc, n_, 1);
    if (model_.motion) {
      zero(s.f, n_, n_), zero(s.q, n_, n_);
      model_.motion->discretise(dt, s.f.data(), s.q.data(), n_);  // row-major n × n at the start
      mat_into(s.f.data(), F), mat_into(s.q.data(), Q);
    } else {
      const std::size_t e = model_.transition.position(from);
      F = F_[e], Q = Q_[e];
      const Transition& tr = model_.transition.table[e];
      for (int i = 0; i < n_; ++i) s.cc[i] = tr.c.size() ? tr.c[i] : 0.0;
      if (u && tr.B.size())
        for (int i = 0; i < n_; ++i)
          for (Eigen::Index j = 0; j < tr.B.cols(); ++j) s.cc[i] += tr.B(i, j) * u[j];
    }
    vec_into(s.cc.data(), c);
  }

  /// The transition into local step t (from t-1 or the carry).
  void transition_into(std::size_t t, const std::optional<StepState>& carry_in, MatN& F, MatN& Q, VecN& c,
                       Scratch& s) const {
    const double* u = nullptr;
    if (t > 0 && meas_.control_dim > 0 && !meas_.controls.empty()) u = meas_.controls.data() + (t - 1) * meas_.control_dim;
    if (t == 0 && carry_in && carry_in->control.size()) u = carry_in->control.data();
    transition(meas_.first_step + t - 1, dt_into(meas_, carry_in, t), u, F, Q, c, s);
  }

  /// The transition out of local step t (to t+1 or the state after the chunk).
  void transition_out_of(std::size_t t, const std::optional<StepState>& after, MatN& F, MatN& Q, VecN& c,
                         Scratch& s) const {
    const double* u = meas_.control_dim > 0 && !meas_.controls.empty() ? meas_.controls.data() + t * meas_.control_dim : nullptr;
    transition(meas_.first_step + t, dt_out_of(meas_, after, t), u, F, Q, c, s);
  }

 private:
  struct Prepared {
    Eigen::MatrixXd RiH;    ///< R⁻¹ H (m × n)
    Eigen::VectorXd d;      ///< offset (or empty)
    Eigen::MatrixXd HtRiH;  ///< Hᵀ R⁻¹ H (n × n)
  };
  /// Zeroes x, sized rows × cols when its size is dynamic.
  template <class X>
  static void zero(X& x, int rows, int cols) {
    if constexpr (X::SizeAtCompileTime == Eigen::Dynamic)
      x.setZero(rows, cols);
    else
      x.setZero();
  }
  const Model& model_;
  const Measurements& meas_;
  int n_;
  std::vector<MatN> F_, Q_;
  std::vector<std::vector<Prepared>> sensors_;
};

/// Storage of one leaf: the step's model, information and element, with their scratch. The
/// dynamic path keeps one per thread (storage reused from step to step, the leaf returned by
/// reference); a compiled size builds its leaf on the stack.
template <class T, int N, class Element, class ElementScratch>
struct LeafStorage {
  typename PaddedModel<T, N>::MatN F, Q, P;
  typename PaddedModel<T, N>::VecN c, m;
  typename PaddedModel<T, N>::Information z;
  typename PaddedModel<T, N>::Scratch model;
  Element e;
  ElementScratch s;
};

/// One X per thread that calls get(), for the lifetime of this object (the dynamic path's leaf
/// storage: allocated once per thread and call, freed with the call). get() takes the lock only
/// on a thread's first call; later calls find the slot through a thread-local cache tagged with
/// this object's id (ids are never reused, so a cache left by an earlier object never matches).
template <class X>
class PerThread {
 public:
  X& get() {
    thread_local std::uint64_t owner = 0;
    thread_local X* mine = nullptr;
    if (owner != id_) {
      const std::lock_guard<std::mutex> lock(mutex_);
      slots_.push_back(std::make_unique<X>());
      mine = slots_.back().get();
      owner = id_;
    }
    return *mine;
  }

 private:
  static std::uint64_t next_id() {
    static std::atomic<std::uint64_t> counter{0};
    return ++counter;
  }
  const std::uint64_t id_ = next_id();
  std::mutex mutex_;
  std::vector<std::unique_ptr<X>> slots_;
};

/// Builds a leaf with build(storage) and returns it: by reference to this thread's storage in
/// `pool` for dynamic_size (rebuilt in place at the thread's next leaf: the engine's contract
/// allows it), by value from the stack for a compiled size.
template <int N, class Storage, class Build>
decltype(auto) make_leaf(PerThread<Storage>& pool, Build&& build) {
  if constexpr (N == elements::dynamic_size) {
    Storage& st = pool.get();
    build(st);
    return static_cast<const decltype(st.e)&>(st.e);
  } else {
    Storage st;
    build(st);
    return decltype(st.e)(st.e);
  }
}

/// Whether the first n entries of v and the n × n block of m are finite.
template <class V, class M>
bool finite(const V& v, const M& m, int n) {
  double s = 0.0;
  for (int i = 0; i < n; ++i) {
    s += double(v[i]);
    for (int j = 0; j < n; ++j) s += double(m(i, j));
  }
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
      typename PaddedModel<T, N>::Scratch ms;
      for (std::size_t t = steps * task / p; t < steps * (task + 1) / p; ++t) {
        typename PaddedModel<T, N>::Information z;
        pm.information(t, z, ms);
        store(Psi, t, z.Psi), store(psi, t, z.psi);
        if (t == 0 && !carry_in) continue;
        typename PaddedModel<T, N>::MatN Ft, Qt;
        typename PaddedModel<T, N>::VecN ct;
        pm.transition_into(t, carry_in, Ft, Qt, ct, ms);
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
      typename PaddedModel<T, N>::Scratch ms;
      for (std::size_t t = steps * task / p; t < steps * (task + 1) / p; ++t) {
        store(fm, t, pm.vec(tr.filtered_mean.data() + t * n));
        store(fc, t, pm.mat(tr.filtered_cov.data() + t * n * n));
        if (t + 1 == steps && !after) continue;
        typename PaddedModel<T, N>::MatN Ft, Qt;
        typename PaddedModel<T, N>::VecN ct;
        pm.transition_out_of(t, after, Ft, Qt, ct, ms);
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

  using Storage = LeafStorage<T, N, Element, elements::FilterScratch<T, N>>;
  PerThread<Storage> storage;
  auto leaf = [&](std::size_t, std::size_t i) -> decltype(auto) {
    return make_leaf<N>(storage, [&](Storage& st) {
      pm.information(i, st.z, st.model);
      // A fresh sequence starts from the prior, with no prediction before the first update.
      if (i == 0 && !carry_in) {
        st.e = elements::first_filter_element(pm.m0(), pm.P0(), st.z);
        return;
      }
      pm.transition_into(i, carry_in, st.F, st.Q, st.c, st.model);
      elements::filter_element_into(st.F, st.Q, st.c, st.z, st.e, st.s);
    });
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
    if (e.failed || !finite(e.b, e.C, n)) bad.note(i);
  };
  if (o.backend == scan::Backend::cuda) {
    gpu_filter_n<T, N>(pm, meas, carry_in, tr, o);
  } else {
    Element cin{};
    if (carry_in) cin = elements::posterior_element(pm.vec(carry_in->mean.data()), pm.mat(carry_in->cov.data(), true));
    scan::Carries<Op> carries;
    if (carry_in) carries.in = {&cin, 1};
    scan::scan<Op>(scan::Layout::single(meas.steps()), leaf, sink,
                   {.backend = o.backend,
                    .direction = scan::Direction::forward,
                    .threads = o.threads,
                    .min_split_length = min_split_length<N>()},
                   carries);
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
  using Storage = LeafStorage<T, N, Element, elements::SmoothScratch<T, N>>;
  auto build = [&](std::size_t i, Storage& st) {
    pm.vec_into(tr.filtered_mean.data() + i * n, st.m);
    pm.mat_into(tr.filtered_cov.data() + i * nn, st.P);
    if (i + 1 == steps && !after) {
      st.e = elements::last_smooth_element(st.m, st.P);
      return;
    }
    pm.transition_out_of(i, after, st.F, st.Q, st.c, st.model);
    elements::smooth_element_into(st.F, st.Q, st.c, st.m, st.P, st.e, st.s);
  };
  PerThread<Storage> storage;
  auto leaf = [&](std::size_t, std::size_t i) -> decltype(auto) {
    return make_leaf<N>(storage, [&](Storage& st) { build(i, st); });
  };
  FirstFailure bad;
  auto sink = [&](std::size_t, std::size_t i, const Element& e) {
    // The suffix has E = 0, g = m_{i|T-1}, L = P_{i|T-1}.
    T* m = tr.smoothed_mean.data() + i * n;
    T* P = tr.smoothed_cov.data() + i * nn;
    for (int r = 0; r < n; ++r) {
      m[r] = e.g[r];
      for (int k = 0; k < n; ++k) P[r * n + k] = e.L(r, k);
    }
    if (!finite(e.g, e.L, n)) bad.note(i);
  };
  if (o.backend == scan::Backend::cuda) {
    gpu_smooth_n<T, N>(pm, meas, after, tr, o);
  } else {
    Element cin{};
    if (after) cin = elements::last_smooth_element(pm.vec(after->mean.data()), pm.mat(after->cov.data(), true));
    scan::Carries<Op> carries;
    if (after) carries.in = {&cin, 1};
    scan::scan<Op>(scan::Layout::single(steps), leaf, sink,
                   {.backend = o.backend,
                    .direction = scan::Direction::reverse,
                    .threads = o.threads,
                    .min_split_length = min_split_length<N>()},
                   carries);
  }
  if (const auto t = bad.step()) fail(meas.first_step + *t, "parallel smoother: the smoothed state is not finite");
  if (!cross || tr.cross_cov.empty()) return;
  // Cov(x_{t+1}, x_t | all) = Pˢ_{t+1} E_tᵀ, a map over the steps.
  const std::size_t pairs = tr.cross_cov.size() / nn;
  const unsigned p = map_threads(o);
  scan::parallel_tasks(p, p, [&](std::size_t task) {
    Storage st;
    typename PaddedModel<T, N>::MatN Pn, C;
    for (std::size_t t = pairs * task / p; t < pairs * (task + 1) / p; ++t) {
      if (t + 1 < steps)
        pm.mat_into(tr.smoothed_cov.data() + (t + 1) * nn, Pn);
      else
        pm.mat_into(after->cov.data(), Pn, true);
      build(t, st);
      elements::Dense<T, N>::mul_nt(Pn, st.e.E, C);
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
