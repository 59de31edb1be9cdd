// The parallel-in-time filter/smoother against the sequential filter at scale, padded state
// sizes, chunked runs with carries against whole runs, and float runs.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "kalmanscan/filters/kalman.hpp"
#include "kalmanscan/filters/parallel.hpp"
#include "kalmanscan/filters/rts.hpp"
#include "kalmanscan/filters/smooth.hpp"
#include "reference.hpp"

namespace kalmanscan::filters {
namespace {

using testing::normwise;

/// Noisy positions on a smooth 2-D path, one step every dt seconds; every 7th step missing.
Measurements cv_log(std::size_t steps, double dt) {
  Measurements meas;
  for (std::size_t t = 0; t < steps; ++t) {
    const double s = double(t) * dt;
    meas.add_step(s);
    if (t % 7 != 3) meas.add(0, Eigen::Vector2d(std::sin(0.05 * s) + 0.1 * std::cos(3.1 * s), std::cos(0.03 * s)));
  }
  return meas;
}

template <class T, class U>
void expect_close(const BasicTrajectory<T>& a, const BasicTrajectory<U>& b, double tol) {
  ASSERT_EQ(a.steps, b.steps);
  EXPECT_LE(normwise(a.filtered_mean, b.filtered_mean), tol);
  EXPECT_LE(normwise(a.filtered_cov, b.filtered_cov), tol);
  EXPECT_LE(normwise(a.smoothed_mean, b.smoothed_mean), tol);
  EXPECT_LE(normwise(a.smoothed_cov, b.smoothed_cov), tol);
  EXPECT_LE(normwise(a.cross_cov, b.cross_cov), tol);
}

TEST(Parallel, EqualsSequentialOnLongConstantVelocityRun) {
  const Model model = testing::constant_velocity(2, 0.2, 0.5);
  const Measurements meas = cv_log(100000, 0.1);
  Trajectory seq = kalman_filter<double>(model, meas, std::nullopt);
  rts_smooth(model, meas, seq, std::nullopt, true);
  const ParallelOptions o{.backend = scan::Backend::threaded, .threads = 3};
  Trajectory par = parallel_filter<double>(model, meas, std::nullopt, nullptr, o);
  parallel_smooth(model, meas, par, std::nullopt, true, o);
  expect_close(par, seq, 1e-10);
  EXPECT_NEAR(par.log_likelihood, seq.log_likelihood, 1e-10 * std::abs(seq.log_likelihood));
  EXPECT_LE(normwise(par.nis, seq.nis), 1e-10);
  EXPECT_EQ(par.nis_dof, seq.nis_dof);
}

// Float: the parallel result stays within 1e-4 (normwise, every quantity) of the double
// sequential result on this model (measured: ~2.5e-7 for the smoothed means, about twice the
// float sequential filter's error, which is printed for comparison).
TEST(Parallel, FloatStaysCloseToDouble) {
  const Model model = testing::constant_velocity(2, 0.2, 0.5);
  const Measurements meas = cv_log(20000, 0.1);
  Trajectory ref = kalman_filter<double>(model, meas, std::nullopt);
  rts_smooth(model, meas, ref, std::nullopt, false);
  BasicTrajectory<float> seqf = kalman_filter<float>(model, meas, std::nullopt);
  rts_smooth(model, meas, seqf, std::nullopt, false);
  const ParallelOptions o{.backend = scan::Backend::threaded, .threads = 3};
  BasicTrajectory<float> parf = parallel_filter<float>(model, meas, std::nullopt, nullptr, o);
  parallel_smooth(model, meas, parf, std::nullopt, false, o);
  const double e_par = normwise(parf.smoothed_mean, ref.smoothed_mean), e_seq = normwise(seqf.smoothed_mean, ref.smoothed_mean);
  std::printf("float vs double, smoothed means, T = 2e4: parallel %.3g, sequential %.3g\n", e_par, e_seq);
  expect_close(parf, ref, 1e-4);
}

TEST(Parallel, PaddedStateSizes) {
  for (int n : {1, 3, 5, 7, 13}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    const Model model = testing::random_model(n, {2, 1}, 100 + n);
    const Measurements meas = testing::simulate(model, 300, {1, 3}, 0.1, 200 + n);
    Trajectory seq = kalman_filter<double>(model, meas, std::nullopt);
    rts_smooth(model, meas, seq, std::nullopt, true);
    const ParallelOptions o{.backend = scan::Backend::sequential};
    Trajectory par = parallel_filter<double>(model, meas, std::nullopt, nullptr, o);
    parallel_smooth(model, meas, par, std::nullopt, true, o);
    expect_close(par, seq, 1e-11);
    EXPECT_NEAR(par.log_likelihood, seq.log_likelihood, 1e-10 * std::abs(seq.log_likelihood));
  }
}

/// The sub-log of steps [lo, hi) as a chunk (global step indices kept).
Measurements slice(const Measurements& m, std::size_t lo, std::size_t hi) {
  Measurements c;
  c.first_step = lo;
  c.control_dim = m.control_dim;
  for (std::size_t t = lo; t < hi; ++t) {
    c.add_step(m.times.empty() ? std::numeric_limits<double>::quiet_NaN() : m.times[t]);
    for (std::size_t k = m.step_begin[t]; k < m.step_begin[t + 1]; ++k) c.add(m.sensor[k], Eigen::VectorXd(m.value(k)));
    if (!m.controls.empty()) c.set_control(t - lo, m.control(t));
  }
  return c;
}

/// Chunked filtering and smoothing through the high-level API equals the whole run.
void check_chunked(const Model& model, const Measurements& meas, const std::vector<std::size_t>& cuts, Backend backend) {
  const SmoothOptions o{.backend = backend, .cross_covariances = true, .threads = 3};
  const Trajectory whole = smooth(model, meas, o);
  std::vector<Trajectory> parts;
  std::vector<Measurements> chunks;
  std::optional<StepState> carry;
  double ll = 0.0;
  for (std::size_t c = 0; c + 1 < cuts.size(); ++c) {
    chunks.push_back(slice(meas, cuts[c], cuts[c + 1]));
    FilteredChunk f = filter_chunk(model, chunks.back(), carry, o);
    carry = f.carry_out;
    ll += f.trajectory.log_likelihood;
    parts.push_back(std::move(f.trajectory));
  }
  std::optional<StepState> after;
  for (std::size_t c = parts.size(); c-- > 0;) {
    smooth_chunk(model, chunks[c], parts[c], after, o);
    if (parts[c].steps > 0) after = first_smoothed(chunks[c], parts[c]);
  }
  Trajectory joined;
  for (const Trajectory& p : parts) {
    auto append = [](std::vector<double>& to, const std::vector<double>& from) { to.insert(to.end(), from.begin(), from.end()); };
    append(joined.filtered_mean, p.filtered_mean), append(joined.filtered_cov, p.filtered_cov);
    append(joined.smoothed_mean, p.smoothed_mean), append(joined.smoothed_cov, p.smoothed_cov);
    append(joined.cross_cov, p.cross_cov), append(joined.nis, p.nis);
    joined.steps += p.steps;
  }
  expect_close(joined, whole, 1e-11);
  EXPECT_LE(normwise(joined.nis, whole.nis), 1e-11);
  EXPECT_NEAR(ll, whole.log_likelihood, 1e-10 * std::abs(whole.log_likelihood));
}

TEST(Chunked, SequentialEqualsWhole) {
  const Model model = testing::constant_velocity(2, 0.2, 0.5);
  check_chunked(model, cv_log(3000, 0.1), {0, 1, 1, 1200, 2999, 3000}, Backend::sequential);
}

TEST(Chunked, ParallelEqualsWholeWithControls) {
  Model model = testing::random_model(4, {2, 1}, 31);
  model.transition.table[0].B = Eigen::MatrixXd::Ones(4, 2);
  const Measurements meas = testing::simulate(model, 40000, {1, 3}, 0.05, 32);
  check_chunked(model, meas, {0, 10000, 10001, 40000}, Backend::threaded);
}

TEST(Smooth, FloatPrecisionAndFilterOnly) {
  const Model model = testing::constant_velocity(2, 0.2, 0.5);
  const Measurements meas = cv_log(500, 0.1);
  const Trajectory d = smooth(model, meas, {.backend = Backend::sequential});
  const Trajectory f = smooth(model, meas, {.backend = Backend::threaded, .precision = Precision::float32});
  EXPECT_LE(normwise(f.smoothed_mean, d.smoothed_mean), 1e-4);
  const Trajectory fo = smooth(model, meas, {.filter_only = true});
  EXPECT_TRUE(fo.smoothed_mean.empty());
  EXPECT_EQ(fo.filtered_mean, d.filtered_mean);
}

// The parallel forms refuse states above their largest compiled size (errors_test.cpp); the
// automatic backend runs such a model sequentially even where the log is long enough for threads.
// Filtering is causal, so the first steps equal (bit for bit) the sequential filter of those steps
// alone; float, the cheaper arithmetic.
TEST(Smooth, AutomaticRunsStatesAboveTheParallelSizesSequentially) {
  const int n = parallel_state_sizes.back() + 1;
  const Model model = testing::random_model(n, {1}, 41);
  Measurements meas;  // built directly: simulate() factorises the 65 x 65 Q at every step
  for (std::size_t t = 0; t < scan::threaded_crossover; ++t) {
    meas.add_step();
    if (t % 97 == 0) meas.add(0, Eigen::Matrix<double, 1, 1>(std::sin(0.01 * double(t))));
  }
  const Trajectory automatic =
      smooth(model, meas, {.backend = Backend::automatic, .precision = Precision::float32, .filter_only = true});
  ASSERT_EQ(automatic.steps, meas.steps());
  for (double v : automatic.filtered_mean) ASSERT_TRUE(std::isfinite(v));
  const BasicTrajectory<float> head = kalman_filter<float>(model, slice(meas, 0, 300), std::nullopt);
  const std::vector<double> head_mean(head.filtered_mean.begin(), head.filtered_mean.end());
  EXPECT_EQ(std::vector<double>(automatic.filtered_mean.begin(), automatic.filtered_mean.begin() + 300 * n), head_mean);
}

// A float run of 10⁶ steps stays finite; its normwise error against double is printed and
// only loosely bounded (5e-2).
TEST(Parallel, MillionStepFloatRunStaysFinite) {
  const Model model = testing::constant_velocity(2, 0.2, 0.5);
  const Measurements meas = cv_log(1000000, 0.1);
  const ParallelOptions o{.backend = scan::Backend::threaded, .diagnostics = false};
  const auto t0 = std::chrono::steady_clock::now();
  BasicTrajectory<float> f = parallel_filter<float>(model, meas, std::nullopt, nullptr, o);
  parallel_smooth(model, meas, f, std::nullopt, false, o);
  const auto t1 = std::chrono::steady_clock::now();
  Trajectory d = parallel_filter<double>(model, meas, std::nullopt, nullptr, o);
  parallel_smooth(model, meas, d, std::nullopt, false, o);
  for (float v : f.smoothed_mean) ASSERT_TRUE(std::isfinite(v));
  for (float v : f.smoothed_cov) ASSERT_TRUE(std::isfinite(v));
  const double ef = normwise(f.filtered_mean, d.filtered_mean), es = normwise(f.smoothed_mean, d.smoothed_mean);
  std::printf("float vs double at T = 1e6: filtered means %.3g, smoothed means %.3g (float run %.2f s)\n", ef, es,
              std::chrono::duration<double>(t1 - t0).count());
  EXPECT_LE(es, 5e-2);
}

}  // namespace
}  // namespace kalmanscan::filters
