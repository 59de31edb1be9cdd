// Estimates of a running `kalmanscan serve`, received on their own thread and appended to a
// SeriesSet (its locking rule applies: one Lock per batch of frames).
//
// The thread owns one kalmanscan::net::Client (not thread-safe, so no other thread touches it):
// it connects, subscribes to the chosen streams (or all, including streams opened later), then
// polls. Each batch of frames that arrived together is appended under one lock: per stream and
// state component a band (panel "<stream>/<component>", FILTERED and fixed-lag SMOOTHED
// estimates), and the NIS of filtered estimates that observed something (panel "<stream>/NIS").
// It pings while idle so the server's idle timeout never closes a quiet subscriber.
// Measurements: the server sends each stream's model with its StreamInfo and, with every FILTERED
// subscription estimate, the measurement that produced it; each measurement component that
// observes one state component alone is drawn as a point on that component's panel (role
// measured; the mapping of the offline loader, measurement_map.hpp).
//
// Status (connected, counts, the last error) is read from any thread through status(), which
// takes the source's own small mutex — never while holding the SeriesSet lock. A stream the server
// closes stays in status().streams and is listed in status().closed; its data stays in the set.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kalmanscan/viz/series_set.hpp"

namespace kalmanscan::viz {

struct LiveOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string token{};
  std::vector<std::string> streams{};  ///< names to follow; empty = all (and every stream opened later)
  std::chrono::milliseconds poll{100};
  std::chrono::milliseconds ping_every{10000};
};

struct LiveStatus {
  bool connected = false;
  bool finished = false;          ///< the thread ended (stopped, or the connection failed/closed)
  std::uint64_t estimates = 0;    ///< appended
  std::uint64_t measurements = 0; ///< measurement points appended
  std::uint64_t missed = 0;       ///< estimates the server dropped for us (Missed frames)
  std::uint64_t rejected = 0;     ///< estimates or measurements that could not be appended (e.g. time going backwards)
  std::vector<std::string> streams{};  ///< names of the streams followed, in the order announced
  std::vector<std::string> closed{};   ///< those of them the server closed since (reopened ones leave it)
  std::string error;              ///< why the connection ended, or the last rejected estimate
};

class LiveSource {
 public:
  /// Starts the thread at once; connection errors show in status(), they are not thrown.
  /// `set` must outlive the source.
  LiveSource(LiveOptions options, SeriesSet& set);
  /// Stops and joins the thread.
  ~LiveSource();
  LiveSource(const LiveSource&) = delete;
  LiveSource& operator=(const LiveSource&) = delete;

  /// Asks the thread to end (it does within one poll interval). Thread-safe.
  void stop() { stop_ = true; }
  LiveStatus status() const;

 private:
  void run();

  LiveOptions options_;
  SeriesSet& set_;
  std::atomic<bool> stop_{false};
  mutable std::mutex status_mutex_;  // guards status_ only
  LiveStatus status_;
  std::thread thread_;
};

}  // namespace kalmanscan::viz
