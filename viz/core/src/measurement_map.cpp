#include "measurement_map.hpp"

#include <cmath>
#include <string>

#include "kalmanscan/viz/error.hpp"

namespace kalmanscan::viz {

MeasurementMap::MeasurementMap(const formats::Model& model) : rows_(model.measurement_dim()), sensors_(model.sensors()) {
  const auto& H = model.H();
  const auto& d = model.d();
  for (Eigen::Index r = 0; r < H.rows(); ++r) {
    std::size_t nonzero = 0;
    Row row;
    for (Eigen::Index j = 0; j < H.cols(); ++j)
      if (H(r, j) != 0) {
        ++nonzero;
        row.component = static_cast<std::size_t>(j);
        row.h = H(r, j);
      }
    if (nonzero != 1) row = {};
    row.d = d.size() == 0 ? 0.0 : d(r);
    rows_[static_cast<std::size_t>(r)] = row;
  }
}

std::optional<MeasuredPoint> MeasurementMap::point(std::size_t row, double z) const {
  const Row& r = rows_.at(row);
  if (!r.component || std::isnan(z)) return std::nullopt;
  return MeasuredPoint{*r.component, (z - r.d) / r.h};
}

std::size_t MeasurementMap::first_row(const proto::LogRecord& record) const {
  const formats::SensorLayout* sensor = nullptr;
  if (record.sensor().empty() && sensors_.size() == 1) {
    sensor = &sensors_.front();
  } else {
    for (const auto& s : sensors_)
      if (s.name == record.sensor()) sensor = &s;
  }
  if (!sensor) throw Error("field 'sensor': the model has no sensor '" + record.sensor() + "'");
  if (static_cast<std::size_t>(record.values_size()) != sensor->size)
    throw Error("field 'values': sensor '" + sensor->name + "' expects " + std::to_string(sensor->size) +
                " values, found " + std::to_string(record.values_size()));
  return sensor->offset;
}

}  // namespace kalmanscan::viz
