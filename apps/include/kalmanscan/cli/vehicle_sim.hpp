// A synthetic multi-sensor vehicle log for `kalmanscan demo`, the tests and the benchmarks.
// Truth: a 2-D constant-velocity vehicle driven by continuous white acceleration noise of
// density q (the same CWNA model the smoother assumes, so NEES has its χ²(4) expectation),
// sampled exactly at rate_hz. Sensors:
//   gps: position (x, y) every gps_period_s, σ = gps_sigma; a fix is lost (empty cells) with
//        probability gps_dropout, and for outage_s seconds every outage_period_s (a tunnel);
//   odo: velocity (vx, vy) at every step, σ = odo_sigma (odometry rotated into the map frame).
// The log is in long form: columns t, sensor, x, y, vx, vy; a row's sensor says which it reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include <Eigen/Core>

#include "kalmanscan/log.pb.h"
#include "kalmanscan/model.pb.h"

namespace kalmanscan::cli {

struct VehicleSimOptions {
  std::size_t steps = 100000;
  std::uint64_t seed = 1;
  double rate_hz = 50;
  double q = 0.5;  ///< m²/s³
  double speed = 12;  ///< initial speed, m/s
  double gps_period_s = 1;
  double gps_sigma = 3;
  double gps_dropout = 0.1;
  double outage_period_s = 600, outage_s = 45;
  double odo_sigma = 0.2;
};

class VehicleSim {
 public:
  explicit VehicleSim(const VehicleSimOptions& options);

  /// The model spec that matches the simulation (CV, 2 axes; gps and odo sensors; a broad prior).
  static proto::ModelSpec model_spec(const VehicleSimOptions& options);

  /// Runs a whole simulation, handing every log row to `row` in file order (to write a log).
  static void for_each_row(const VehicleSimOptions& options, const std::function<void(const proto::LogRecord&)>& row);

  /// Clears `rows` and fills it with the log rows of the next step (odo, and gps on fix steps);
  /// `truth` receives the true state (x, y, vx, vy) at the step. False after the last step.
  bool next(std::vector<proto::LogRecord>& rows, Eigen::Vector4d& truth);

  std::size_t gps_fixes() const { return gps_fixes_; }
  std::size_t gps_lost() const { return gps_lost_; }

 private:
  VehicleSimOptions o_;
  std::mt19937_64 rng_;
  std::normal_distribution<double> normal_{0.0, 1.0};
  std::uniform_real_distribution<double> uniform_{0.0, 1.0};
  Eigen::Vector4d x_;
  std::size_t step_ = 0, gps_every_ = 1, gps_fixes_ = 0, gps_lost_ = 0;
};

}  // namespace kalmanscan::cli
