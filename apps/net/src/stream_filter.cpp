#include "kalmanscan/net/stream_filter.hpp"

#include <cmath>
#include <cstdio>
#include <string>

#include "kalmanscan/net/error.hpp"
#include "stream_filter_core.hpp"

namespace kalmanscan::net {

namespace detail {
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
}  // namespace detail

using detail::number;

StreamFilter::StreamFilter(std::shared_ptr<const formats::Model> model, StreamFilterOptions options)
    : model_(std::move(model)), options_(options) {
  if (options.smoothing_lag > max_smoothing_lag)
    throw Error("smoothing_lag: expected at most " + std::to_string(max_smoothing_lag) + ", found " +
                std::to_string(options.smoothing_lag));
  constexpr auto cap = static_cast<std::size_t>(inline_capacity);
  if (model_->state_dim() <= cap && model_->measurement_dim() <= cap)
    core_ = std::make_unique<detail::StreamFilterCore<inline_capacity, inline_capacity>>(*model_, options);
  else
    core_ = std::make_unique<detail::StreamFilterCore<Eigen::Dynamic, Eigen::Dynamic>>(*model_, options);
}

StreamFilter::StreamFilter(StreamFilter&&) noexcept = default;
StreamFilter& StreamFilter::operator=(StreamFilter&&) noexcept = default;
StreamFilter::~StreamFilter() = default;

std::uint64_t StreamFilter::steps() const { return core_->steps(); }
bool StreamFilter::inline_storage() const { return core_->inline_storage(); }

std::size_t StreamFilter::sensor_index(const proto::LogRecord& record) const {
  const auto& sensors = model_->sensors();
  if (record.sensor().empty()) {
    if (sensors.size() == 1) return 0;
    throw Error("sensor: empty, but the model has " + std::to_string(sensors.size()) + " sensors; name one");
  }
  for (std::size_t s = 0; s < sensors.size(); ++s)
    if (sensors[s].name == record.sensor()) return s;
  throw Error("sensor: '" + record.sensor().substr(0, 64) + "' is not a sensor of the model");
}

void StreamFilter::validate(const proto::LogRecord& record) const {
  const double t = record.timestamp();
  if (!std::isfinite(t)) throw Error("timestamp: expected a finite number, found " + number(t));
  const std::size_t s = sensor_index(record);
  const auto& sensor = model_->sensors()[s];
  if (static_cast<std::size_t>(record.values_size()) != sensor.size)
    throw Error("values: sensor '" + sensor.name + "' has " + std::to_string(sensor.size) + " components, found " +
                std::to_string(record.values_size()));
  for (int i = 0; i < record.values_size(); ++i)
    if (std::isinf(record.values(i)))
      throw Error("values[" + std::to_string(i) + "]: expected a finite number or NaN (missing), found " +
                  number(record.values(i)));
  const std::size_t k = model_->control_dim();
  if (record.controls_size() != 0 && static_cast<std::size_t>(record.controls_size()) != k)
    throw Error("controls: the model has " + std::to_string(k) + " control inputs, found " +
                std::to_string(record.controls_size()));
  for (int j = 0; j < record.controls_size(); ++j)
    if (std::isinf(record.controls(j)))
      throw Error("controls[" + std::to_string(j) + "]: expected a finite number or NaN (held), found " +
                  number(record.controls(j)));
  core_->validate_step(record, s);
}

StreamFilter::Output StreamFilter::update(const proto::LogRecord& record) {
  Output out;
  update(record, out);
  return out;
}

void StreamFilter::update(const proto::LogRecord& record, Output& out) {
  validate(record);
  core_->update(record, sensor_index(record), out);
}

}  // namespace kalmanscan::net
