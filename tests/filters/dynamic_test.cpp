// The dynamic-size path of the parallel filter/smoother (the same elements and operators on
// Eigen heap matrices of the model's own size, ParallelOptions::dynamic_size or any state above
// the compiled sizes) against the sequential filter and RTS smoother, against the compiled path
// at a size that has one, and against the dense batch solution; threaded, float and double,
// missing components, multi-rate sensors, singular Q, T = 0 and 1.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "kalmanscan/filters/kalman.hpp"
#include "kalmanscan/filters/parallel.hpp"
#include "kalmanscan/filters/rts.hpp"
#include "reference.hpp"

namespace kalmanscan::filters {
namespace {

using testing::normwise;

/// Filter + smoother (with cross-covariances) on the parallel forms.
template <class T>
BasicTrajectory<T> parallel_run(const Model& model, const Measurements& meas, bool dynamic, scan::Backend backend) {
  const ParallelOptions o{.backend = backend, .threads = 3, .dynamic_size = dynamic};
  BasicTrajectory<T> tr = parallel_filter<T>(model, meas, std::nullopt, nullptr, o);
  parallel_smooth(model, meas, tr, std::nullopt, true, o);
  return tr;
}

template <class T>
BasicTrajectory<T> sequential_run(const Model& model, const Measurements& meas) {
  BasicTrajectory<T> tr = kalman_filter<T>(model, meas, std::nullopt);
  rts_smooth(model, meas, tr, std::nullopt, true);
  return tr;
}

/// Every quantity of a against b, normwise (NIS and the log-likelihood too).
template <class T, class U>
void expect_close(const BasicTrajectory<T>& a, const BasicTrajectory<U>& b, double tol) {
  testing::expect_states_close(a, b, tol);
  EXPECT_LE(normwise(a.nis, b.nis), tol);
  EXPECT_EQ(a.nis_dof, b.nis_dof);
  EXPECT_NEAR(a.log_likelihood, b.log_likelihood, tol * std::abs(b.log_likelihood));
}

// Above the largest compiled size (65), threaded (the dynamic path splits sequences from 64
// steps, so 3 threads split this one), with two sensors at rates 1 and 3 and 10 % of the
// components missing.
TEST(Dynamic, EqualsSequentialAboveTheCompiledSizes) {
  const int n = parallel_state_sizes.back() + 1;
  const Model model = testing::random_model(n, {3, 2}, 51);
  const Measurements meas = testing::simulate(model, 100, {1, 3}, 0.1, 52);
  const Trajectory seq = sequential_run<double>(model, meas);
  expect_close(parallel_run<double>(model, meas, false, scan::Backend::threaded), seq, 1e-10);
  expect_close(parallel_run<double>(model, meas, false, scan::Backend::sequential), seq, 1e-10);
}

// Float: the dynamic path stays within 2e-4 (normwise, every quantity) of the double sequential
// result at n = 65; its error and the float sequential filter's are printed. Measured: smoothed
// means 5.7e-5 (the float sequential filter: 4.8e-7), covariances 2.1e-5 (4.2e-7): the element
// form in float is ~100x further from double than the float sequential filter at this size.
TEST(Dynamic, FloatStaysCloseToDouble) {
  const int n = parallel_state_sizes.back() + 1;
  const Model model = testing::random_model(n, {3, 2}, 53);
  const Measurements meas = testing::simulate(model, 120, {1, 3}, 0.1, 54);
  const Trajectory ref = sequential_run<double>(model, meas);
  const BasicTrajectory<float> par = parallel_run<float>(model, meas, false, scan::Backend::threaded);
  const BasicTrajectory<float> seq = sequential_run<float>(model, meas);
  std::printf("n = 65 float vs double, smoothed means: dynamic parallel %.3g, sequential %.3g; smoothed covariances %.3g, %.3g\n",
              normwise(par.smoothed_mean, ref.smoothed_mean), normwise(seq.smoothed_mean, ref.smoothed_mean),
              normwise(par.smoothed_cov, ref.smoothed_cov), normwise(seq.smoothed_cov, ref.smoothed_cov));
  expect_close(par, ref, 2e-4);
}

// At a size with a compiled path (7, padded to 8), the dynamic path forced by the option equals
// the compiled path and the sequential filter, threaded and on one thread.
TEST(Dynamic, EqualsCompiledPathWhereOneExists) {
  const Model model = testing::random_model(7, {2, 1, 3}, 55);
  const Measurements meas = testing::simulate(model, 600, {1, 2, 5}, 0.15, 56);
  const Trajectory seq = sequential_run<double>(model, meas);
  const Trajectory compiled = parallel_run<double>(model, meas, false, scan::Backend::threaded);
  for (scan::Backend b : {scan::Backend::threaded, scan::Backend::sequential}) {
    SCOPED_TRACE(scan::to_string(b));
    const Trajectory dynamic = parallel_run<double>(model, meas, true, b);
    expect_close(dynamic, compiled, 1e-11);
    expect_close(dynamic, seq, 1e-10);
  }
  const BasicTrajectory<float> dynamic_f = parallel_run<float>(model, meas, true, scan::Backend::threaded);
  const BasicTrajectory<float> compiled_f = parallel_run<float>(model, meas, false, scan::Backend::threaded);
  expect_close(dynamic_f, seq, 1e-4);
  EXPECT_LE(normwise(dynamic_f.smoothed_mean, compiled_f.smoothed_mean), 1e-4);
}

// A singular Q (rank 2 of 9) and a singular prior: C and F P Fᵀ + Q are singular; the dynamic
// path matches the dense batch solution, as the sequential one does (batch_test.cpp).
TEST(Dynamic, SingularProcessNoiseAgainstTheBatchSolution) {
  Model model = testing::random_model(9, {2, 3}, 57, /*q_rank=*/2);
  const Eigen::MatrixXd G = Eigen::MatrixXd::Random(9, 4);
  model.P0 = G * G.transpose();
  const Measurements meas = testing::simulate(model, 12, {1, 2}, 0.1, 58);
  const testing::Batch b = testing::batch_solution(model, meas);
  for (scan::Backend backend : {scan::Backend::threaded, scan::Backend::sequential}) {
    const Trajectory tr = parallel_run<double>(model, meas, true, backend);
    EXPECT_LE(normwise(tr.filtered_mean, testing::flatten(b.filtered_mean)), 1e-8);
    EXPECT_LE(normwise(tr.filtered_cov, testing::flatten(b.filtered_cov)), 1e-8);
    EXPECT_LE(normwise(tr.smoothed_mean, testing::flatten(b.smoothed_mean)), 1e-8);
    EXPECT_LE(normwise(tr.smoothed_cov, testing::flatten(b.smoothed_cov)), 1e-8);
    EXPECT_LE(normwise(tr.cross_cov, testing::flatten(b.cross_cov)), 1e-8);
    EXPECT_NEAR(tr.log_likelihood, b.log_likelihood, 1e-9 * std::abs(b.log_likelihood));
  }
}

TEST(Dynamic, EmptyAndSingleStep) {
  const Model model = testing::random_model(5, {2}, 59);
  const Trajectory empty = parallel_run<double>(model, Measurements{}, true, scan::Backend::threaded);
  EXPECT_EQ(empty.steps, 0u);
  EXPECT_TRUE(empty.filtered_mean.empty());
  EXPECT_EQ(empty.log_likelihood, 0.0);
  const Measurements one = testing::simulate(model, 1, {1}, 0.0, 60);
  const testing::Batch b = testing::batch_solution(model, one);
  const Trajectory tr = parallel_run<double>(model, one, true, scan::Backend::threaded);
  EXPECT_LE(normwise(tr.filtered_mean, testing::flatten(b.filtered_mean)), 1e-12);
  EXPECT_LE(normwise(tr.smoothed_cov, testing::flatten(b.smoothed_cov)), 1e-12);
  EXPECT_NEAR(tr.log_likelihood, b.log_likelihood, 1e-12 * std::abs(b.log_likelihood));
}

}  // namespace
}  // namespace kalmanscan::filters
