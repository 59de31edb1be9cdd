#include "kalmanscan/cli/vehicle_sim.hpp"

#include <cmath>
#include <limits>

namespace kalmanscan::cli {
namespace {

proto::Matrix matrix(std::uint32_t rows, std::uint32_t cols, std::initializer_list<double> data) {
  proto::Matrix m;
  m.set_rows(rows);
  m.set_cols(cols);
  m.mutable_data()->Add(data.begin(), data.end());
  return m;
}

}  // namespace

VehicleSim::VehicleSim(const VehicleSimOptions& options) : o_(options), rng_(options.seed) {
  gps_every_ = std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(o_.gps_period_s * o_.rate_hz)));
  const double heading = 2 * M_PI * uniform_(rng_);
  x_ << 0, 0, o_.speed * std::cos(heading), o_.speed * std::sin(heading);
}

proto::ModelSpec VehicleSim::model_spec(const VehicleSimOptions& o) {
  proto::ModelSpec spec;
  spec.set_name("vehicle: 2-D constant velocity, gps position + odometry velocity");
  auto* motion = spec.mutable_motion();
  motion->set_kind(proto::MotionModel::CONSTANT_VELOCITY);
  motion->set_dimensions(2);
  motion->set_noise_density(o.q);
  const double g = o.gps_sigma * o.gps_sigma, v = o.odo_sigma * o.odo_sigma;
  auto* gps = spec.add_sensors();
  gps->set_name("gps");
  gps->add_columns("x");
  gps->add_columns("y");
  *gps->mutable_h() = matrix(2, 4, {1, 0, 0, 0, 0, 1, 0, 0});
  *gps->mutable_r() = matrix(2, 2, {g, 0, 0, g});
  auto* odo = spec.add_sensors();
  odo->set_name("odo");
  odo->add_columns("vx");
  odo->add_columns("vy");
  *odo->mutable_h() = matrix(2, 4, {0, 0, 1, 0, 0, 0, 0, 1});
  *odo->mutable_r() = matrix(2, 2, {v, 0, 0, v});
  auto* prior = spec.mutable_prior();
  prior->mutable_mean()->Add(0.0), prior->mutable_mean()->Add(0.0), prior->mutable_mean()->Add(0.0), prior->mutable_mean()->Add(0.0);
  const double p = 100.0 * 100.0, s = 30.0 * 30.0;  // position within ~100 m, speed within ~30 m/s
  *prior->mutable_covariance() = matrix(4, 4, {p, 0, 0, 0, 0, p, 0, 0, 0, 0, s, 0, 0, 0, 0, s});
  spec.mutable_options()->set_time_column("t");
  spec.mutable_options()->set_sensor_column("sensor");
  return spec;
}

bool VehicleSim::next(std::vector<proto::LogRecord>& rows, Eigen::Vector4d& truth) {
  rows.clear();
  if (step_ == o_.steps) return false;
  const double dt = 1.0 / o_.rate_hz;
  if (step_ > 0) {
    // Exact CWNA step per axis: x ← F x + w, w ~ N(0, Q), Q = q [dt³/3 dt²/2; dt²/2 dt], sampled as
    // w = L e with the Cholesky factor L = [l11 0; l21 l22] of Q.
    const double l11 = std::sqrt(o_.q * dt * dt * dt / 3.0);
    const double l21 = (o_.q * dt * dt / 2.0) / l11;
    const double l22 = std::sqrt(o_.q * dt - l21 * l21);
    for (int a = 0; a < 2; ++a) {
      const double e1 = normal_(rng_), e2 = normal_(rng_);
      x_[a] += dt * x_[2 + a] + l11 * e1;
      x_[2 + a] += l21 * e1 + l22 * e2;
    }
  }
  truth = x_;
  const double t = static_cast<double>(step_) / o_.rate_hz;
  proto::LogRecord odo;
  odo.set_timestamp(t);
  odo.set_sensor("odo");
  odo.add_values(x_[2] + o_.odo_sigma * normal_(rng_));
  odo.add_values(x_[3] + o_.odo_sigma * normal_(rng_));
  rows.push_back(odo);
  if (step_ % gps_every_ == 0) {
    proto::LogRecord gps;
    gps.set_timestamp(t);
    gps.set_sensor("gps");
    const bool tunnel = std::fmod(t, o_.outage_period_s) >= o_.outage_period_s - o_.outage_s;
    if (tunnel || uniform_(rng_) < o_.gps_dropout) {
      gps.add_values(std::numeric_limits<double>::quiet_NaN());
      gps.add_values(std::numeric_limits<double>::quiet_NaN());
      ++gps_lost_;
    } else {
      gps.add_values(x_[0] + o_.gps_sigma * normal_(rng_));
      gps.add_values(x_[1] + o_.gps_sigma * normal_(rng_));
      ++gps_fixes_;
    }
    rows.push_back(gps);
  }
  ++step_;
  return true;
}

void VehicleSim::for_each_row(const VehicleSimOptions& options, const std::function<void(const proto::LogRecord&)>& row) {
  VehicleSim sim(options);
  std::vector<proto::LogRecord> rows;
  Eigen::Vector4d truth;
  while (sim.next(rows, truth))
    for (const auto& r : rows) row(r);
}

}  // namespace kalmanscan::cli
