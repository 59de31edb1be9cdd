// Where a measurement is drawn (shared by the log loader and the live source): measurement
// component r (row r of the stacked z = H x + d) whose row of H has exactly one non-zero entry h,
// at state component j, reads the state value x_j = (z_r − d_r)/h and is drawn on panel j. Rows
// that mix state components, and missing values (NaN), are not drawn.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/log.pb.h"

namespace kalmanscan::viz {

struct MeasuredPoint {
  std::size_t component;  ///< state component (panel)
  double value;           ///< the state value the measurement reads exactly
};

class MeasurementMap {
 public:
  explicit MeasurementMap(const formats::Model& model);

  /// Rows of the stacked measurement vector (the model's measurement dimension).
  std::size_t rows() const { return rows_.size(); }
  /// The state component row `row` observes alone, if any.
  std::optional<std::size_t> component(std::size_t row) const { return rows_.at(row).component; }
  /// The point of value `z` of row `row`; none when z is NaN or the row mixes components.
  std::optional<MeasuredPoint> point(std::size_t row, double z) const;
  /// The first row of the stacked z that a record's values fill: its sensor's offset (a record
  /// may leave the sensor empty when the model has one). Throws Error naming the sensor, or the
  /// expected and found value counts, when the record does not fit the model.
  std::size_t first_row(const proto::LogRecord& record) const;

 private:
  struct Row {
    std::optional<std::size_t> component;
    double h = 0;
    double d = 0;
  };
  std::vector<Row> rows_;
  std::vector<formats::SensorLayout> sensors_;
};

}  // namespace kalmanscan::viz
