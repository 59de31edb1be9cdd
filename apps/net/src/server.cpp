#include "kalmanscan/net/server.hpp"

#include <csignal>
#include <iostream>

#include "kalmanscan/config.hpp"
#include "kalmanscan/formats/error.hpp"
#include "kalmanscan/net/error.hpp"
#include "kalmanscan/net/protocol.hpp"
#include "server_impl.hpp"

namespace kalmanscan::net {

namespace {

/// Compares without an early exit, so the time taken does not reveal the matching prefix.
bool equal_secret(const std::string& given, const std::string& secret) {
  unsigned diff = given.size() == secret.size() ? 0u : 1u;
  for (std::size_t i = 0; i < secret.size(); ++i)
    diff |= static_cast<unsigned char>(secret[i]) ^ static_cast<unsigned char>(i < given.size() ? given[i] : 0);
  return diff == 0;
}

void check_options(const ServerOptions& o) {
  auto positive = [](std::size_t v, const char* name) {
    if (v == 0) throw Error(std::string("server option ") + name + ": must be positive");
  };
  positive(o.max_connections, "max_connections");
  positive(o.max_streams_per_connection, "max_streams_per_connection");
  positive(o.max_streams_total, "max_streams_total");
  positive(o.max_state_dim, "max_state_dim");
  positive(o.send_queue_bytes, "send_queue_bytes");
  positive(o.record_queue_bytes, "record_queue_bytes");
  if (o.max_frame_bytes < 64 || o.max_frame_bytes > max_max_frame_bytes)
    throw Error("server option max_frame_bytes: expected 64 to " + std::to_string(max_max_frame_bytes) +
                ", found " + std::to_string(o.max_frame_bytes));
  if (o.max_smoothing_lag > StreamFilter::max_smoothing_lag)
    throw Error("server option max_smoothing_lag: expected at most " + std::to_string(StreamFilter::max_smoothing_lag) +
                ", found " + std::to_string(o.max_smoothing_lag));
  if (o.idle_timeout.count() <= 0) throw Error("server option idle_timeout: must be positive");
  if (o.shutdown_grace.count() < 0) throw Error("server option shutdown_grace: must not be negative");
  if (!o.record_dir.empty() && !std::filesystem::is_directory(o.record_dir))
    throw Error("server option record_dir: " + o.record_dir.string() + " is not a directory");
}

proto::ServerFrame opened_frame(std::uint64_t req, const proto::StreamInfo& info) {
  proto::ServerFrame f;
  f.set_request_id(req);
  *f.mutable_opened()->mutable_stream() = info;
  return f;
}

proto::ServerFrame closed_frame(std::uint64_t req, const Stream& st, const std::string& reason) {
  proto::ServerFrame f;
  f.set_request_id(req);
  auto* c = f.mutable_closed();
  c->set_stream_id(st.id());
  c->set_name(st.info.name());
  c->set_measurements(st.accepted);
  c->set_reason(reason);
  return f;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Setup, accept, timers, shutdown

Server::Impl::Impl(ServerOptions options) : opt(std::move(options)) {
  check_options(opt);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(opt.host, ec);
  if (ec) throw Error("server option host: '" + opt.host + "' is not an IP address: " + ec.message());
  const tcp::endpoint endpoint(address, opt.port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw Error("server: cannot listen on " + opt.host + ":" + std::to_string(opt.port) + ": " + ec.message());
  port = acceptor.local_endpoint().port();
  if (!opt.record_dir.empty()) writer = std::make_unique<RecordingWriter>(opt.record_queue_bytes);
}

void Server::Impl::accept() {
  acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (stopping) return;
    if (!ec) {
      auto s = std::make_shared<Session>(*this, std::move(socket));
      sessions.emplace(s.get(), s);
      ++counters.connections_accepted;
      counters.connections_open = sessions.size();
      s->authenticated = opt.token.empty();
      if (sessions.size() > opt.max_connections) {
        ++counters.connections_refused;
        s->fail(0, proto::ERROR_LIMIT_EXCEEDED,
                "connections: the server holds its maximum of " + std::to_string(opt.max_connections));
      }
      s->start();
    }
    // Errors such as EMFILE leave the acceptor usable: keep accepting.
    accept();
  });
}

void Server::Impl::arm_tick() {
  const auto period = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(opt.idle_timeout / 4),
                                 std::chrono::milliseconds(10), std::chrono::milliseconds(500));
  tick.expires_after(period);
  tick.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) on_tick();
  });
}

void Server::Impl::on_tick() {
  const auto now = Clock::now();
  std::vector<std::shared_ptr<Session>> expired, overdue;
  for (auto& [p, s] : sessions) {
    if (s->closing() && now >= s->close_deadline) overdue.push_back(s);
    else if (!s->closing() && now - s->last_frame > opt.idle_timeout) expired.push_back(s);
  }
  for (auto& s : expired)
    s->fail(0, proto::ERROR_IDLE_TIMEOUT,
            "idle: no frame received for " + std::to_string(opt.idle_timeout.count()) + " ms");
  for (auto& s : overdue) s->close();
  if (stopping && sessions.empty()) return;  // nothing left: let run() return
  arm_tick();
}

void Server::Impl::begin_shutdown() {
  if (stopping) return;
  drain();
  stopping = true;
  boost::system::error_code ec;
  acceptor.close(ec);
  signals.cancel(ec);
  std::vector<std::shared_ptr<Stream>> all;
  for (auto& [id, st] : streams) all.push_back(st);
  for (auto& st : all) close_stream(*st, "server shutting down");
  std::vector<std::shared_ptr<Session>> conns;
  for (auto& [p, s] : sessions) conns.push_back(s);
  for (auto& s : conns) s->fail(0, proto::ERROR_SHUTTING_DOWN, "server is shutting down");
  if (sessions.empty()) tick.cancel();
}

// ---------------------------------------------------------------------------------------------
// Frames

void Server::Impl::handle(Session& s, proto::ClientFrame& frame) {
  const std::uint64_t req = frame.request_id();
  if (!s.authenticated && !frame.has_hello()) {
    s.fail(req, proto::ERROR_UNAUTHENTICATED, "authentication: the first frame must be a Hello with the token");
    return;
  }
  // Keep replies in request order: everything but a measurement waits for pending updates.
  if (!frame.has_measurement() && pending_count > 0) drain();
  switch (frame.body_case()) {
    case proto::ClientFrame::kHello: return on_hello(s, req, frame.hello());
    case proto::ClientFrame::kOpen: return on_open(s, req, frame.open());
    case proto::ClientFrame::kMeasurement: return on_measurement(s, req, *frame.mutable_measurement());
    case proto::ClientFrame::kSubscribe: return on_subscribe(s, req, frame.subscribe());
    case proto::ClientFrame::kClose: return on_close(s, req, frame.close());
    case proto::ClientFrame::kPing: {
      proto::ServerFrame f;
      f.set_request_id(req);
      f.mutable_pong();
      s.send(f);
      return;
    }
    case proto::ClientFrame::BODY_NOT_SET: break;  // refused by decode_client_frame
  }
}

void Server::Impl::on_hello(Session& s, std::uint64_t req, const proto::Hello& hello) {
  if (hello.protocol_version() != protocol_version) {
    s.fail(req, proto::ERROR_INVALID_ARGUMENT,
           "hello.protocol_version: expected " + std::to_string(protocol_version) + ", found " +
               std::to_string(hello.protocol_version()));
    return;
  }
  if (!opt.token.empty() && !equal_secret(hello.token(), opt.token)) {
    s.fail(req, proto::ERROR_UNAUTHENTICATED, "hello.token: wrong token");
    return;
  }
  s.authenticated = true;
  proto::ServerFrame f;
  f.set_request_id(req);
  f.mutable_welcome()->set_protocol_version(protocol_version);
  f.mutable_welcome()->set_server(std::string("kalmanscan ") + KALMANSCAN_VERSION);
  s.send(f);
}

void Server::Impl::on_open(Session& s, std::uint64_t req, const proto::OpenStream& open) {
  check_stream_name(open.name());
  if (by_name.count(open.name()))
    throw Error("name: a stream named '" + open.name() + "' is already open", proto::ERROR_STREAM_EXISTS);
  if (s.owned.size() >= opt.max_streams_per_connection)
    throw Error("open: this connection holds its maximum of " + std::to_string(opt.max_streams_per_connection) +
                    " streams",
                proto::ERROR_LIMIT_EXCEEDED);
  if (streams.size() >= opt.max_streams_total)
    throw Error("open: the server holds its maximum of " + std::to_string(opt.max_streams_total) + " streams",
                proto::ERROR_LIMIT_EXCEEDED);
  if (open.smoothing_lag() > opt.max_smoothing_lag)
    throw Error("smoothing_lag: expected at most " + std::to_string(opt.max_smoothing_lag) + ", found " +
                std::to_string(open.smoothing_lag()));

  std::shared_ptr<const formats::Model> model = opt.default_model;
  if (open.has_model()) {
    try {
      model = std::make_shared<const formats::Model>(open.model(), "open.model");
    } catch (const formats::FormatError& e) {
      throw Error(e.what());
    }
  } else if (!model) {
    throw Error("model: absent, and the server has no default model");
  }
  if (model->state_dim() > opt.max_state_dim)
    throw Error("model: state dimension " + std::to_string(model->state_dim()) + " exceeds the server's maximum of " +
                std::to_string(opt.max_state_dim));

  const std::uint64_t id = next_stream_id++;
  auto st = std::make_shared<Stream>(Stream{{}, &s, StreamFilter(model, {open.smoothing_lag(), open.diagonal_only()}),
                                            nullptr, {}, 0, true, false});
  st->info.set_stream_id(id);
  st->info.set_name(open.name());
  st->info.set_state_dim(static_cast<std::uint32_t>(model->state_dim()));
  for (const auto& n : model->state_names()) st->info.add_state_names(n);
  st->info.set_smoothing_lag(open.smoothing_lag());
  *st->info.mutable_model() = model->spec();
  if (!opt.record_dir.empty())
    st->recording = std::make_unique<Recording>(*writer, opt.record_dir / (open.name() + "." + std::to_string(id)),
                                                model->spec(), "kalmanscan serve: stream " + open.name());

  streams.emplace(id, st);
  by_name.emplace(open.name(), id);
  s.owned.insert(id);
  counters.streams_open = streams.size();
  s.send(opened_frame(req, st->info));
  const proto::ServerFrame notice = opened_frame(0, st->info);
  for (Session* sub : all_subscribers)
    if (sub != &s) sub->send(notice);
}

std::shared_ptr<Stream> Server::Impl::find_stream(std::uint64_t id, std::uint64_t seq) {
  const auto it = streams.find(id);
  if (it == streams.end())
    throw Error("stream_id: no open stream " + std::to_string(id) + (seq ? " (seq " + std::to_string(seq) + ")" : ""),
                proto::ERROR_UNKNOWN_STREAM);
  return it->second;
}

void Server::Impl::on_measurement(Session& s, std::uint64_t req, proto::Measurement& m) {
  auto st = find_stream(m.stream_id(), m.seq());
  if (st->owner != &s)
    throw Error("stream_id: stream " + std::to_string(m.stream_id()) + " belongs to another connection",
                proto::ERROR_NOT_OWNER);
  if (pending_count == pending.size()) pending.emplace_back();
  Pending& p = pending[pending_count++];
  p.stream = std::move(st);
  p.owner = s.shared_from_this();
  p.request_id = req;
  p.seq = m.seq();
  p.record.CopyFrom(m.record());  // into the slot's kept storage (the frame lives on the session's arena)
  if (!drain_posted) {
    drain_posted = true;
    asio::post(io, [this] {
      drain_posted = false;
      drain();
    });
  }
}

void Server::Impl::on_subscribe(Session& s, std::uint64_t req, const proto::Subscribe& sub) {
  proto::ServerFrame f;
  f.set_request_id(req);
  auto* reply = f.mutable_subscribed();
  if (sub.all()) {
    if (sub.unsubscribe()) {
      all_subscribers.erase(&s);
      s.subscribed_all = false;
      for (std::uint64_t id : s.subscriptions) streams.at(id)->subscribers.erase(&s);
      s.subscriptions.clear();
    } else {
      all_subscribers.insert(&s);
      s.subscribed_all = true;
      for (auto& [id, st] : streams) *reply->add_streams() = st->info;
    }
    s.send(f);
    return;
  }
  // Resolve every name first: an unknown one refuses the whole request.
  std::vector<Stream*> targets;
  for (int i = 0; i < sub.names_size(); ++i) {
    const auto it = by_name.find(sub.names(i));
    if (it == by_name.end())
      throw Error("names[" + std::to_string(i) + "]: no open stream named '" + sub.names(i).substr(0, max_stream_name) +
                      "'",
                  proto::ERROR_UNKNOWN_STREAM);
    targets.push_back(streams.at(it->second).get());
  }
  for (Stream* st : targets) {
    if (sub.unsubscribe()) {
      st->subscribers.erase(&s);
      s.subscriptions.erase(st->id());
    } else {
      st->subscribers.insert(&s);
      s.subscriptions.insert(st->id());
      *reply->add_streams() = st->info;
    }
  }
  s.send(f);
}

void Server::Impl::on_close(Session& s, std::uint64_t req, const proto::CloseStream& close) {
  auto st = find_stream(close.stream_id(), 0);
  if (st->owner != &s)
    throw Error("stream_id: stream " + std::to_string(close.stream_id()) + " belongs to another connection",
                proto::ERROR_NOT_OWNER);
  close_stream(*st, "closed by its owner");
  s.send(closed_frame(req, *st, "closed by its owner"));
}

// ---------------------------------------------------------------------------------------------
// Micro-batches

void Server::Impl::drain() {
  if (pending_count == 0) return;
  batch.swap(pending);
  batch_count = pending_count;
  pending_count = 0;
  ++counters.batches;
  if (outputs.size() < batch_count) outputs.resize(batch_count);
  accepted.clear();
  touched.clear();

  // 1. Filter, in arrival order; record what was accepted.
  for (std::size_t i = 0; i < batch_count; ++i) {
    Pending& p = batch[i];
    Stream& st = *p.stream;
    if (p.owner->closing()) continue;
    if (!st.open) {
      ++counters.measurements_rejected;
      p.owner->send(error_frame(p.request_id, proto::ERROR_UNKNOWN_STREAM,
                                "stream_id: stream " + std::to_string(st.id()) + " was closed", false, st.id(), p.seq));
      continue;
    }
    try {
      st.filter.update(p.record, outputs[i]);
    } catch (const Error& e) {
      ++counters.measurements_rejected;
      ++counters.protocol_errors;
      p.owner->send(error_frame(p.request_id, e.code(), e.what(), false, st.id(), p.seq));
      continue;
    }
    accepted.push_back(i);
    ++st.accepted;
    ++counters.measurements_accepted;
    if (st.recording) {
      st.recording->append(p.record);
      if (!st.dirty) touched.push_back(&st);
      st.dirty = true;
    }
  }

  // 2. Hand the batch's records to the writer thread (no system call here; see recording.hpp).
  for (Stream* st : touched) {
    st->dirty = false;
    try {
      st->recording->flush();
    } catch (const Error& e) {
      st->recording.reset();  // stop recording this stream; filtering goes on
      if (!st->owner->closing())
        st->owner->send(error_frame(0, proto::ERROR_RECORDING, std::string(e.what()) + " (recording stopped)", false,
                                    st->id()));
    }
  }

  // 3. Estimates to owners (replies) and subscribers (droppable).
  auto deliver = [&](const Pending& p, const proto::EstimateRecord& record) {
    Stream& st = *p.stream;
    proto::ServerFrame& f = estimate_frame;  // reused: its estimate keeps its storage
    f.set_request_id(p.request_id);
    auto* e = f.mutable_estimate();
    e->set_stream_id(st.id());
    e->set_seq(p.seq);
    e->mutable_record()->CopyFrom(record);
    e->clear_measurement();  // (the frame is reused) replies to the owner omit it
    p.owner->send(f);
    if (st.subscribers.empty() && all_subscribers.empty()) return;
    f.set_request_id(0);
    if (record.kind() == proto::EstimateRecord::FILTERED) e->mutable_measurement()->CopyFrom(p.record);
    framed.clear();
    append_message(framed, f, opt.max_frame_bytes);
    auto to = [&](Session* sub) {
      if (sub != st.owner) sub->send_subscription(st.id(), framed, p.seq);
    };
    for (Session* sub : all_subscribers) to(sub);
    for (Session* sub : st.subscribers)
      if (!sub->subscribed_all) to(sub);
  };
  for (std::size_t i : accepted) {
    deliver(batch[i], outputs[i].filtered);
    if (outputs[i].smoothed) deliver(batch[i], *outputs[i].smoothed);
  }
  // Release the slots' streams and sessions; their records keep their storage for reuse.
  for (std::size_t i = 0; i < batch_count; ++i) {
    batch[i].stream.reset();
    batch[i].owner.reset();
  }
  batch_count = 0;
}

// ---------------------------------------------------------------------------------------------
// Streams and sessions going away

void Server::Impl::close_stream(Stream& st, const std::string& reason) {
  if (!st.open) return;
  st.open = false;
  auto keep = streams.at(st.id());
  streams.erase(st.id());
  by_name.erase(st.info.name());
  counters.streams_open = streams.size();
  st.owner->owned.erase(st.id());
  if (st.recording) {
    try {
      st.recording->close();
    } catch (const Error& e) {
      std::cerr << "kalmanscan serve: " << e.what() << "\n";
    }
  }
  const proto::ServerFrame notice = closed_frame(0, st, reason);
  for (Session* sub : st.subscribers) {
    sub->subscriptions.erase(st.id());
    if (sub != st.owner) sub->send(notice);
  }
  for (Session* sub : all_subscribers)
    if (sub != st.owner && !st.subscribers.count(sub)) sub->send(notice);
  st.subscribers.clear();
}

void Server::Impl::on_session_closed(Session& s) {
  const auto owned = s.owned;
  for (std::uint64_t id : owned) close_stream(*streams.at(id), "owner disconnected");
  for (std::uint64_t id : s.subscriptions)
    if (auto it = streams.find(id); it != streams.end()) it->second->subscribers.erase(&s);
  s.subscriptions.clear();
  all_subscribers.erase(&s);
  sessions.erase(&s);
  counters.connections_open = sessions.size();
  if (stopping && sessions.empty()) tick.cancel();
}

// ---------------------------------------------------------------------------------------------
// Public face

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() {
  stop();
  join();
}

std::uint16_t Server::port() const { return impl_->port; }
const ServerOptions& Server::options() const { return impl_->opt; }

void Server::run(bool handle_signals) {
  Impl& m = *impl_;
  if (handle_signals) {
    m.signals.add(SIGINT);
    m.signals.add(SIGTERM);
    m.signals.async_wait([&m](const boost::system::error_code& ec, int) {
      if (!ec) m.begin_shutdown();
    });
  }
  m.accept();
  m.arm_tick();
  m.io.run();
  // Every stream is closed by now: wait until the recordings are written, fsync'ed and closed.
  if (m.writer) m.writer->finish();
}

void Server::start() {
  impl_->thread = std::thread([this] { run(false); });
}

void Server::stop() {
  asio::post(impl_->io, [m = impl_.get()] { m->begin_shutdown(); });
}

void Server::join() {
  if (impl_->thread.joinable()) impl_->thread.join();
}

ServerStats Server::stats() const {
  const auto& c = impl_->counters;
  return {c.connections_accepted, c.connections_open, c.connections_refused, c.streams_open,
          c.measurements_accepted, c.measurements_rejected, c.batches, c.estimates_dropped, c.protocol_errors};
}

}  // namespace kalmanscan::net
