// Internals of the server (server.hpp): streams, connections (Session) and the shared state
// (Server::Impl). Everything here runs on the server's one io thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio.hpp>

#include "kalmanscan/net/frame.hpp"
#include "kalmanscan/net/protocol.hpp"
#include "kalmanscan/net/recording.hpp"
#include "kalmanscan/net/recording_writer.hpp"
#include "kalmanscan/net/server.hpp"
#include "kalmanscan/net/stream_filter.hpp"
#include "kalmanscan/stream.pb.h"

namespace kalmanscan::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

class Session;

struct Stream {
  proto::StreamInfo info;  ///< id, name, dimensions, lag
  Session* owner = nullptr;  ///< the owner closes its streams before it goes away
  StreamFilter filter;
  std::unique_ptr<Recording> recording;
  std::unordered_set<Session*> subscribers;  ///< by name (sessions following `all` are not listed)
  std::uint64_t accepted = 0;
  bool open = true;
  bool dirty = false;  ///< has records appended since the last flush

  std::uint64_t id() const { return info.stream_id(); }
};

/// One client connection: reads frames, hands them to the server, writes its send queue.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl& server, tcp::socket socket);

  void start();
  /// Queues a reply or notice (never dropped; see the back-pressure rule in server.hpp).
  void send(const proto::ServerFrame& frame);
  /// Queues an already framed subscription estimate of `stream_id`, or drops it when the queue
  /// is full and counts it for the Missed notice. Returns false when dropped.
  bool send_subscription(std::uint64_t stream_id, const std::string& framed, std::uint64_t seq);
  /// Sends a fatal error, stops reading and closes once the queue is written.
  void fail(std::uint64_t request_id, proto::ErrorCode code, const std::string& message);
  /// Closes the socket now and detaches from the server.
  void close();

  bool closed() const { return closed_; }
  bool closing() const { return closing_ || closed_; }

  // Server-side bookkeeping (used by Server::Impl).
  bool authenticated = false;
  bool subscribed_all = false;
  std::unordered_set<std::uint64_t> owned;          ///< ids of the streams it opened
  std::unordered_set<std::uint64_t> subscriptions;  ///< ids it follows by name
  Clock::time_point last_frame;
  Clock::time_point close_deadline;

 private:
  struct MissedCount {
    std::uint64_t count = 0, first_seq = 0, last_seq = 0;
  };

  void read();
  void process();
  void schedule_write();
  void write();
  void send_missed_notices();
  std::size_t queued() const { return out_.size() + wbuf_.size(); }

  Server::Impl& server_;
  tcp::socket socket_;
  FrameDecoder decoder_;
  MessageArena arena_;  ///< the frame being handled
  std::string out_;   ///< frames waiting to be written
  std::string wbuf_;  ///< frames being written
  std::map<std::uint64_t, MissedCount> missed_;  ///< dropped subscription estimates per stream
  bool reading_ = false, writing_ = false, write_scheduled_ = false, paused_ = false;
  bool closing_ = false, closed_ = false;
};

struct Server::Impl {
  /// A measurement waiting for the next drain. Slots are reused: their records keep their storage.
  struct Pending {
    std::shared_ptr<Stream> stream;
    std::shared_ptr<Session> owner;
    std::uint64_t request_id = 0;
    std::uint64_t seq = 0;
    proto::LogRecord record;
  };

  explicit Impl(ServerOptions options);

  void accept();
  void arm_tick();
  void on_tick();
  void begin_shutdown();

  /// Dispatches one decoded frame of `s`; throws Error for a non-fatal error reply.
  void handle(Session& s, proto::ClientFrame& frame);
  void on_hello(Session& s, std::uint64_t req, const proto::Hello& hello);
  void on_open(Session& s, std::uint64_t req, const proto::OpenStream& open);
  void on_measurement(Session& s, std::uint64_t req, proto::Measurement& m);
  void on_subscribe(Session& s, std::uint64_t req, const proto::Subscribe& sub);
  void on_close(Session& s, std::uint64_t req, const proto::CloseStream& close);
  /// Runs the pending micro-batch (see server.hpp).
  void drain();
  void close_stream(Stream& stream, const std::string& reason);
  void on_session_closed(Session& s);
  std::shared_ptr<Stream> find_stream(std::uint64_t id, std::uint64_t seq);

  ServerOptions opt;
  /// Writes the recordings (null without record_dir); declared before the streams, whose
  /// recordings use it, so it outlives them.
  std::unique_ptr<RecordingWriter> writer;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  asio::signal_set signals{io};
  asio::steady_timer tick{io};
  std::uint16_t port = 0;
  std::thread thread;

  std::unordered_map<Session*, std::shared_ptr<Session>> sessions;
  std::unordered_map<std::uint64_t, std::shared_ptr<Stream>> streams;
  std::unordered_map<std::string, std::uint64_t> by_name;
  std::unordered_set<Session*> all_subscribers;
  std::uint64_t next_stream_id = 1;
  std::vector<Pending> pending, batch;   ///< the first pending_count / batch_count slots are in use
  std::size_t pending_count = 0, batch_count = 0;
  // drain()'s working storage, kept so that a steady flow allocates nothing.
  std::vector<StreamFilter::Output> outputs;  ///< one per batch slot
  std::vector<std::size_t> accepted;          ///< batch slots whose update succeeded
  std::vector<Stream*> touched;               ///< recorded streams with records not yet handed to the writer
  proto::ServerFrame estimate_frame;
  std::string framed;
  bool drain_posted = false;
  bool stopping = false;
  Clock::time_point shutdown_deadline;

  struct Counters {
    std::atomic<std::uint64_t> connections_accepted{0}, connections_open{0}, connections_refused{0},
        streams_open{0}, measurements_accepted{0}, measurements_rejected{0}, batches{0}, estimates_dropped{0},
        protocol_errors{0};
  } counters;
};

}  // namespace kalmanscan::net
