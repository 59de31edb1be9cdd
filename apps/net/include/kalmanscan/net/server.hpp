// The live stream-filtering service (issue 7): an asynchronous Boost.Asio TCP server speaking the
// protocol of proto/kalmanscan/stream.proto.
//
// Threading: one io thread runs every handler, so no server state is shared between threads;
// Server::stop() and Server::stats() are the only members safe to call from another thread.
//
// Each connection may open streams (it owns them: only it sends their measurements and closes
// them; they close when it disconnects), subscribe to streams of any connection, and ping.
// Measurements are filtered in micro-batches: a measurement frame is queued and one drain is
// posted to the io thread; the drain runs once the handlers already due (reads of other
// connections) have run, so under load it gathers the pending updates of many streams, and a lone
// update is answered at once (no timer, no waiting for a batch to fill). A drain applies its
// updates in arrival order, hands the records of the recordings it touched to the recording
// writer thread (recording.hpp; the estimates do not wait for the write), then queues the
// estimates. Any other frame first drains what is pending, so replies keep request order.
//
// Send queues and the drop policy: each connection has one queue of serialized frames, bounded by
// ServerOptions::send_queue_bytes.
//  - Replies to the connection's own requests are never dropped: when its queue is over the
//    bound the server stops reading that connection until the queue drains (TCP back-pressure
//    reaches the sender). A client that sends without reading thus slows itself only.
//  - Subscription traffic (estimates of streams it follows) is dropped when it does not fit; the
//    server counts the drops per stream and, as soon as there is room, sends a Missed frame
//    (count, first and last seq) before that stream's next estimate.
//
// Errors (see ErrorCode in stream.proto): a frame whose length is out of range or whose payload
// does not parse, a failed or missing authentication, and the idle timeout are fatal: an Error
// frame, then the connection is closed. Anything else a frame can get wrong is answered with a
// non-fatal Error naming the field, and the connection stays. Nothing a peer sends affects
// other connections.
//
// Shutdown: stop() (and, in run() with handle_signals, SIGINT/SIGTERM) stops accepting, closes
// every stream (recordings are flushed and fsync'ed), sends each connection a fatal
// ERROR_SHUTTING_DOWN and closes it once its queue is written (or after shutdown_grace).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/net/frame.hpp"

namespace kalmanscan::net {

struct ServerOptions {
  std::string host = "127.0.0.1";  ///< listen address: loopback unless told otherwise
  std::uint16_t port = 0;          ///< 0 = chosen by the OS (see Server::port())
  /// Model of streams opened without one; null = OpenStream must carry a model.
  std::shared_ptr<const formats::Model> default_model;
  std::string token;                       ///< shared secret; empty = no authentication
  std::filesystem::path record_dir;        ///< empty = no recording
  /// Recorded bytes handed to the writer thread and not yet written, at most (the io thread
  /// waits beyond it); also what a crash of the process may lose of the answered records.
  std::size_t record_queue_bytes = 1u << 20;
  std::size_t max_frame_bytes = default_max_frame_bytes;
  std::size_t max_connections = 1024;
  std::size_t max_streams_per_connection = 1024;
  std::size_t max_streams_total = 100000;
  std::size_t max_state_dim = 64;          ///< streams' models larger than this are refused
  unsigned max_smoothing_lag = 256;
  std::size_t send_queue_bytes = 4u << 20;  ///< per connection
  std::chrono::milliseconds idle_timeout{60000};   ///< no frame received for this long: disconnect
  std::chrono::milliseconds shutdown_grace{2000};  ///< stop(): how long queues may take to drain
};

/// Counters since start (read from any thread).
struct ServerStats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_open = 0;
  std::uint64_t connections_refused = 0;  ///< max_connections reached
  std::uint64_t streams_open = 0;
  std::uint64_t measurements_accepted = 0;
  std::uint64_t measurements_rejected = 0;
  std::uint64_t batches = 0;             ///< micro-batches drained
  std::uint64_t estimates_dropped = 0;   ///< subscription estimates dropped by full queues
  std::uint64_t protocol_errors = 0;     ///< error replies sent
};

class Server {
 public:
  /// Validates `options`, binds and listens (accepting starts with run() or start()). Throws
  /// Error naming the option, or the address when it cannot be bound.
  explicit Server(ServerOptions options);
  ~Server();  ///< stop(), then waits for a start()ed thread
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// The bound port (the OS's choice when options.port was 0).
  std::uint16_t port() const;
  const ServerOptions& options() const;

  /// Serves in the calling thread until stop() (or SIGINT/SIGTERM when handle_signals).
  void run(bool handle_signals = false);
  /// Serves in a background thread.
  void start();
  /// Graceful shutdown (see above); thread-safe, idempotent. Returns at once; run() returns, or
  /// the start()ed thread ends, when the shutdown is complete.
  void stop();
  /// Waits for the start()ed thread.
  void join();

  ServerStats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kalmanscan::net
