// A small irregular multi-sensor log written for the tests: 2-D constant velocity, random time
// steps, gps (x, y) and odo (vx, vy) rows that come and go, single missing components, steps
// where both sensors report in separate rows with the same timestamp, and steps with nothing
// measured. Returned as the model spec (JSON), the CSV text, and the same problem in the
// references' dense form.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "kalmanscan/formats/model.hpp"
#include "reference.hpp"

namespace kalmanscan::testing {

struct SmallLog {
  std::string model_json;
  std::string csv;
  Problem problem;
  std::size_t rows = 0, values = 0, missing = 0;  ///< data rows; cells read by the rows' sensors; of those, empty
};

inline std::string num(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

inline SmallLog make_small_log(std::size_t T, std::uint64_t seed, double q = 0.7) {
  SmallLog log;
  const double gps_var = 4.0, odo_var = 0.09;
  log.model_json = R"({"motion": {"kind": "CONSTANT_VELOCITY", "dimensions": 2, "noise_density": )" + num(q) + R"(},
    "sensors": [
      {"name": "gps", "columns": ["x", "y"], "H": {"rows": 2, "cols": 4, "data": [1,0,0,0, 0,1,0,0]},
       "R": {"rows": 2, "cols": 2, "data": [4,0, 0,4]}},
      {"name": "odo", "columns": ["vx", "vy"], "H": {"rows": 2, "cols": 4, "data": [0,0,1,0, 0,0,0,1]},
       "R": {"rows": 2, "cols": 2, "data": [0.09,0, 0,0.09]}}],
    "prior": {"mean": [1, 2, 3, -1], "covariance": {"rows": 4, "cols": 4, "data": [25,0,0,0, 0,25,0,0, 0,0,4,0, 0,0,0,4]}},
    "options": {"time_column": "t", "sensor_column": "sensor"}})";
  Problem& p = log.problem;
  p.m0 = Eigen::Vector4d(1, 2, 3, -1);
  p.P0 = Eigen::Vector4d(25, 25, 4, 4).asDiagonal();
  p.H = Eigen::MatrixXd::Identity(4, 4);
  p.Rdiag = Eigen::Vector4d(gps_var, gps_var, odo_var, odo_var);

  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> U(0, 1);
  std::normal_distribution<double> N(0, 1);
  Eigen::Vector4d x(1, 2, 3, -1);
  double t = 10.0;
  log.csv = "t,sensor,x,y,vx,vy,comment\n";
  for (std::size_t s = 0; s < T; ++s) {
    if (s > 0) {
      const double dt = 0.05 + 0.45 * U(rng);
      t += dt;
      Eigen::MatrixXd F, Q;
      cv_transition(2, q, dt, F, Q);
      p.F.push_back(F), p.Q.push_back(Q);
      x = F * x + Q.llt().matrixL() * Eigen::Vector4d(N(rng), N(rng), N(rng), N(rng));
    }
    Eigen::VectorXd z = Eigen::VectorXd::Constant(4, std::nan(""));
    const bool gps = U(rng) < 0.5, odo = U(rng) < 0.8;
    auto row = [&](const char* sensor, int first, double var) {
      std::string cells[4];
      for (int j = first; j < first + 2; ++j) {
        ++log.values;
        if (U(rng) < 0.15) {
          ++log.missing;
          continue;
        }
        z[j] = x[j] + std::sqrt(var) * N(rng);
        cells[j] = num(z[j]);
      }
      log.csv += num(t) + "," + sensor + "," + cells[0] + "," + cells[1] + "," + cells[2] + "," + cells[3] + ",ignored\n";
      ++log.rows;
    };
    if (gps) row("gps", 0, gps_var);
    if (odo || !gps) {
      if (!odo) {  // nothing measured at this step: an odo row with both cells empty
        log.csv += num(t) + ",odo,,,,,\n";
        ++log.rows, log.values += 2, log.missing += 2;
      } else {
        row("odo", 2, odo_var);
      }
    }
    p.z.push_back(z);
  }
  return log;
}

}  // namespace kalmanscan::testing
