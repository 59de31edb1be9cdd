#include "kalmanscan/viz/live_source.hpp"

#include <map>
#include <optional>

#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/net/client.hpp"
#include "kalmanscan/viz/error.hpp"
#include "kalmanscan/viz/loaders.hpp"
#include "measurement_map.hpp"

namespace kalmanscan::viz {

namespace {

// What the thread knows of a stream it follows.
struct Followed {
  std::string name;
  std::vector<std::string> state_names;
  std::optional<MeasurementMap> measurements;  ///< when the server sent the stream's model
};

// Appends the points of one measurement of `stream`; returns how many.
std::uint64_t append_measurement(SeriesSet::Lock& lock, const Followed& stream, const proto::LogRecord& record) {
  const MeasurementMap& map = *stream.measurements;
  std::uint64_t points = 0;
  try {
    const std::size_t first = map.first_row(record);
    for (int i = 0; i < record.values_size(); ++i)
      if (const auto p = map.point(first + std::size_t(i), record.values(i))) {
        lock.series(lock.get_or_add(stream.name + "/" + stream.state_names.at(p->component), Role::measured))
            .append(record.timestamp(), p->value);
        ++points;
      }
  } catch (const Error& e) {
    throw Error("stream '" + stream.name + "', measurement at t = " + std::to_string(record.timestamp()) + ": " + e.what());
  }
  return points;
}

}  // namespace

LiveSource::LiveSource(LiveOptions options, SeriesSet& set)
    : options_(std::move(options)), set_(set), thread_([this] { run(); }) {}

LiveSource::~LiveSource() {
  stop();
  if (thread_.joinable()) thread_.join();
}

LiveStatus LiveSource::status() const {
  std::lock_guard<std::mutex> lock(status_mutex_);
  return status_;
}

void LiveSource::run() {
  const auto update_status = [&](auto&& f) {
    std::lock_guard<std::mutex> lock(status_mutex_);
    f(status_);
  };
  try {
    net::ClientOptions co;
    co.host = options_.host;
    co.port = options_.port;
    co.token = options_.token;
    co.client_name = "kalmanscan-dashboard";
    net::Client client(co);
    std::map<std::uint64_t, Followed> streams;
    const auto follow = [&](const proto::StreamInfo& info) {
      Followed f{info.name(), {info.state_names().begin(), info.state_names().end()}, std::nullopt};
      while (f.state_names.size() < info.state_dim()) f.state_names.push_back(default_state_name(f.state_names.size()));
      if (info.has_model()) {
        try {
          const formats::Model model(info.model(), "stream '" + info.name() + "' model");
          if (model.state_dim() == f.state_names.size()) f.measurements.emplace(model);
        } catch (const std::exception& e) {
          update_status([&](LiveStatus& s) { s.error = std::string(e.what()) + " (its measurements are not drawn)"; });
        }
      }
      streams[info.stream_id()] = std::move(f);
      update_status([&](LiveStatus& s) {
        s.streams.push_back(info.name());
        std::erase(s.closed, info.name());
      });
    };
    for (const auto& info : client.subscribe(options_.streams, options_.streams.empty())) follow(info);
    update_status([](LiveStatus& s) { s.connected = true; });
    auto last_ping = std::chrono::steady_clock::now();
    std::vector<proto::ServerFrame> batch;
    while (!stop_ && client.connected()) {
      batch.clear();
      if (auto frame = client.poll(options_.poll)) batch.push_back(std::move(*frame));
      // Everything already received joins the batch (one lock for all of it).
      while (batch.size() < 4096)
        if (auto more = client.poll(std::chrono::milliseconds(0)))
          batch.push_back(std::move(*more));
        else
          break;
      std::uint64_t appended = 0, measured = 0, missed = 0, rejected = 0;
      std::string last_error;
      if (!batch.empty()) {
        auto lock = set_.lock();
        for (const auto& frame : batch) {
          if (frame.has_opened()) follow(frame.opened().stream());
          if (frame.has_closed() && streams.contains(frame.closed().stream_id()))
            update_status([&](LiveStatus& s) { s.closed.push_back(streams[frame.closed().stream_id()].name); });
          if (frame.has_missed()) missed += frame.missed().count();
          if (frame.has_error()) last_error = frame.error().message();
          if (!frame.has_estimate()) continue;
          const auto& e = frame.estimate();
          const auto it = streams.find(e.stream_id());
          if (it == streams.end()) continue;
          const auto& r = e.record();
          const Role role = r.kind() == proto::EstimateRecord::SMOOTHED ? Role::smoothed : Role::filtered;
          try {
            const auto& names = it->second.state_names;
            for (int j = 0; j < r.mean_size() && j < static_cast<int>(names.size()); ++j) {
              const double sd = j < r.std_dev_size() ? r.std_dev(j) : 0.0;
              lock.series(lock.get_or_add(it->second.name + "/" + names[std::size_t(j)], role)).append(r.timestamp(), r.mean(j), sd);
            }
            if (role == Role::filtered && r.nis_dof() > 0)
              lock.series(lock.get_or_add(it->second.name + "/NIS", Role::nis)).append(r.timestamp(), r.nis());
            ++appended;
            if (e.has_measurement() && it->second.measurements)
              measured += append_measurement(lock, it->second, e.measurement());
          } catch (const Error& err) {
            ++rejected;
            last_error = err.what();
          }
        }
        if (appended > 0) lock.changed();  // (measurements come with estimates)
      }
      update_status([&](LiveStatus& s) {
        s.estimates += appended;
        s.measurements += measured;
        s.missed += missed;
        s.rejected += rejected;
        if (!last_error.empty()) s.error = last_error;
      });
      const auto now = std::chrono::steady_clock::now();
      if (batch.empty() && now - last_ping > options_.ping_every) {
        client.ping();
        last_ping = now;
      }
    }
    if (!client.connected()) update_status([](LiveStatus& s) { s.error = "the server closed the connection"; });
  } catch (const std::exception& e) {
    update_status([&](LiveStatus& s) { s.error = e.what(); });
  }
  update_status([](LiveStatus& s) {
    s.connected = false;
    s.finished = true;
  });
}

}  // namespace kalmanscan::viz
