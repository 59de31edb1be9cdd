#include <exception>

#include "kalmanscan/net/error.hpp"
#include "kalmanscan/net/protocol.hpp"
#include "server_impl.hpp"

namespace kalmanscan::net {

namespace {
constexpr std::size_t read_chunk = 64 * 1024;
}

Session::Session(Server::Impl& server, tcp::socket socket)
    : server_(server), socket_(std::move(socket)), decoder_(server.opt.max_frame_bytes) {
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);  // estimates are small and latency matters
  last_frame = Clock::now();
}

void Session::start() { read(); }

void Session::read() {
  if (reading_ || paused_ || closing()) return;
  reading_ = true;
  const auto space = decoder_.space(read_chunk);
  socket_.async_read_some(asio::buffer(space.data(), space.size()),
                          [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                            self->reading_ = false;
                            if (self->closed_) return;
                            if (ec) {
                              self->close();
                              return;
                            }
                            self->decoder_.commit(n);
                            self->process();
                            self->read();
                          });
}

void Session::process() {
  auto self = shared_from_this();  // handlers below may close this session
  while (!closing()) {
    if (queued() > server_.opt.send_queue_bytes) {
      paused_ = true;  // back-pressure: resume when the queue has drained (write())
      return;
    }
    const FrameDecoder::Next next = decoder_.next();
    if (next.status == FrameDecoder::Status::incomplete) return;
    if (next.status != FrameDecoder::Status::frame) {
      fail(0, proto::ERROR_FRAME_TOO_LARGE, describe(next, decoder_.max_frame_bytes()));
      return;
    }
    proto::ClientFrame& frame = arena_.fresh<proto::ClientFrame>();
    if (std::string why = decode_client_frame(next.payload, frame); !why.empty()) {
      fail(0, proto::ERROR_MALFORMED_FRAME, why);
      return;
    }
    last_frame = Clock::now();
    try {
      server_.handle(*this, frame);
    } catch (const Error& e) {
      ++server_.counters.protocol_errors;
      const bool measurement = frame.has_measurement();
      send(error_frame(frame.request_id(), e.code(), e.what(), false,
                       measurement ? frame.measurement().stream_id() : 0,
                       measurement ? frame.measurement().seq() : 0));
    } catch (const std::exception& e) {
      // Not a protocol error: a failure of this server's own (allocation, I/O). Only this
      // connection is dropped; the others keep being served.
      fail(frame.request_id(), proto::ERROR_UNSPECIFIED, std::string("internal error: ") + e.what());
    }
  }
}

void Session::send(const proto::ServerFrame& frame) {
  if (closed_) return;
  append_message(out_, frame, server_.opt.max_frame_bytes);
  schedule_write();
}

bool Session::send_subscription(std::uint64_t stream_id, const std::string& framed, std::uint64_t seq) {
  if (closing()) return false;
  const auto m = missed_.find(stream_id);
  // A stream with drops outstanding first needs room for its Missed notice (≤ 64 bytes).
  const std::size_t need = framed.size() + (m != missed_.end() ? 64 : 0);
  if (queued() + need > server_.opt.send_queue_bytes) {
    MissedCount& c = missed_[stream_id];
    if (c.count++ == 0) c.first_seq = seq;
    c.last_seq = seq;
    ++server_.counters.estimates_dropped;
    return false;
  }
  if (m != missed_.end()) {
    proto::ServerFrame f;
    auto* missed = f.mutable_missed();
    missed->set_stream_id(stream_id);
    missed->set_count(m->second.count);
    missed->set_first_seq(m->second.first_seq);
    missed->set_last_seq(m->second.last_seq);
    missed_.erase(m);
    append_message(out_, f, server_.opt.max_frame_bytes);
  }
  out_ += framed;
  schedule_write();
  return true;
}

void Session::send_missed_notices() {
  for (auto it = missed_.begin(); it != missed_.end() && queued() + 64 <= server_.opt.send_queue_bytes;) {
    proto::ServerFrame f;
    auto* missed = f.mutable_missed();
    missed->set_stream_id(it->first);
    missed->set_count(it->second.count);
    missed->set_first_seq(it->second.first_seq);
    missed->set_last_seq(it->second.last_seq);
    append_message(out_, f, server_.opt.max_frame_bytes);
    it = missed_.erase(it);
  }
}

void Session::schedule_write() {
  // Frames queued by one handler (a whole micro-batch) go out in one write.
  if (write_scheduled_ || writing_) return;
  write_scheduled_ = true;
  asio::post(server_.io, [self = shared_from_this()] {
    self->write_scheduled_ = false;
    self->write();
  });
}

void Session::write() {
  if (writing_ || closed_) return;
  if (out_.empty()) {
    if (closing_) close();
    return;
  }
  writing_ = true;
  wbuf_.swap(out_);
  asio::async_write(socket_, asio::buffer(wbuf_),
                    [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                      self->writing_ = false;
                      self->wbuf_.clear();
                      if (self->closed_) return;
                      if (ec) {
                        self->close();
                        return;
                      }
                      self->send_missed_notices();
                      if (self->paused_ && self->queued() <= self->server_.opt.send_queue_bytes) {
                        self->paused_ = false;
                        self->process();
                        self->read();
                      }
                      self->write();
                    });
}

void Session::fail(std::uint64_t request_id, proto::ErrorCode code, const std::string& message) {
  if (closing()) return;
  ++server_.counters.protocol_errors;
  send(error_frame(request_id, code, message, true));
  closing_ = true;
  close_deadline = Clock::now() + server_.opt.shutdown_grace;
}

void Session::close() {
  if (closed_) return;
  auto self = shared_from_this();  // the server's reference goes away in on_session_closed
  closed_ = true;
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  out_.clear();
  missed_.clear();
  server_.on_session_closed(*this);
}

}  // namespace kalmanscan::net
