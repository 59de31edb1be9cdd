#include "kalmanscan/net/client.hpp"

#include <boost/asio.hpp>

#include "kalmanscan/net/error.hpp"
#include "kalmanscan/net/protocol.hpp"

namespace kalmanscan::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Client::Impl {
  ClientOptions opt;
  asio::io_context io;
  tcp::socket socket{io};
  FrameDecoder decoder;
  std::deque<proto::ServerFrame> inbox;
  std::string out, wbuf;
  std::uint64_t next_request = 1;
  bool reading = false, eof = false;
  std::string failure;  ///< why the connection ended (read error or undecodable frame)

  explicit Impl(ClientOptions o) : opt(std::move(o)), decoder(opt.max_frame_bytes) {}

  /// Runs handlers until `done()` or the deadline; false on timeout.
  template <class Done>
  bool run_until(Done done, Clock::time_point deadline) {
    while (!done()) {
      const auto now = Clock::now();
      if (now >= deadline) return false;
      if (io.stopped()) io.restart();
      io.run_one_for(deadline - now);
    }
    return true;
  }

  void start_read() {
    if (reading || eof) return;
    reading = true;
    const auto space = decoder.space(64 * 1024);
    socket.async_read_some(asio::buffer(space.data(), space.size()),
                           [this](const boost::system::error_code& ec, std::size_t n) {
                             reading = false;
                             if (ec) {
                               eof = true;
                               failure = ec == asio::error::eof ? "connection closed by the server" : ec.message();
                               return;
                             }
                             decoder.commit(n);
                             for (;;) {
                               const auto next = decoder.next();
                               if (next.status == FrameDecoder::Status::incomplete) break;
                               proto::ServerFrame f;
                               std::string why = next.status == FrameDecoder::Status::frame
                                                     ? decode_server_frame(next.payload, f)
                                                     : describe(next, decoder.max_frame_bytes());
                               if (!why.empty()) {
                                 eof = true;
                                 failure = "bad frame from the server: " + why;
                                 boost::system::error_code ignore;
                                 socket.close(ignore);
                                 return;
                               }
                               inbox.push_back(std::move(f));
                             }
                           });
  }

  void flush() {
    while (!out.empty()) {
      if (eof) throw Error("client: cannot send: " + failure);
      wbuf.swap(out);
      bool written = false;
      boost::system::error_code wec;
      asio::async_write(socket, asio::buffer(wbuf), [&](const boost::system::error_code& ec, std::size_t) {
        written = true;
        wec = ec;
      });
      // Keep reading while writing, so that server back-pressure cannot deadlock us.
      const auto deadline = Clock::now() + opt.timeout;
      const bool ok = run_until(
          [&] {
            if (!written) start_read();
            return written;
          },
          deadline);
      wbuf.clear();
      if (!ok) {
        boost::system::error_code ignore;
        socket.close(ignore);  // the write is aborted; the connection is unusable
        eof = true;
        failure = "write timed out";
        run_until([&] { return written; }, Clock::now() + std::chrono::seconds(1));
        throw Error("client: write timed out after " + std::to_string(opt.timeout.count()) + " ms");
      }
      if (wec) {
        eof = true;
        failure = wec.message();
        throw Error("client: write failed: " + wec.message());
      }
    }
  }

  std::optional<proto::ServerFrame> poll(std::chrono::milliseconds timeout) {
    flush();
    run_until(
        [&] {
          if (inbox.empty()) start_read();
          return !inbox.empty() || eof;
        },
        Clock::now() + timeout);
    if (inbox.empty()) {
      if (eof) throw Error("client: " + failure);
      return std::nullopt;
    }
    proto::ServerFrame f = std::move(inbox.front());
    inbox.pop_front();
    return f;
  }

  std::uint64_t queue(proto::ClientFrame& frame) {
    if (frame.request_id() == 0) frame.set_request_id(next_request++);
    append_message(out, frame, opt.max_frame_bytes);
    return frame.request_id();
  }
};

namespace {
[[noreturn]] void throw_reply(const proto::ErrorReply& e) {
  throw Error("server: " + e.message(), e.code());
}
}  // namespace

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  Impl& m = *impl_;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(m.opt.host, ec);
  if (ec) throw Error("client: host '" + m.opt.host + "' is not an IP address: " + ec.message());
  m.socket.open(address.is_v4() ? tcp::v4() : tcp::v6(), ec);
  if (!ec && m.opt.receive_buffer_bytes > 0)
    m.socket.set_option(asio::socket_base::receive_buffer_size(static_cast<int>(m.opt.receive_buffer_bytes)), ec);
  if (ec) throw Error("client: cannot create a socket: " + ec.message());
  bool done = false;
  m.socket.async_connect(tcp::endpoint(address, m.opt.port), [&](const boost::system::error_code& e) {
    done = true;
    ec = e;
  });
  if (!m.run_until([&] { return done; }, Clock::now() + m.opt.timeout)) {
    m.socket.close(ec);
    m.run_until([&] { return done; }, Clock::now() + std::chrono::seconds(1));
    throw Error("client: connecting to " + m.opt.host + ":" + std::to_string(m.opt.port) + " timed out");
  }
  if (ec) throw Error("client: cannot connect to " + m.opt.host + ":" + std::to_string(m.opt.port) + ": " + ec.message());
  m.socket.set_option(tcp::no_delay(true), ec);
  if (m.opt.hello) {
    proto::ClientFrame f;
    auto* h = f.mutable_hello();
    h->set_protocol_version(protocol_version);
    h->set_token(m.opt.token);
    h->set_client_name(m.opt.client_name);
    const auto reply = await(send_frame(std::move(f)));
    if (!reply.has_welcome()) throw Error("client: expected Welcome in reply to Hello");
  }
}

Client::~Client() {
  boost::system::error_code ignore;
  impl_->socket.close(ignore);
}

std::uint64_t Client::send_frame(proto::ClientFrame frame) { return impl_->queue(frame); }

void Client::send_bytes(std::string_view bytes) { impl_->out.append(bytes); }

void Client::flush() { impl_->flush(); }

proto::ServerFrame Client::receive(std::optional<std::chrono::milliseconds> timeout) {
  const auto t = timeout.value_or(impl_->opt.timeout);
  auto f = impl_->poll(t);
  if (!f) throw Error("client: no frame from the server within " + std::to_string(t.count()) + " ms");
  return std::move(*f);
}

std::optional<proto::ServerFrame> Client::poll(std::chrono::milliseconds timeout) { return impl_->poll(timeout); }

proto::ServerFrame Client::await(std::uint64_t request_id) {
  Impl& m = *impl_;
  m.flush();
  const auto deadline = Clock::now() + m.opt.timeout;
  std::size_t seen = 0;  // inbox entries already inspected
  for (;;) {
    for (; seen < m.inbox.size(); ++seen) {
      const proto::ServerFrame& f = m.inbox[seen];
      const bool fatal = f.has_error() && f.error().fatal();
      if (f.request_id() != request_id && !fatal) continue;
      proto::ServerFrame reply = std::move(m.inbox[seen]);
      m.inbox.erase(m.inbox.begin() + static_cast<std::ptrdiff_t>(seen));
      if (reply.has_error()) throw_reply(reply.error());
      return reply;
    }
    const bool ok = m.run_until(
        [&] {
          if (m.inbox.size() == seen) m.start_read();
          return m.inbox.size() > seen || m.eof;
        },
        deadline);
    if (m.inbox.size() > seen) continue;
    if (m.eof) throw Error("client: " + m.failure);
    if (!ok)
      throw Error("client: no reply to request " + std::to_string(request_id) + " within " +
                  std::to_string(m.opt.timeout.count()) + " ms");
  }
}

proto::StreamInfo Client::open(const std::string& name, const proto::ModelSpec* model, unsigned smoothing_lag,
                               bool diagonal_only) {
  proto::ClientFrame f;
  auto* o = f.mutable_open();
  o->set_name(name);
  if (model) *o->mutable_model() = *model;
  o->set_smoothing_lag(smoothing_lag);
  o->set_diagonal_only(diagonal_only);
  auto reply = await(send_frame(std::move(f)));
  if (!reply.has_opened()) throw Error("client: expected StreamOpened in reply to OpenStream");
  return reply.opened().stream();
}

std::uint64_t Client::send(std::uint64_t stream_id, std::uint64_t seq, const proto::LogRecord& record) {
  proto::ClientFrame f;
  auto* m = f.mutable_measurement();
  m->set_stream_id(stream_id);
  m->set_seq(seq);
  *m->mutable_record() = record;
  return send_frame(std::move(f));
}

proto::Estimate Client::update(std::uint64_t stream_id, std::uint64_t seq, const proto::LogRecord& record) {
  auto reply = await(send(stream_id, seq, record));
  if (!reply.has_estimate()) throw Error("client: expected Estimate in reply to Measurement");
  return reply.estimate();
}

std::vector<proto::StreamInfo> Client::subscribe(const std::vector<std::string>& names, bool all, bool unsubscribe) {
  proto::ClientFrame f;
  auto* s = f.mutable_subscribe();
  for (const auto& n : names) s->add_names(n);
  s->set_all(all);
  s->set_unsubscribe(unsubscribe);
  auto reply = await(send_frame(std::move(f)));
  if (!reply.has_subscribed()) throw Error("client: expected Subscribed in reply to Subscribe");
  return {reply.subscribed().streams().begin(), reply.subscribed().streams().end()};
}

proto::StreamClosed Client::close(std::uint64_t stream_id) {
  proto::ClientFrame f;
  f.mutable_close()->set_stream_id(stream_id);
  auto reply = await(send_frame(std::move(f)));
  if (!reply.has_closed()) throw Error("client: expected StreamClosed in reply to CloseStream");
  return reply.closed();
}

void Client::ping() {
  proto::ClientFrame f;
  f.mutable_ping();
  if (!await(send_frame(std::move(f))).has_pong()) throw Error("client: expected Pong in reply to Ping");
}

bool Client::connected() const { return !impl_->eof; }
std::size_t Client::inbox_size() const { return impl_->inbox.size(); }

}  // namespace kalmanscan::net
