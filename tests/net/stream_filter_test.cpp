// The service's per-stream filter against the filters library's sequential filter and RTS
// smoother run offline on the same data, and its late/out-of-order/duplicate policy.
#include <cmath>
#include <limits>
#include <memory>

#include <gtest/gtest.h>

#include "kalmanscan/filters/kalman.hpp"
#include "kalmanscan/filters/rts.hpp"
#include "kalmanscan/net/error.hpp"
#include "kalmanscan/net/stream_filter.hpp"
#include "net_test_support.hpp"

namespace kalmanscan::net {
namespace {

using namespace testing;

std::shared_ptr<const formats::Model> model_of(const proto::ModelSpec& spec) {
  return std::make_shared<const formats::Model>(spec, "test");
}

filters::BasicTrajectory<double> offline_filter(const filters::Model& model, const std::vector<proto::LogRecord>& recs) {
  return filters::kalman_filter<double>(model, to_measurements(model, recs), std::nullopt);
}

TEST(StreamFilter, EqualsSequentialFilterOnConstantVelocityTrack) {
  const auto records = cv_track(200, 7);
  StreamFilter f(model_of(cv_spec()), {});
  const auto ref = offline_filter(cv_reference_model(), records);
  ASSERT_EQ(ref.steps, records.size());
  for (std::size_t t = 0; t < records.size(); ++t) {
    const auto out = f.update(records[t]);
    expect_matches_filtered(out.filtered, ref, t);
    EXPECT_FALSE(out.smoothed.has_value());
  }
  EXPECT_EQ(f.steps(), records.size());
}

TEST(StreamFilter, MultiSensorStepsControlsAndMissingComponents) {
  // Step times 0, 1, 1, 2, 3, 3, 5: two sensors at one timestamp, a missing component, controls
  // that change mid-log and a NaN control (held).
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<proto::LogRecord> records = {
      record(0, {0.7}, "a", {1.0}),       record(1, {0.2, 2.1}, "b"),     record(1, {1.9}, "a", {-0.5}),
      record(2, {nan, 1.4}, "b", {nan}),  record(3, {3.0}, "a"),          record(3, {0.1, nan}, "b", {2.0}),
      record(5, {nan, nan}, "b"),  // nothing measured: a pure prediction step
  };
  StreamFilter f(model_of(explicit_spec()), {});
  const auto ref = offline_filter(explicit_reference_model(), records);
  ASSERT_EQ(ref.steps, 5u);
  std::vector<proto::EstimateRecord> last_of_step(ref.steps);
  for (const auto& r : records) {
    const auto out = f.update(r);
    last_of_step[out.filtered.step()] = out.filtered;
  }
  // The last estimate sent for a step is the offline filtered estimate of that step.
  for (std::size_t t = 0; t < ref.steps; ++t) expect_matches_filtered(last_of_step[t], ref, t);
  EXPECT_EQ(last_of_step[4].nis_dof(), 0u);
}

TEST(StreamFilter, FixedLagSmoothedEqualsRtsOverThePrefix) {
  const auto records = cv_track(40, 11);
  const filters::Model ref_model = cv_reference_model();
  for (unsigned L : {1u, 3u, 8u}) {
    StreamFilter f(model_of(cv_spec()), {L, false});
    for (std::size_t t = 0; t < records.size(); ++t) {
      const auto out = f.update(records[t]);
      ASSERT_EQ(out.smoothed.has_value(), t >= L) << "L " << L << " step " << t;
      if (!out.smoothed) continue;
      // Reference: filter steps 0..t, then the full RTS smoother over that prefix; step t − L.
      const std::vector<proto::LogRecord> prefix(records.begin(), records.begin() + static_cast<long>(t) + 1);
      const filters::Measurements meas = to_measurements(ref_model, prefix);
      auto traj = filters::kalman_filter<double>(ref_model, meas, std::nullopt);
      filters::rts_smooth<double>(ref_model, meas, traj, std::nullopt, false);
      const auto& s = *out.smoothed;
      EXPECT_EQ(s.kind(), proto::EstimateRecord::SMOOTHED);
      ASSERT_EQ(s.step(), t - L);
      EXPECT_DOUBLE_EQ(s.timestamp(), records[t - L].timestamp());
      EXPECT_LT(rel_diff(mean_of(s), traj.smoothed_mean_at(t - L)), 1e-10) << "L " << L << " step " << t;
      EXPECT_LT(rel_diff(cov_of(s), traj.smoothed_cov_at(t - L)), 1e-10) << "L " << L << " step " << t;
    }
  }
}

TEST(StreamFilter, DiagonalOnlyCarriesStandardDeviations) {
  const auto records = cv_track(5, 3);
  StreamFilter full(model_of(cv_spec()), {}), diag(model_of(cv_spec()), {0, true});
  for (const auto& r : records) {
    const auto a = full.update(r).filtered, b = diag.update(r).filtered;
    EXPECT_EQ(b.covariance_size(), 0);
    ASSERT_EQ(b.std_dev_size(), 4);
    const Eigen::MatrixXd P = cov_of(a);
    for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(b.std_dev(i), std::sqrt(P(i, i)));
  }
}

/// Throws net::Error with `code`, and the filter's next estimate is unchanged by the attempt.
void expect_rejected_without_effect(const proto::LogRecord& bad, proto::ErrorCode code) {
  const auto records = cv_track(6, 5, 10.0);
  StreamFilter a(model_of(cv_spec()), {2, false}), b(model_of(cv_spec()), {2, false});
  for (std::size_t i = 0; i < 3; ++i) {
    a.update(records[i]);
    b.update(records[i]);
  }
  try {
    a.update(bad);
    ADD_FAILURE() << "accepted a bad record";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
  }
  for (std::size_t i = 3; i < records.size(); ++i) {
    const auto x = a.update(records[i]), y = b.update(records[i]);
    EXPECT_EQ(x.filtered.SerializeAsString(), y.filtered.SerializeAsString());
    EXPECT_EQ(x.smoothed->SerializeAsString(), y.smoothed->SerializeAsString());
  }
}

TEST(StreamFilter, PolicyRejectsLateAndMalformedRecordsWithoutEffect) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  // Late: earlier than the current step (records[2] is at > 10.0).
  expect_rejected_without_effect(record(10.0, {1, 2}), proto::ERROR_OUT_OF_ORDER);
  expect_rejected_without_effect(record(nan, {1, 2}), proto::ERROR_INVALID_ARGUMENT);
  expect_rejected_without_effect(record(100, {1}), proto::ERROR_INVALID_ARGUMENT);          // wrong dimension
  expect_rejected_without_effect(record(100, {1, 2, 3}), proto::ERROR_INVALID_ARGUMENT);    // wrong dimension
  expect_rejected_without_effect(record(100, {inf, 2}), proto::ERROR_INVALID_ARGUMENT);     // non-finite
  expect_rejected_without_effect(record(100, {1, 2}, "gps"), proto::ERROR_INVALID_ARGUMENT);  // unknown sensor
  expect_rejected_without_effect(record(100, {1, 2}, "", {1.0}), proto::ERROR_INVALID_ARGUMENT);  // no controls
}

TEST(StreamFilter, SameTimestampJoinsTheStepButNotTwiceTheSameComponent) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  StreamFilter f(model_of(cv_spec()), {});
  f.update(record(1.0, {0.5, nan}));
  const auto joined = f.update(record(1.0, {nan, -1.5}));  // the other component: joins step 0
  EXPECT_EQ(joined.filtered.step(), 0u);
  EXPECT_EQ(joined.filtered.nis_dof(), 2u);
  // The whole step equals one record carrying both components.
  StreamFilter g(model_of(cv_spec()), {});
  const auto whole = g.update(record(1.0, {0.5, -1.5}));
  EXPECT_LT(rel_diff(mean_of(joined.filtered), mean_of(whole.filtered)), 1e-14);
  EXPECT_LT(rel_diff(cov_of(joined.filtered), cov_of(whole.filtered)), 1e-14);
  EXPECT_NEAR(joined.filtered.nis(), whole.filtered.nis(), 1e-12);
  try {
    f.update(record(1.0, {0.7, nan}));
    ADD_FAILURE() << "accepted a second value of one component at one timestamp";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), proto::ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("values[0]"), std::string::npos) << e.what();
  }
}

/// 3-D constant acceleration (state 9, above StreamFilter::inline_capacity), position measured:
/// the heap-matrix instantiation of the same numerics.
proto::ModelSpec ca3_spec() {
  proto::ModelSpec spec;
  spec.set_name("ca3d");
  auto* mm = spec.mutable_motion();
  mm->set_kind(proto::MotionModel::CONSTANT_ACCELERATION);
  mm->set_dimensions(3);
  mm->set_noise_density(0.8);
  auto* s = spec.add_sensors();
  s->set_name("pos");
  for (const char* c : {"px", "py", "pz"}) s->add_columns(c);
  auto* H = s->mutable_h();
  H->set_rows(3);
  H->set_cols(9);
  for (int i = 0; i < 27; ++i) H->add_data(i % 10 == 0 ? 1.0 : 0.0);  // H(r, r) = 1: x, y, z come first
  set_matrix(s->mutable_r(), 3, 3, {0.3, 0.05, 0.0, 0.05, 0.2, 0.02, 0.0, 0.02, 0.4});
  for (int i = 0; i < 9; ++i) spec.mutable_prior()->add_mean(0.1 * i);
  auto* P = spec.mutable_prior()->mutable_covariance();
  P->set_rows(9);
  P->set_cols(9);
  for (int i = 0; i < 81; ++i) P->add_data(i % 10 == 0 ? 2.0 + i / 10 : 0.0);
  return spec;
}

filters::Model ca3_reference_model() {
  filters::Model m;
  m.m0.resize(9);
  m.P0 = Eigen::MatrixXd::Zero(9, 9);
  for (int i = 0; i < 9; ++i) {
    m.m0[i] = 0.1 * i;
    m.P0(i, i) = 2.0 + i;
  }
  m.motion = filters::MotionModel{filters::MotionKind::constant_acceleration, 3, 0.8};
  filters::SensorModel pos;
  pos.H = Eigen::MatrixXd::Identity(3, 9);
  pos.R = (Eigen::Matrix3d() << 0.3, 0.05, 0.0, 0.05, 0.2, 0.02, 0.0, 0.02, 0.4).finished();
  m.sensors.push_back({"pos", filters::Varying<filters::SensorModel>::constant(pos)});
  return m;
}

/// cv_track's times and (x, y), with a z that curves, and a missing component now and then.
std::vector<proto::LogRecord> ca3_track(std::size_t steps, std::uint32_t seed) {
  auto records = cv_track(steps, seed);
  for (std::size_t i = 0; i < records.size(); ++i) {
    records[i].add_values(std::sin(records[i].timestamp()) + 0.05 * std::cos(37.0 * static_cast<double>(i)));
    if (i % 7 == 3) records[i].set_values(1, std::numeric_limits<double>::quiet_NaN());
  }
  return records;
}

TEST(StreamFilter, UsesInlineMatricesUpToTheirCapacity) {
  EXPECT_TRUE(StreamFilter(model_of(cv_spec()), {}).inline_storage());
  EXPECT_TRUE(StreamFilter(model_of(explicit_spec()), {}).inline_storage());
  EXPECT_FALSE(StreamFilter(model_of(ca3_spec()), {}).inline_storage());
}

TEST(StreamFilter, HeapMatricesEqualSequentialFilterAndRts) {
  const auto records = ca3_track(60, 17);
  const filters::Model ref_model = ca3_reference_model();
  const auto ref = offline_filter(ref_model, records);
  constexpr unsigned L = 4;
  StreamFilter f(model_of(ca3_spec()), {L, false});
  ASSERT_FALSE(f.inline_storage());
  StreamFilter::Output out;  // reused, as the server does
  for (std::size_t t = 0; t < records.size(); ++t) {
    f.update(records[t], out);
    expect_matches_filtered(out.filtered, ref, t);
    ASSERT_EQ(out.smoothed.has_value(), t >= L) << "step " << t;
    if (!out.smoothed || t % 5 != 0) continue;
    const std::vector<proto::LogRecord> prefix(records.begin(), records.begin() + static_cast<long>(t) + 1);
    const filters::Measurements meas = to_measurements(ref_model, prefix);
    auto traj = filters::kalman_filter<double>(ref_model, meas, std::nullopt);
    filters::rts_smooth<double>(ref_model, meas, traj, std::nullopt, false);
    ASSERT_EQ(out.smoothed->step(), t - L);
    EXPECT_LT(rel_diff(mean_of(*out.smoothed), traj.smoothed_mean_at(t - L)), 1e-10) << "step " << t;
    EXPECT_LT(rel_diff(cov_of(*out.smoothed), traj.smoothed_cov_at(t - L)), 1e-10) << "step " << t;
  }
}

TEST(StreamFilter, RefusesAnExcessiveLag) {
  EXPECT_THROW(StreamFilter(model_of(cv_spec()), {StreamFilter::max_smoothing_lag + 1, false}), Error);
}

}  // namespace
}  // namespace kalmanscan::net
