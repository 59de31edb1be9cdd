// Bad input and numerical breakdown throw kalmanscan::filters::Error naming the step, the
// quantity and its dimensions; nothing returns a silent NaN.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <cmath>
#include <functional>
#include <string>

#include "kalmanscan/filters/information.hpp"
#include "kalmanscan/filters/kalman.hpp"
#include "kalmanscan/filters/parallel.hpp"
#include "kalmanscan/filters/smooth.hpp"
#include "kalmanscan/scan/gpu.hpp"
#include "reference.hpp"

namespace kalmanscan::filters {
namespace {

using ::testing::HasSubstr;

/// Runs f on every backend and expects an Error whose message contains every fragment.
void expect_error(const Model& model, const Measurements& meas, const std::vector<std::string>& fragments) {
  for (Backend b : {Backend::sequential, Backend::threaded}) {
    SCOPED_TRACE(b == Backend::sequential ? "sequential" : "threaded");
    try {
      smooth(model, meas, {.backend = b});
      ADD_FAILURE() << "no error thrown";
    } catch (const Error& e) {
      for (const std::string& f : fragments) EXPECT_THAT(e.what(), HasSubstr(f));
    }
  }
}

Model model2() { return testing::random_model(2, {1}, 5); }
Measurements log2(const Model& m) { return testing::simulate(m, 6, {1}, 0.0, 6); }

TEST(Errors, PriorCovarianceNotPositiveSemiDefinite) {
  Model m = model2();
  m.P0(0, 0) = -1.0;
  expect_error(m, log2(model2()), {"prior covariance P0 (2x2)", "not positive semi-definite"});
}

TEST(Errors, ProcessNoiseNotSymmetric) {
  Model m = model2();
  m.transition.table[0].Q(0, 1) += 1.0;
  expect_error(m, log2(model2()), {"transition.table[0].Q (2x2)", "not symmetric"});
}

TEST(Errors, MeasurementNoiseSingular) {
  Model m = model2();
  m.sensors[0].model.table[0].R(0, 0) = 0.0;
  expect_error(m, log2(model2()), {"R (1x1)", "not positive definite"});
}

TEST(Errors, DimensionMismatch) {
  Model m = model2();
  m.sensors[0].model.table[0].H = Eigen::MatrixXd::Ones(1, 3);
  expect_error(m, log2(model2()), {"H is 1x3, expected 1x2"});
  Model f = model2();
  f.transition.table[0].F = Eigen::MatrixXd::Identity(3, 3);
  expect_error(f, log2(model2()), {"F is 3x3, expected 2x2"});
}

TEST(Errors, ObservationOfWrongSizeNamesTheStep) {
  const Model m = model2();
  Measurements meas = log2(m);
  meas.add_step();
  meas.add(0, Eigen::Vector2d(1.0, 2.0));
  expect_error(m, meas, {"step 6:", "2 values, expected 1"});
}

TEST(Errors, InfiniteValueAndUnknownSensor) {
  const Model m = model2();
  Measurements meas = log2(m);
  meas.values[meas.value_begin[3]] = INFINITY;
  expect_error(m, meas, {"step 3:", "infinite value"});
  Measurements unknown = log2(m);
  unknown.sensor[2] = 4;
  expect_error(m, unknown, {"step 2:", "sensor 4", "1 sensors"});
}

TEST(Errors, DecreasingTimestamps) {
  const Model m = testing::constant_velocity(1, 1.0, 1.0);
  Measurements meas;
  for (double t : {0.0, 1.0, 0.5}) meas.add_step(t);
  expect_error(m, meas, {"step 2:", "timestamp 0.5"});
}

TEST(Errors, OverflowingInnovationIsReportedNotNaN) {
  // Finite inputs whose innovation covariance H P Hᵀ + R overflows.
  Model m = model2();
  m.P0 = 1e300 * Eigen::MatrixXd::Identity(2, 2);
  m.sensors[0].model.table[0].H = Eigen::RowVector2d(1e10, 0.0);
  expect_error(m, log2(model2()), {"step 0:"});
  try {
    kalman_filter<double>(m, log2(model2()), std::nullopt);
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("innovation covariance S (1x1) is not positive definite"));
  }
}

TEST(Errors, CarryOfTheWrongStepAndStateSize) {
  const Model m = model2();
  Measurements chunk = log2(m);
  chunk.first_step = 10;
  StepState carry;
  carry.step = 3, carry.mean = Eigen::Vector2d::Zero(), carry.cov = Eigen::Matrix2d::Identity();
  EXPECT_THROW(filter_chunk(m, chunk, carry), Error);
  carry.step = 9;
  carry.mean = Eigen::Vector3d::Zero();
  try {
    filter_chunk(m, chunk, carry, {.backend = Backend::threaded});
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("carry_in mean is 3x1, expected 2x1"));
  }
}

TEST(Errors, UnsupportedRequests) {
  const Model big = testing::random_model(65, {1}, 1);
  Measurements meas;
  meas.add_step();
  EXPECT_THROW(parallel_filter<double>(big, meas, std::nullopt, nullptr), Error);
  // cuda: no device (or no CUDA build) here, or a state above the GPU's 32 anywhere.
  if (scan::gpu::device_count() == 0) {
    EXPECT_THROW(smooth(model2(), log2(model2()), {.backend = Backend::cuda}), Error);
  }
  const Model state40 = testing::random_model(40, {1}, 2);
  EXPECT_THROW(smooth(state40, testing::simulate(state40, 3, {1}, 0.0, 3), {.backend = Backend::cuda}), Error);
  EXPECT_THROW(parse_backend("fast"), Error);
  EXPECT_THROW(parse_precision("half"), Error);
  // The information filter needs a positive-definite prior.
  Model singular = model2();
  singular.P0 = Eigen::Matrix2d::Zero();
  EXPECT_THROW(information_filter<double>(singular, log2(model2())), Error);
}

}  // namespace
}  // namespace kalmanscan::filters
