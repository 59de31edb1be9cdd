// Shared pieces of the kalmanscan_net tests: model specs, their independent filters::Model
// (written out by hand, not converted by the code under test), measurement generators, the
// offline reference (the filters library's sequential filter and RTS smoother) and comparisons.
#pragma once

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <gtest/gtest.h>

#include "kalmanscan/estimate.pb.h"
#include "kalmanscan/filters/kalman.hpp"
#include "kalmanscan/filters/model.hpp"
#include "kalmanscan/filters/rts.hpp"
#include "kalmanscan/log.pb.h"
#include "kalmanscan/model.pb.h"

namespace kalmanscan::net::testing {

/// A temporary directory named after the process and the running test, removed at its end.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("kalmanscan_net_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

inline void set_matrix(proto::Matrix* m, int rows, int cols, std::initializer_list<double> data) {
  m->set_rows(rows);
  m->set_cols(cols);
  for (double v : data) m->add_data(v);
}

constexpr double cv_q = 0.5;
constexpr double pos_R[4] = {0.30, 0.05, 0.05, 0.20};

/// 2-D constant velocity (state x, y, vx, vy), one sensor "pos" measuring (x, y) with a
/// correlated R. State 4, measurement 2: the service's benchmark shape.
inline proto::ModelSpec cv_spec() {
  proto::ModelSpec spec;
  spec.set_name("cv2d");
  auto* mm = spec.mutable_motion();
  mm->set_kind(proto::MotionModel::CONSTANT_VELOCITY);
  mm->set_dimensions(2);
  mm->set_noise_density(cv_q);
  auto* s = spec.add_sensors();
  s->set_name("pos");
  s->add_columns("px");
  s->add_columns("py");
  set_matrix(s->mutable_h(), 2, 4, {1, 0, 0, 0, 0, 1, 0, 0});
  set_matrix(s->mutable_r(), 2, 2, {pos_R[0], pos_R[1], pos_R[2], pos_R[3]});
  for (double v : {1.0, -2.0, 0.5, 0.0}) spec.mutable_prior()->add_mean(v);
  set_matrix(spec.mutable_prior()->mutable_covariance(), 4, 4, {4, 0, 0, 0, 0, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1});
  return spec;
}

/// The same model for the filters library, written out independently of the service's converter.
inline filters::Model cv_reference_model() {
  filters::Model m;
  m.m0 = Eigen::Vector4d(1.0, -2.0, 0.5, 0.0);
  m.P0 = Eigen::Vector4d(4, 4, 1, 1).asDiagonal();
  m.motion = filters::MotionModel{filters::MotionKind::constant_velocity, 2, cv_q};
  filters::SensorModel pos;
  pos.H = Eigen::MatrixXd::Zero(2, 4);
  pos.H(0, 0) = pos.H(1, 1) = 1;
  pos.R = Eigen::Map<const Eigen::Matrix2d>(pos_R);
  m.sensors.push_back({"pos", filters::Varying<filters::SensorModel>::constant(pos)});
  return m;
}

/// Explicit 2-state dynamics with one control input, offset c, two sensors ("a": 1 component with
/// offset d, "b": 2 components), for multi-sensor steps, controls and missing components.
inline proto::ModelSpec explicit_spec() {
  proto::ModelSpec spec;
  spec.set_name("explicit2");
  auto* ed = spec.mutable_explicit_dynamics();
  set_matrix(ed->mutable_f(), 2, 2, {0.9, 0.2, -0.1, 0.95});
  set_matrix(ed->mutable_q(), 2, 2, {0.05, 0.01, 0.01, 0.08});
  set_matrix(ed->mutable_b(), 2, 1, {0.5, 1.0});
  ed->add_c(0.1);
  ed->add_c(-0.05);
  auto* a = spec.add_sensors();
  a->set_name("a");
  a->add_columns("za");
  set_matrix(a->mutable_h(), 1, 2, {1, 1});
  set_matrix(a->mutable_r(), 1, 1, {0.4});
  a->add_d(0.25);
  auto* b = spec.add_sensors();
  b->set_name("b");
  b->add_columns("zb0");
  b->add_columns("zb1");
  set_matrix(b->mutable_h(), 2, 2, {1, 0, 0.5, 2});
  set_matrix(b->mutable_r(), 2, 2, {0.3, 0.1, 0.1, 0.5});
  for (double v : {0.0, 1.0}) spec.mutable_prior()->add_mean(v);
  set_matrix(spec.mutable_prior()->mutable_covariance(), 2, 2, {2, 0.3, 0.3, 1});
  spec.mutable_options()->add_control_columns("u");
  spec.mutable_options()->set_sensor_column("sensor");
  return spec;
}

inline filters::Model explicit_reference_model() {
  filters::Model m;
  m.m0 = Eigen::Vector2d(0.0, 1.0);
  m.P0 = (Eigen::Matrix2d() << 2, 0.3, 0.3, 1).finished();
  filters::Transition tr;
  tr.F = (Eigen::Matrix2d() << 0.9, 0.2, -0.1, 0.95).finished();
  tr.Q = (Eigen::Matrix2d() << 0.05, 0.01, 0.01, 0.08).finished();
  tr.B = Eigen::Vector2d(0.5, 1.0);
  tr.c = Eigen::Vector2d(0.1, -0.05);
  m.transition = filters::Varying<filters::Transition>::constant(tr);
  filters::SensorModel a{Eigen::RowVector2d(1, 1), Eigen::Matrix<double, 1, 1>(0.4), Eigen::Matrix<double, 1, 1>(0.25)};
  filters::SensorModel b{(Eigen::Matrix2d() << 1, 0, 0.5, 2).finished(), (Eigen::Matrix2d() << 0.3, 0.1, 0.1, 0.5).finished(),
                         Eigen::VectorXd()};
  m.sensors.push_back({"a", filters::Varying<filters::SensorModel>::constant(a)});
  m.sensors.push_back({"b", filters::Varying<filters::SensorModel>::constant(b)});
  return m;
}

inline proto::LogRecord record(double t, std::vector<double> values, const std::string& sensor = "",
                               std::vector<double> controls = {}) {
  proto::LogRecord r;
  r.set_timestamp(t);
  r.set_sensor(sensor);
  for (double v : values) r.add_values(v);
  for (double u : controls) r.add_controls(u);
  return r;
}

/// A noisy constant-velocity track with irregular time steps (some repeated timestamps are not
/// generated: one record per step).
inline std::vector<proto::LogRecord> cv_track(std::size_t steps, std::uint32_t seed, double t0 = 0.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.5);
  std::uniform_real_distribution<double> dt(0.01, 0.2);
  std::vector<proto::LogRecord> out;
  double t = t0, x = 1, y = -2, vx = 0.7, vy = -0.3;
  for (std::size_t i = 0; i < steps; ++i) {
    if (i > 0) {
      const double h = dt(rng);
      t += h;
      x += vx * h;
      y += vy * h;
    }
    out.push_back(record(t, {x + noise(rng), y + noise(rng)}));
  }
  return out;
}

/// The offline reference: filters::Measurements of whole steps (records with one timestamp form
/// one step, one observation per record) for the library's sequential filter.
inline filters::Measurements to_measurements(const filters::Model& model, const std::vector<proto::LogRecord>& records) {
  filters::Measurements meas;
  const int k = model.control_dim();
  Eigen::VectorXd u = Eigen::VectorXd::Zero(k);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    if (i == 0 || r.timestamp() > records[i - 1].timestamp()) {
      meas.add_step(r.timestamp());
      if (k > 0) meas.set_control(meas.steps() - 1, u);
    }
    std::uint32_t s = 0;
    while (!r.sensor().empty() && model.sensors[s].name != r.sensor()) ++s;
    meas.add(s, std::vector<double>(r.values().begin(), r.values().end()));
    for (int j = 0; j < r.controls_size(); ++j)
      if (!std::isnan(r.controls(j))) u[j] = r.controls(j);
    if (k > 0) meas.set_control(meas.steps() - 1, u);
  }
  return meas;
}

/// ‖a − b‖ / max(‖b‖, floor): the normwise relative difference of DESIGN.md §6.
template <class A, class B>
double rel_diff(const A& a, const B& b, double floor = 1e-12) {
  return (a - b).norm() / std::max(b.norm(), floor);
}

inline Eigen::VectorXd mean_of(const proto::EstimateRecord& e) {
  return Eigen::Map<const Eigen::VectorXd>(e.mean().data(), e.mean_size());
}
inline Eigen::MatrixXd cov_of(const proto::EstimateRecord& e) {
  const auto n = static_cast<Eigen::Index>(e.mean_size());
  return Eigen::Map<const Eigen::Matrix<double, -1, -1, Eigen::RowMajor>>(e.covariance().data(), n, n);
}

/// Expects `e` to be the reference filtered estimate of local step t of `traj`.
inline void expect_matches_filtered(const proto::EstimateRecord& e, const filters::BasicTrajectory<double>& traj,
                                    std::size_t t, double tol = 1e-12) {
  ASSERT_EQ(e.kind(), proto::EstimateRecord::FILTERED);
  ASSERT_EQ(e.step(), t);
  EXPECT_LT(rel_diff(mean_of(e), traj.filtered_mean_at(t)), tol) << "step " << t << ": mean\n"
                                                                  << mean_of(e).transpose() << "\nexpected\n"
                                                                  << traj.filtered_mean_at(t).transpose();
  EXPECT_LT(rel_diff(cov_of(e), traj.filtered_cov_at(t)), tol) << "step " << t << ": covariance";
  EXPECT_NEAR(e.nis(), traj.nis[t], tol * std::max(1.0, traj.nis[t])) << "step " << t << ": NIS";
  EXPECT_EQ(static_cast<int>(e.nis_dof()), traj.nis_dof[t]) << "step " << t;
}

}  // namespace kalmanscan::net::testing
