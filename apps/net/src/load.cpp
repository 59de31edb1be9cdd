#include "kalmanscan/net/load.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <memory>
#include <vector>

#include <boost/asio.hpp>

#include "kalmanscan/net/error.hpp"
#include "kalmanscan/net/frame.hpp"
#include "kalmanscan/net/protocol.hpp"

namespace kalmanscan::net {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Conn {
  explicit Conn(asio::io_context& io) : socket(io) {}
  tcp::socket socket;
  FrameDecoder decoder;
  std::string out, wbuf;
  bool writing = false;
  std::vector<std::uint64_t> streams;
  std::vector<std::uint64_t> steps;  ///< measurements sent per stream (its simulated time)
  std::deque<std::pair<std::uint64_t, Clock::time_point>> inflight;  ///< request id, send time
  std::uint64_t next_request = 1;
  std::size_t next_stream = 0;
};

/// Reads one whole frame synchronously (setup phase).
proto::ServerFrame read_frame_sync(Conn& c) {
  for (;;) {
    const auto next = c.decoder.next();
    if (next.status == FrameDecoder::Status::frame) {
      proto::ServerFrame f;
      if (const std::string why = decode_server_frame(next.payload, f); !why.empty()) throw Error("load: " + why);
      return f;
    }
    if (next.status != FrameDecoder::Status::incomplete) throw Error("load: " + describe(next, c.decoder.max_frame_bytes()));
    auto space = c.decoder.space(64 * 1024);
    boost::system::error_code ec;
    const std::size_t n = c.socket.read_some(asio::buffer(space.data(), space.size()), ec);
    if (ec) throw Error("load: connection lost during setup: " + ec.message());
    c.decoder.commit(n);
  }
}

proto::ServerFrame request_sync(Conn& c, proto::ClientFrame& f) {
  f.set_request_id(c.next_request++);
  std::string wire;
  append_message(wire, f, default_max_frame_bytes);
  boost::system::error_code ec;
  asio::write(c.socket, asio::buffer(wire), ec);
  if (ec) throw Error("load: write failed during setup: " + ec.message());
  const proto::ServerFrame reply = read_frame_sync(c);
  if (reply.has_error()) throw Error("load: server refused: " + reply.error().message(), reply.error().code());
  return reply;
}

class Generator {
 public:
  Generator(const LoadOptions& o) : opt_(o) {
    if (o.connections == 0 || o.streams_per_connection == 0)
      throw Error("load: connections and streams_per_connection must be positive");
    if (!(o.rate >= 0) || !std::isfinite(o.rate)) throw Error("load: rate must be a finite number >= 0");
    if (o.rate == 0 && o.window == 0) throw Error("load: window must be positive for a closed-loop run");
  }

  LoadResult run() {
    setup();
    start_ = Clock::now();
    measure_from_ = start_ + opt_.warmup;
    measure_to_ = measure_from_ + opt_.duration;
    for (auto& c : conns_) read(*c);
    if (opt_.rate > 0) {
      tick();
    } else {
      for (auto& c : conns_)
        for (unsigned i = 0; i < opt_.window; ++i) send_one(*c);
    }
    // Stop sending at the end of the window; wait up to 2 s for what is in flight.
    asio::steady_timer end(io_);
    end.expires_at(measure_to_);
    end.async_wait([&](const boost::system::error_code&) {
      sending_ = false;
      timer_.cancel();
      finish_.expires_after(std::chrono::seconds(2));
      finish_.async_wait([&](const boost::system::error_code&) { io_.stop(); });
      maybe_done();
    });
    io_.run();
    if (!failure_.empty()) throw Error("load: " + failure_);
    return result();
  }

 private:
  void setup() {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(opt_.host, ec);
    if (ec) throw Error("load: host '" + opt_.host + "' is not an IP address");
    for (unsigned k = 0; k < opt_.connections; ++k) {
      auto c = std::make_unique<Conn>(io_);
      c->socket.connect(tcp::endpoint(address, opt_.port), ec);
      if (ec) throw Error("load: cannot connect to " + opt_.host + ":" + std::to_string(opt_.port) + ": " + ec.message());
      c->socket.set_option(tcp::no_delay(true));
      if (!opt_.token.empty()) {
        proto::ClientFrame hello;
        hello.mutable_hello()->set_protocol_version(protocol_version);
        hello.mutable_hello()->set_token(opt_.token);
        hello.mutable_hello()->set_client_name("kalmanscan load");
        request_sync(*c, hello);
      }
      for (unsigned s = 0; s < opt_.streams_per_connection; ++s) {
        proto::ClientFrame open;
        open.mutable_open()->set_name(opt_.stream_prefix + "-" + std::to_string(k) + "-" + std::to_string(s));
        open.mutable_open()->set_diagonal_only(false);
        if (opt_.model) *open.mutable_open()->mutable_model() = *opt_.model;
        const auto reply = request_sync(*c, open);
        if (!reply.has_opened()) throw Error("load: expected StreamOpened");
        c->streams.push_back(reply.opened().stream().stream_id());
        c->steps.push_back(0);
      }
      conns_.push_back(std::move(c));
    }
  }

  /// Queues one measurement of the connection's next stream (round robin).
  void send_one(Conn& c) {
    const std::size_t s = c.next_stream++ % c.streams.size();
    const std::uint64_t k = c.steps[s]++;
    // A target circling at 1 rad/s, measured every 1/128 s, with a deterministic wobble as noise.
    // The period is a power of two so that every step's dt is the same double, as a regular
    // sensor clock gives (the stream filter then reuses one discretised transition).
    const double t = static_cast<double>(k) / 128.0;
    frame_.set_request_id(c.next_request);
    auto* m = frame_.mutable_measurement();
    m->set_stream_id(c.streams[s]);
    m->set_seq(k);
    auto* r = m->mutable_record();
    r->set_timestamp(t);
    r->clear_values();
    r->add_values(std::cos(t) + 0.1 * std::sin(37.0 * t + static_cast<double>(s)));
    r->add_values(std::sin(t) + 0.1 * std::cos(53.0 * t + static_cast<double>(s)));
    append_message(c.out, frame_, default_max_frame_bytes);
    const auto now = Clock::now();
    c.inflight.emplace_back(c.next_request++, now);
    if (now >= measure_from_ && now < measure_to_) ++sent_;
    write(c);
  }

  void write(Conn& c) {
    if (c.writing || c.out.empty()) return;
    c.writing = true;
    c.wbuf.swap(c.out);
    asio::async_write(c.socket, asio::buffer(c.wbuf), [this, &c](const boost::system::error_code& ec, std::size_t) {
      c.writing = false;
      c.wbuf.clear();
      if (ec) return fail("write: " + ec.message());
      write(c);
    });
  }

  void read(Conn& c) {
    auto space = c.decoder.space(64 * 1024);
    c.socket.async_read_some(asio::buffer(space.data(), space.size()),
                             [this, &c](const boost::system::error_code& ec, std::size_t n) {
                               if (ec) {
                                 if (!done_) fail("connection lost: " + ec.message());
                                 return;
                               }
                               c.decoder.commit(n);
                               on_frames(c);
                               if (!failure_.empty() || done_) return;
                               read(c);
                             });
  }

  void on_frames(Conn& c) {
    for (;;) {
      const auto next = c.decoder.next();
      if (next.status == FrameDecoder::Status::incomplete) break;
      proto::ServerFrame& f = arena_.fresh<proto::ServerFrame>();
      if (next.status != FrameDecoder::Status::frame || !decode_server_frame(next.payload, f).empty())
        return fail("undecodable frame from the server");
      if (!f.has_estimate() && !f.has_error()) continue;
      if (f.has_estimate() && f.estimate().record().kind() != proto::EstimateRecord::FILTERED) continue;
      if (f.has_error()) {
        ++errors_;
        if (f.error().fatal()) return fail("server: " + f.error().message());
      }
      const auto now = Clock::now();
      while (!c.inflight.empty() && c.inflight.front().first <= f.request_id()) {
        const auto [req, at] = c.inflight.front();
        c.inflight.pop_front();
        if (req == f.request_id() && f.has_estimate() && at >= measure_from_ && at < measure_to_) {
          ++answered_;
          latencies_us_.push_back(std::chrono::duration<double, std::micro>(now - at).count());
        }
      }
      if (sending_ && opt_.rate == 0) send_one(c);
    }
    maybe_done();
  }

  void tick() {
    if (!sending_) return;
    // Open loop: send what the schedule says is due by now.
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const auto due = static_cast<std::uint64_t>(opt_.rate * elapsed);
    for (; scheduled_ < due; ++scheduled_) send_one(*conns_[scheduled_ % conns_.size()]);
    timer_.expires_after(std::chrono::milliseconds(1));
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) tick();
    });
  }

  void maybe_done() {
    if (sending_ || done_) return;
    for (auto& c : conns_)
      if (!c->inflight.empty()) return;
    done_ = true;
    io_.stop();
  }

  void fail(const std::string& why) {
    if (failure_.empty()) failure_ = why;
    io_.stop();
  }

  LoadResult result() {
    LoadResult r;
    r.sent = sent_;
    r.answered = answered_;
    r.errors = errors_;
    r.seconds = std::chrono::duration<double>(opt_.duration).count();
    r.throughput = static_cast<double>(answered_) / r.seconds;
    if (!latencies_us_.empty()) {
      auto pct = [&](double q) {
        const auto i = static_cast<std::size_t>(q * static_cast<double>(latencies_us_.size() - 1));
        std::nth_element(latencies_us_.begin(), latencies_us_.begin() + static_cast<std::ptrdiff_t>(i), latencies_us_.end());
        return latencies_us_[i];
      };
      r.p50_us = pct(0.50);
      r.p99_us = pct(0.99);
      r.max_us = *std::max_element(latencies_us_.begin(), latencies_us_.end());
    }
    return r;
  }

  LoadOptions opt_;
  asio::io_context io_;
  asio::steady_timer timer_{io_}, finish_{io_};
  std::vector<std::unique_ptr<Conn>> conns_;
  proto::ClientFrame frame_;
  MessageArena arena_;  ///< the reply being read
  Clock::time_point start_, measure_from_, measure_to_;
  bool sending_ = true, done_ = false;
  std::uint64_t scheduled_ = 0, sent_ = 0, answered_ = 0, errors_ = 0;
  std::vector<double> latencies_us_;
  std::string failure_;
};

}  // namespace

LoadResult run_load(const LoadOptions& options) { return Generator(options).run(); }

}  // namespace kalmanscan::net
