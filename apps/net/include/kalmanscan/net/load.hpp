// The load generator behind `kalmanscan load` and bench/net: N connections × M streams sending
// measurements of a simulated 2-D constant-velocity target (state 4, measurement 2 with the
// server's default model, or the given one) and timing each one from send to its estimate.
//
// Two regimes:
//  - rate > 0 (open loop): measurements are sent on a 1 ms schedule at `rate` per second in
//    total, whatever the replies; latency then includes any queueing in the server;
//  - rate = 0 (closed loop, throughput): each connection keeps `window` measurements in flight
//    and sends one more per estimate received.
// Latency is measured per measurement (send → its FILTERED estimate), on one steady clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "kalmanscan/model.pb.h"

namespace kalmanscan::net {

struct LoadOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string token;
  unsigned connections = 1;
  unsigned streams_per_connection = 1;
  double rate = 0;               ///< total measurements per second; 0 = as fast as `window` allows
  unsigned window = 64;          ///< closed loop: measurements in flight per connection
  std::chrono::milliseconds duration{2000};  ///< measuring time
  std::chrono::milliseconds warmup{200};     ///< sent but not measured
  std::optional<proto::ModelSpec> model;     ///< streams' model; none = the server's default
  std::string stream_prefix = "load";        ///< streams are named <prefix>-<connection>-<stream>
};

struct LoadResult {
  std::uint64_t sent = 0;       ///< measurements sent in the measuring window
  std::uint64_t answered = 0;   ///< of those, estimates received
  std::uint64_t errors = 0;     ///< error replies
  double seconds = 0;           ///< measuring window
  double throughput = 0;        ///< answered / seconds
  double p50_us = 0, p99_us = 0, max_us = 0;  ///< latency percentiles of the answered ones
};

/// Opens the streams, runs the load, closes the streams. Throws Error when a connection or an
/// open fails, or when the server disconnects.
LoadResult run_load(const LoadOptions& options);

}  // namespace kalmanscan::net
