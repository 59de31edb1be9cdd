// The sequential and parallel filters/smoothers against the dense batch solution (reference.hpp),
// the information filter against the Kalman filter, and the awkward cases: missing data,
// multi-rate sensors, controls, time-varying and singular models, T = 0 and 1.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "kalmanscan/filters/information.hpp"
#include "kalmanscan/filters/kalman.hpp"
#include "kalmanscan/filters/parallel.hpp"
#include "kalmanscan/filters/rts.hpp"
#include "kalmanscan/filters/smooth.hpp"
#include "reference.hpp"

namespace kalmanscan::filters {
namespace {

using testing::batch_solution;
using testing::flatten;
using testing::normwise;

/// How a trajectory is computed: the sequential filter, or the parallel scan run sequentially or
/// on threads.
enum class Way { sequential, parallel_scan_sequential, parallel_threaded };
std::string name(Way w) {
  switch (w) {
    case Way::sequential: return "sequential";
    case Way::parallel_scan_sequential: return "parallel_scan_sequential";
    case Way::parallel_threaded: return "parallel_threaded";
  }
  return "";
}

Trajectory run(Way way, const Model& model, const Measurements& meas) {
  if (way == Way::sequential) {
    Trajectory tr = kalman_filter<double>(model, meas, std::nullopt);
    rts_smooth(model, meas, tr, std::nullopt, true);
    return tr;
  }
  const ParallelOptions o{.backend = way == Way::parallel_threaded ? scan::Backend::threaded : scan::Backend::sequential,
                          .threads = 3};
  Trajectory tr = parallel_filter<double>(model, meas, std::nullopt, nullptr, o);
  parallel_smooth(model, meas, tr, std::nullopt, true, o);
  return tr;
}

/// Every quantity of a trajectory against the batch solution.
void expect_matches_batch(const Trajectory& tr, const testing::Batch& b, double tol) {
  ASSERT_EQ(tr.steps, b.filtered_mean.size());
  EXPECT_LE(normwise(tr.filtered_mean, flatten(b.filtered_mean)), tol);
  EXPECT_LE(normwise(tr.filtered_cov, flatten(b.filtered_cov)), tol);
  EXPECT_LE(normwise(tr.smoothed_mean, flatten(b.smoothed_mean)), tol);
  EXPECT_LE(normwise(tr.smoothed_cov, flatten(b.smoothed_cov)), tol);
  EXPECT_LE(normwise(tr.cross_cov, flatten(b.cross_cov)), tol);
}

class BatchTest : public ::testing::TestWithParam<Way> {};

TEST_P(BatchTest, RandomModelsWithMultiRateSensorsAndMissingComponents) {
  for (std::uint32_t seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Model model = testing::random_model(3, {2, 1, 3}, seed);
    const Measurements meas = testing::simulate(model, 14, {1, 3, 4}, 0.2, seed);
    const testing::Batch b = batch_solution(model, meas);
    const Trajectory tr = run(GetParam(), model, meas);
    expect_matches_batch(tr, b, 1e-9);
    // Log-likelihood = log density of the stacked observations.
    EXPECT_NEAR(tr.log_likelihood, b.log_likelihood, 1e-9 * std::abs(b.log_likelihood));
  }
}

TEST_P(BatchTest, ControlsAndTimeVaryingModel) {
  Model model = testing::random_model(4, {2}, 7);
  const Model other = testing::random_model(4, {2}, 8);
  // Alternate two transitions and two sensor models through index tables; add a control.
  Transition a = model.transition.table[0], b = other.transition.table[0];
  a.B = Eigen::MatrixXd::Ones(4, 1);
  b.B = Eigen::MatrixXd::Constant(4, 1, -0.5);
  model.transition = {{a, b}, {}};
  model.transition.index = {0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1};
  model.sensors[0].model.table.push_back(other.sensors[0].model.table[0]);
  model.sensors[0].model.index = {1, 0, 0, 1, 1, 0, 1, 0, 1, 0, 0, 1};
  const Measurements meas = testing::simulate(model, 12, {1}, 0.0, 9);
  ASSERT_FALSE(meas.controls.empty());
  const Trajectory tr = run(GetParam(), model, meas);
  const testing::Batch bs = batch_solution(model, meas);
  expect_matches_batch(tr, bs, 1e-9);
  EXPECT_NEAR(tr.log_likelihood, bs.log_likelihood, 1e-9 * std::abs(bs.log_likelihood));
}

TEST_P(BatchTest, SingularProcessNoiseAndPrior) {
  Model model = testing::random_model(4, {1, 2}, 11, /*q_rank=*/1);
  // A rank-2 prior: C and F P Fᵀ + Q are singular at the start.
  const Eigen::MatrixXd G = Eigen::MatrixXd::Random(4, 2);
  model.P0 = G * G.transpose();
  const Measurements meas = testing::simulate(model, 10, {1, 2}, 0.1, 12);
  const Trajectory tr = run(GetParam(), model, meas);
  const testing::Batch b = batch_solution(model, meas);
  expect_matches_batch(tr, b, 1e-8);
  EXPECT_NEAR(tr.log_likelihood, b.log_likelihood, 1e-9 * std::abs(b.log_likelihood));
}

TEST_P(BatchTest, MotionModelWithIrregularTimestamps) {
  Model model = testing::constant_velocity(2, 0.5, 0.3);
  Measurements meas;
  const double times[] = {0.0, 0.1, 0.35, 0.35, 1.0, 1.05, 2.5, 2.6};
  for (int t = 0; t < 8; ++t) {
    meas.add_step(times[t]);
    if (t != 4) meas.add(0, Eigen::Vector2d(std::cos(times[t]), std::sin(2 * times[t])));
  }
  const Trajectory tr = run(GetParam(), model, meas);
  expect_matches_batch(tr, batch_solution(model, meas), 1e-9);
}

TEST_P(BatchTest, EmptyAndSingleStep) {
  const Model model = testing::random_model(2, {1}, 3);
  const Trajectory empty = run(GetParam(), model, Measurements{});
  EXPECT_EQ(empty.steps, 0u);
  EXPECT_TRUE(empty.filtered_mean.empty());
  EXPECT_EQ(empty.log_likelihood, 0.0);
  const Measurements one = testing::simulate(model, 1, {1}, 0.0, 4);
  const Trajectory tr = run(GetParam(), model, one);
  const testing::Batch b = batch_solution(model, one);
  expect_matches_batch(tr, b, 1e-12);
  EXPECT_NEAR(tr.log_likelihood, b.log_likelihood, 1e-12 * std::abs(b.log_likelihood));
  // A single step without measurement is the prior itself.
  Measurements none;
  none.add_step();
  const Trajectory prior = run(GetParam(), model, none);
  EXPECT_LE(normwise(prior.filtered_mean, std::vector<double>(model.m0.data(), model.m0.data() + 2)), 1e-15);
  EXPECT_EQ(prior.nis_dof[0], 0);
}

INSTANTIATE_TEST_SUITE_P(Ways, BatchTest,
                         ::testing::Values(Way::sequential, Way::parallel_scan_sequential, Way::parallel_threaded),
                         [](const auto& p) { return name(p.param); });

TEST(InformationFilter, EqualsKalmanFilter) {
  for (std::uint32_t seed = 20; seed < 23; ++seed) {
    const Model model = testing::random_model(4, {2, 1, 2}, seed);
    const Measurements meas = testing::simulate(model, 30, {1, 2, 5}, 0.15, seed);
    const Trajectory kf = kalman_filter<double>(model, meas, std::nullopt);
    const Trajectory inf = information_filter<double>(model, meas);
    EXPECT_LE(normwise(inf.filtered_mean, kf.filtered_mean), 1e-11);
    EXPECT_LE(normwise(inf.filtered_cov, kf.filtered_cov), 1e-11);
  }
}

TEST(Diagnostics, NisIsTheWhitenedInnovationAndNeesMatchesClosedForm) {
  // One scalar step: ν = z - H m0, S = H P0 Hᵀ + R, NIS = ν² / S.
  Model model;
  model.m0 = Eigen::Vector2d(1.0, -2.0);
  model.P0 = Eigen::Vector2d(4.0, 9.0).asDiagonal();
  model.transition = Varying<Transition>::constant({Eigen::Matrix2d::Identity(), Eigen::Matrix2d::Identity(), {}, {}});
  model.sensors.push_back({"x", Varying<SensorModel>::constant({Eigen::RowVector2d(1.0, 1.0), Eigen::Matrix<double, 1, 1>(2.0), {}})});
  Measurements meas;
  meas.add_step();
  meas.add(0, Eigen::Matrix<double, 1, 1>(3.0));
  const Trajectory tr = kalman_filter<double>(model, meas, std::nullopt);
  const double nu = 3.0 - (1.0 - 2.0), S = 4.0 + 9.0 + 2.0;
  EXPECT_NEAR(tr.nis[0], nu * nu / S, 1e-14);
  EXPECT_EQ(tr.nis_dof[0], 1);
  EXPECT_NEAR(tr.log_likelihood, -0.5 * (nu * nu / S + std::log(S) + std::log(2 * M_PI)), 1e-14);
  const Gaussian<double> g{Eigen::Vector2d(1.0, 2.0), Eigen::Vector2d(4.0, 0.25).asDiagonal()};
  EXPECT_NEAR(nees<double>(g, Eigen::Vector2d(3.0, 1.0)), 4.0 / 4.0 + 1.0 / 0.25, 1e-14);
}

}  // namespace
}  // namespace kalmanscan::filters
