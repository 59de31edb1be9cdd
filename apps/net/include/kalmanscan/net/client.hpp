// A small blocking client of the stream service (used by `kalmanscan send`, the tests and the
// dashboard). One Client is one TCP connection; it is not thread-safe (use one per thread).
//
// Measurements are pipelined: send() only queues a frame, flush() writes the queue (and, while
// the write is blocked, keeps reading the server's frames into the inbox, so a client that sends a
// lot before reading never deadlocks against the server's back-pressure). Every call that waits
// for the server flushes first. Frames that arrive while waiting for a particular reply (estimates
// of pipelined measurements, subscription traffic, notices) stay in the inbox for receive().
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kalmanscan/net/frame.hpp"
#include "kalmanscan/stream.pb.h"

namespace kalmanscan::net {

struct ClientOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string token;                        ///< sent in the Hello (empty when the server has none)
  std::string client_name = "kalmanscan client";
  bool hello = true;                        ///< send Hello and wait for Welcome on connect
  std::size_t max_frame_bytes = default_max_frame_bytes;
  std::chrono::milliseconds timeout{10000};  ///< for connecting and for every wait
  std::size_t receive_buffer_bytes = 0;      ///< SO_RCVBUF when > 0 (tests of slow readers)
};

class Client {
 public:
  /// Connects (and says Hello). Throws Error when the server cannot be reached, refuses the
  /// Hello, or does not answer within options.timeout.
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Opens a stream; `model` null = the server's default model. Throws Error with the server's
  /// code and message when refused.
  proto::StreamInfo open(const std::string& name, const proto::ModelSpec* model = nullptr,
                         unsigned smoothing_lag = 0, bool diagonal_only = false);
  /// Queues a measurement (nothing is written until flush() or a waiting call); returns its request id.
  std::uint64_t send(std::uint64_t stream_id, std::uint64_t seq, const proto::LogRecord& record);
  /// Sends one measurement and waits for its FILTERED estimate (a SMOOTHED one, if the stream has
  /// a lag, follows in the inbox). Throws Error when the server rejects it.
  proto::Estimate update(std::uint64_t stream_id, std::uint64_t seq, const proto::LogRecord& record);
  /// Follows (or, with unsubscribe, stops following) streams by name, or all of them.
  std::vector<proto::StreamInfo> subscribe(const std::vector<std::string>& names, bool all = false,
                                           bool unsubscribe = false);
  proto::StreamClosed close(std::uint64_t stream_id);
  void ping();

  /// Writes everything queued.
  void flush();
  /// The next frame from the server, the inbox first. Throws Error on timeout or when the
  /// connection is closed. `timeout` defaults to options.timeout.
  proto::ServerFrame receive(std::optional<std::chrono::milliseconds> timeout = {});
  /// Like receive(), but returns nothing on timeout.
  std::optional<proto::ServerFrame> poll(std::chrono::milliseconds timeout);

  /// Queues any frame (request_id 0 is replaced by a fresh one); returns the request id.
  std::uint64_t send_frame(proto::ClientFrame frame);
  /// Queues raw bytes (tests of the server's decoder).
  void send_bytes(std::string_view bytes);
  /// Waits for the reply to `request_id`, keeping other frames in the inbox. An ErrorReply to it,
  /// or a fatal one, throws Error carrying its code.
  proto::ServerFrame await(std::uint64_t request_id);

  /// False once the server closed the connection.
  bool connected() const;
  std::size_t inbox_size() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kalmanscan::net
