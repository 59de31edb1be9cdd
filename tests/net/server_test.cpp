// End-to-end tests of the stream service on loopback (ports chosen by the OS): estimates against
// the filters library's sequential filter, concurrent clients, a slow subscriber, hostile and
// malformed frames, authentication, limits, idle time, recording (and a recording that cannot be
// created) and graceful shutdown.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/formats/record_file.hpp"
#include "kalmanscan/net/client.hpp"
#include "kalmanscan/net/error.hpp"
#include "kalmanscan/net/protocol.hpp"
#include "kalmanscan/net/server.hpp"
#include "net_test_support.hpp"

namespace kalmanscan::net {
namespace {

using namespace testing;
using namespace std::chrono_literals;

ServerOptions base_options() {
  ServerOptions o;
  o.default_model = std::make_shared<const formats::Model>(cv_spec(), "cv_spec");
  return o;
}

ClientOptions client_options(const Server& s) {
  ClientOptions c;
  c.port = s.port();
  c.timeout = 5000ms;
  return c;
}

filters::BasicTrajectory<double> reference(const std::vector<proto::LogRecord>& records) {
  const filters::Model m = cv_reference_model();
  return filters::kalman_filter<double>(m, to_measurements(m, records), std::nullopt);
}

std::vector<proto::LogRecord> read_recording(const std::filesystem::path& file, bool* truncated = nullptr) {
  formats::RecordReader reader(formats::open_file_source(file), proto::RecordFileHeader::LOG);
  std::vector<proto::LogRecord> out;
  proto::LogRecord r;
  while (reader.next(r)) out.push_back(r);
  if (truncated) *truncated = reader.truncated();
  return out;
}

/// Expects the next frame to be a fatal error with `code`, then the connection to close.
void expect_fatal(Client& c, proto::ErrorCode code) {
  const auto f = c.receive();
  ASSERT_TRUE(f.has_error()) << f.DebugString();
  EXPECT_EQ(f.error().code(), code) << f.error().message();
  EXPECT_TRUE(f.error().fatal());
  EXPECT_THROW(
      for (int i = 0; i < 100; ++i) c.receive(),
      Error);
  EXPECT_FALSE(c.connected());
}

TEST(Server, EstimatesEqualTheSequentialFilterInLockstepAndPipelined) {
  Server server(base_options());
  server.start();
  Client c(client_options(server));
  const auto records = cv_track(300, 21);
  const auto ref = reference(records);

  const auto info = c.open("lockstep");
  EXPECT_EQ(info.state_dim(), 4u);
  EXPECT_EQ(info.state_names_size(), 4);
  for (std::size_t t = 0; t < records.size(); ++t) {
    const auto e = c.update(info.stream_id(), t + 1, records[t]);
    EXPECT_EQ(e.stream_id(), info.stream_id());
    EXPECT_EQ(e.seq(), t + 1);
    expect_matches_filtered(e.record(), ref, t);
  }

  const auto piped = c.open("pipelined");
  for (std::size_t t = 0; t < records.size(); ++t) c.send(piped.stream_id(), t + 1, records[t]);
  c.flush();
  for (std::size_t t = 0; t < records.size(); ++t) {
    const auto f = c.receive();
    ASSERT_TRUE(f.has_estimate()) << f.DebugString();
    EXPECT_EQ(f.estimate().seq(), t + 1);  // in order
    expect_matches_filtered(f.estimate().record(), ref, t);
  }
  const auto closed = c.close(piped.stream_id());
  EXPECT_EQ(closed.measurements(), records.size());
  EXPECT_GE(server.stats().batches, 1u);
  EXPECT_EQ(server.stats().measurements_accepted, 2 * records.size());
}

TEST(Server, OwnModelAndFixedLagSmoothing) {
  Server server(base_options());
  server.start();
  Client c(client_options(server));
  const proto::ModelSpec spec = explicit_spec();
  const auto info = c.open("explicit", &spec, 2);
  EXPECT_EQ(info.smoothing_lag(), 2u);
  const std::vector<proto::LogRecord> records = {record(0, {0.7}, "a", {1.0}), record(1, {0.2, 2.1}, "b"),
                                                 record(2, {1.9}, "a", {-0.5}), record(3, {1.0, 1.4}, "b")};
  const filters::Model m = explicit_reference_model();
  const auto traj = filters::kalman_filter<double>(m, to_measurements(m, records), std::nullopt);
  for (std::size_t t = 0; t < records.size(); ++t) {
    const auto e = c.update(info.stream_id(), t, records[t]);
    expect_matches_filtered(e.record(), traj, t, 1e-10);
    if (t < 2) continue;
    // The smoothed estimate of step t − 2 follows: the RTS smoother over steps 0..t.
    const auto f = c.receive();
    ASSERT_TRUE(f.has_estimate());
    const auto& s = f.estimate().record();
    EXPECT_EQ(s.kind(), proto::EstimateRecord::SMOOTHED);
    ASSERT_EQ(s.step(), t - 2);
    const std::vector<proto::LogRecord> prefix(records.begin(), records.begin() + static_cast<long>(t) + 1);
    const auto meas = to_measurements(m, prefix);
    auto full = filters::kalman_filter<double>(m, meas, std::nullopt);
    filters::rts_smooth<double>(m, meas, full, std::nullopt, false);
    EXPECT_LT(rel_diff(mean_of(s), full.smoothed_mean_at(t - 2)), 1e-10);
    EXPECT_LT(rel_diff(cov_of(s), full.smoothed_cov_at(t - 2)), 1e-10);
  }
}

TEST(Server, ConcurrentClientsAndAnAllSubscriber) {
  Server server(base_options());
  server.start();
  Client watcher(client_options(server));
  watcher.subscribe({}, true);
  constexpr int clients = 4, streams = 3, steps = 150;
  std::vector<std::thread> threads;
  std::vector<std::string> failures(clients);
  for (int k = 0; k < clients; ++k)
    threads.emplace_back([&, k] {
      try {
        Client c(client_options(server));
        std::vector<std::uint64_t> ids;
        std::vector<std::vector<proto::LogRecord>> data;
        for (int s = 0; s < streams; ++s) {
          ids.push_back(c.open("c" + std::to_string(k) + "s" + std::to_string(s)).stream_id());
          data.push_back(cv_track(steps, static_cast<std::uint32_t>(100 * k + s)));
        }
        for (int t = 0; t < steps; ++t)
          for (int s = 0; s < streams; ++s) c.send(ids[s], static_cast<std::uint64_t>(t), data[s][t]);
        c.flush();
        std::vector<int> next(streams, 0);
        for (int i = 0; i < steps * streams; ++i) {
          const auto f = c.receive();
          if (!f.has_estimate()) throw std::runtime_error("unexpected frame " + f.DebugString());
          if (f.estimate().has_measurement()) throw std::runtime_error("a reply carries its measurement back");
          const int s = static_cast<int>(std::find(ids.begin(), ids.end(), f.estimate().stream_id()) - ids.begin());
          if (s == streams || static_cast<int>(f.estimate().seq()) != next[s]++)
            throw std::runtime_error("estimate out of order: " + f.DebugString());
        }
      } catch (const std::exception& e) {
        failures[k] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int k = 0; k < clients; ++k) EXPECT_EQ(failures[k], "") << "client " << k;
  // The watcher saw every stream open (with its model) and every estimate (its queue is large
  // enough), each with the measurement that produced it.
  std::map<std::uint64_t, std::vector<proto::LogRecord>> sent;  // by stream id
  int opened = 0, estimates = 0;
  while (auto f = watcher.poll(500ms)) {
    if (f->has_opened()) {
      ++opened;
      const auto& info = f->opened().stream();
      EXPECT_EQ(info.model().SerializeAsString(), cv_spec().SerializeAsString()) << info.name();
      const int k = info.name()[1] - '0', s = info.name()[3] - '0';  // "c<k>s<s>"
      sent[info.stream_id()] = cv_track(steps, static_cast<std::uint32_t>(100 * k + s));
    }
    if (f->has_estimate()) {
      ++estimates;
      const auto& e = f->estimate();
      ASSERT_TRUE(sent.count(e.stream_id()));
      ASSERT_LT(e.seq(), std::uint64_t(steps));
      EXPECT_EQ(e.measurement().SerializeAsString(), sent[e.stream_id()][e.seq()].SerializeAsString());
    }
    ASSERT_FALSE(f->has_missed());
  }
  EXPECT_EQ(opened, clients * streams);
  EXPECT_EQ(estimates, clients * streams * steps);
}

TEST(Server, ConcurrentClientsGetTheSequentialFilterValues) {
  Server server(base_options());
  server.start();
  constexpr int clients = 3, steps = 200;
  std::vector<std::thread> threads;
  std::vector<double> worst(clients, 0.0);
  std::vector<std::string> failures(clients);
  for (int k = 0; k < clients; ++k)
    threads.emplace_back([&, k] {
      try {
        Client c(client_options(server));
        const auto data = cv_track(steps, static_cast<std::uint32_t>(500 + k));
        const auto ref = reference(data);
        const auto id = c.open("v" + std::to_string(k)).stream_id();
        for (int t = 0; t < steps; ++t) c.send(id, static_cast<std::uint64_t>(t), data[t]);
        for (int t = 0; t < steps; ++t) {
          const auto f = c.receive();
          const auto& e = f.estimate().record();
          worst[k] = std::max({worst[k], rel_diff(mean_of(e), ref.filtered_mean_at(t)),
                               rel_diff(cov_of(e), ref.filtered_cov_at(t))});
        }
      } catch (const std::exception& e) {
        failures[k] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int k = 0; k < clients; ++k) {
    EXPECT_EQ(failures[k], "") << "client " << k;
    EXPECT_LT(worst[k], 1e-12) << "client " << k;
  }
}

TEST(Server, SlowSubscriberIsToldWhatItMissedAndTheOwnerLosesNothing) {
  ServerOptions o = base_options();
  o.send_queue_bytes = 8 * 1024;
  Server server(o);
  server.start();
  Client owner(client_options(server));
  ClientOptions sopt = client_options(server);
  sopt.receive_buffer_bytes = 4096;
  Client slow(sopt);
  const auto id = owner.open("busy").stream_id();
  slow.subscribe({"busy"});
  constexpr std::uint64_t total = 20000;
  const auto data = cv_track(total, 3);
  std::uint64_t owner_got = 0;
  for (std::uint64_t t = 0; t < total; t += 500) {
    for (std::uint64_t i = t; i < std::min(total, t + 500); ++i) owner.send(id, i + 1, data[i]);
    owner.flush();
    for (std::uint64_t i = t; i < std::min(total, t + 500); ++i) {
      const auto f = owner.receive();
      ASSERT_TRUE(f.has_estimate());
      ASSERT_EQ(f.estimate().seq(), i + 1);  // the owner's replies are never dropped
      ++owner_got;
    }
  }
  EXPECT_EQ(owner_got, total);
  owner.ping();  // the drain has run: every subscription frame was queued or dropped

  // Now the subscriber reads: estimates in order, with Missed notices covering each gap exactly.
  std::uint64_t expect_next = 1, received = 0, missed = 0, notices = 0;
  while (expect_next <= total) {
    const auto f = slow.receive();
    if (f.has_missed()) {
      ++notices;
      EXPECT_EQ(f.missed().stream_id(), id);
      EXPECT_EQ(f.missed().first_seq(), expect_next);
      EXPECT_EQ(f.missed().last_seq() - f.missed().first_seq() + 1, f.missed().count());
      missed += f.missed().count();
      expect_next = f.missed().last_seq() + 1;
    } else {
      ASSERT_TRUE(f.has_estimate()) << f.DebugString();
      EXPECT_EQ(f.estimate().seq(), expect_next);
      expect_next = f.estimate().seq() + 1;
      ++received;
    }
  }
  EXPECT_EQ(received + missed, total);
  EXPECT_GT(missed, 0u) << "the subscriber's queue never filled: the test did not exercise dropping";
  EXPECT_GT(notices, 0u);
  EXPECT_EQ(server.stats().estimates_dropped, missed);
}

/// Opens a victim stream and checks, after each attack, that it is still served correctly.
struct Victim {
  Client client;
  std::uint64_t id;
  std::vector<proto::LogRecord> data = cv_track(64, 99);
  filters::BasicTrajectory<double> ref = reference(data);
  std::size_t t = 0;
  explicit Victim(const Server& s) : client(client_options(s)), id(client.open("victim").stream_id()) {}
  void check() {
    ASSERT_LT(t, data.size());
    const auto e = client.update(id, t, data[t]);
    expect_matches_filtered(e.record(), ref, t);
    ++t;
  }
};

TEST(Server, HostileFramesDisconnectOnlyTheirSender) {
  ServerOptions o = base_options();
  o.max_frame_bytes = 4096;
  Server server(o);
  server.start();
  Victim victim(server);
  victim.check();

  auto attack = [&](const std::string& bytes, proto::ErrorCode code, const char* what) {
    SCOPED_TRACE(what);
    Client c(client_options(server));
    c.send_bytes(bytes);
    expect_fatal(c, code);
    victim.check();
  };
  std::string oversized("\x00\x00\x10\x01", 4);  // 4097 > 4096: refused from the header alone
  attack(oversized, proto::ERROR_FRAME_TOO_LARGE, "oversized length");
  attack(std::string("\xff\xff\xff\xff", 4), proto::ERROR_FRAME_TOO_LARGE, "4 GiB length");
  attack(std::string("\x00\x00\x00\x00", 4), proto::ERROR_FRAME_TOO_LARGE, "zero length");
  std::string garbage;
  append_frame(garbage, std::string("\xde\xad\xbe\xef\xff\xff\xff", 7));
  attack(garbage, proto::ERROR_MALFORMED_FRAME, "payload is not a ClientFrame");
  std::string bodiless;
  append_frame(bodiless, std::string("\x08\x05", 2));  // request_id = 5 and nothing else
  attack(bodiless, proto::ERROR_MALFORMED_FRAME, "no body");
  {
    // Random bytes: whatever they announce, the sender alone is disconnected.
    std::mt19937 rng(5);
    for (int trial = 0; trial < 20; ++trial) {
      std::string junk(64 + rng() % 512, '\0');
      for (auto& ch : junk) ch = static_cast<char>(rng());
      Client c(client_options(server));
      c.send_bytes(junk);
      try {
        for (int i = 0; i < 100; ++i) c.receive(2000ms);
      } catch (const Error&) {
      }
      victim.check();
    }
  }
  {
    // A truncated frame, then the sender goes away mid-frame.
    std::string wire;
    proto::ClientFrame f;
    f.mutable_ping();
    append_message(wire, f, 4096);
    auto c = std::make_unique<Client>(client_options(server));
    c->send_bytes(wire.substr(0, wire.size() - 1));
    c->flush();
    c.reset();
    victim.check();
  }
  EXPECT_EQ(server.stats().connections_open, 1u);
}

TEST(Server, InvalidRequestsGetAnErrorAndTheConnectionStays) {
  Server server(base_options());
  server.start();
  Victim victim(server);
  Client c(client_options(server));
  const auto id = c.open("mine").stream_id();
  const double inf = std::numeric_limits<double>::infinity();

  auto expect_error = [&](std::uint64_t req, proto::ErrorCode code, const std::string& mentions) {
    try {
      c.await(req);
      ADD_FAILURE() << "no error for request " << req;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(mentions), std::string::npos) << e.what();
    }
    c.ping();  // still connected
    victim.check();
  };
  expect_error(c.send(id, 1, record(0, {1.0})), proto::ERROR_INVALID_ARGUMENT, "values");
  expect_error(c.send(id, 2, record(0, {1.0, inf})), proto::ERROR_INVALID_ARGUMENT, "values[1]");
  expect_error(c.send(id, 3, record(inf, {1.0, 2.0})), proto::ERROR_INVALID_ARGUMENT, "timestamp");
  expect_error(c.send(12345, 4, record(0, {1.0, 2.0})), proto::ERROR_UNKNOWN_STREAM, "12345");
  expect_error(c.send(victim.id, 5, record(0, {1.0, 2.0})), proto::ERROR_NOT_OWNER, "another connection");
  c.update(id, 6, record(5, {1.0, 2.0}));
  expect_error(c.send(id, 7, record(4, {1.0, 2.0})), proto::ERROR_OUT_OF_ORDER, "earlier");

  proto::ClientFrame open;
  open.mutable_open()->set_name("../escape");
  expect_error(c.send_frame(open), proto::ERROR_INVALID_ARGUMENT, "name");
  open.mutable_open()->set_name("victim");
  expect_error(c.send_frame(open), proto::ERROR_STREAM_EXISTS, "victim");
  open.mutable_open()->set_name("badmodel");
  proto::ModelSpec bad = cv_spec();
  bad.mutable_sensors(0)->mutable_r()->set_data(0, -1.0);  // R not positive definite
  *open.mutable_open()->mutable_model() = bad;
  expect_error(c.send_frame(open), proto::ERROR_INVALID_ARGUMENT, "sensors[0].R");
  open.mutable_open()->clear_model();
  open.mutable_open()->set_smoothing_lag(100000);
  expect_error(c.send_frame(open), proto::ERROR_INVALID_ARGUMENT, "smoothing_lag");
  proto::ClientFrame sub;
  sub.mutable_subscribe()->add_names("nobody");
  expect_error(c.send_frame(sub), proto::ERROR_UNKNOWN_STREAM, "nobody");
  proto::ClientFrame close;
  close.mutable_close()->set_stream_id(victim.id);
  expect_error(c.send_frame(close), proto::ERROR_NOT_OWNER, "another connection");
  // The accepted measurement is the only one the stream counted.
  EXPECT_EQ(c.close(id).measurements(), 1u);
}

TEST(Server, TokenAuthentication) {
  ServerOptions o = base_options();
  o.token = "s3cret";
  Server server(o);
  server.start();
  {
    ClientOptions co = client_options(server);
    co.hello = false;
    Client c(co);
    proto::ClientFrame f;
    f.mutable_open()->set_name("sneaky");
    c.send_frame(f);
    c.flush();
    expect_fatal(c, proto::ERROR_UNAUTHENTICATED);
  }
  {
    ClientOptions co = client_options(server);
    co.token = "guess";
    try {
      Client c(co);
      ADD_FAILURE() << "wrong token accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), proto::ERROR_UNAUTHENTICATED);
    }
  }
  ClientOptions co = client_options(server);
  co.token = "s3cret";
  Client c(co);
  const auto id = c.open("ok").stream_id();
  EXPECT_NO_THROW(c.update(id, 1, record(0, {1, 2})));
  EXPECT_EQ(server.stats().streams_open, 1u);
}

TEST(Server, StreamAndConnectionLimits) {
  ServerOptions o = base_options();
  o.max_streams_per_connection = 2;
  o.max_streams_total = 3;
  o.max_connections = 2;
  Server server(o);
  server.start();
  Client a(client_options(server)), b(client_options(server));
  a.open("a1");
  a.open("a2");
  auto expect_limit = [](auto&& fn) {
    try {
      fn();
      ADD_FAILURE() << "limit not enforced";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), proto::ERROR_LIMIT_EXCEEDED) << e.what();
    }
  };
  expect_limit([&] { a.open("a3"); });
  b.open("b1");
  expect_limit([&] { b.open("b2"); });  // total
  {
    ClientOptions co = client_options(server);
    co.hello = false;
    Client third(co);
    expect_fatal(third, proto::ERROR_LIMIT_EXCEEDED);
  }
  EXPECT_EQ(server.stats().connections_refused, 1u);
  a.ping();
  b.ping();
}

TEST(Server, IdleConnectionsAreClosedPingingOnesStay) {
  ServerOptions o = base_options();
  o.idle_timeout = 300ms;
  Server server(o);
  server.start();
  Client idle(client_options(server)), busy(client_options(server));
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(100ms);
    busy.ping();
  }
  expect_fatal(idle, proto::ERROR_IDLE_TIMEOUT);
  busy.ping();
}

TEST(Server, RecordingIsTheLogOfAcceptedMeasurementsAndShutdownFlushesIt) {
  TempDir dir;
  ServerOptions o = base_options();
  o.record_dir = dir.path;
  auto server = std::make_unique<Server>(o);
  server->start();
  Client c(client_options(*server));
  Client sub(client_options(*server));
  const auto records = cv_track(120, 8);
  const auto id = c.open("rec").stream_id();
  sub.subscribe({"rec"});
  std::vector<proto::EstimateRecord> sent;
  for (std::size_t t = 0; t < records.size(); ++t) {
    sent.push_back(c.update(id, t, records[t]).record());
    if (t == 50) {
      EXPECT_THROW(c.update(id, 999, record(0.0, {1, 2})), Error);  // late: not recorded
    }
  }
  server->stop();
  server->join();
  // Everyone is told, and the connection ends.
  expect_fatal(c, proto::ERROR_SHUTTING_DOWN);
  int closed_notices = 0;
  try {
    for (;;)
      if (sub.receive().has_closed()) ++closed_notices;
  } catch (const Error&) {
  }
  EXPECT_EQ(closed_notices, 1);

  const auto file = dir.path / ("rec." + std::to_string(id) + ".ksrec");
  bool truncated = true;
  const auto back = read_recording(file, &truncated);
  EXPECT_FALSE(truncated);
  ASSERT_EQ(back.size(), records.size());
  for (std::size_t t = 0; t < records.size(); ++t) EXPECT_EQ(back[t].SerializeAsString(), records[t].SerializeAsString());
  // The recording filtered offline with its own model spec gives the values the service sent.
  const formats::Model model(formats::read_model_spec(dir.path / ("rec." + std::to_string(id) + ".model.json")), "m");
  EXPECT_EQ(model.spec().SerializeAsString(), cv_spec().SerializeAsString());
  const auto ref = reference(back);
  for (std::size_t t = 0; t < sent.size(); ++t) expect_matches_filtered(sent[t], ref, t);
}

TEST(Server, ARecordingThatCannotBeCreatedRefusesTheOpenAndTouchesNoFile) {
  TempDir dir;
  ServerOptions o = base_options();
  o.record_dir = dir.path;
  Server server(o);
  server.start();
  // The first stream gets id 1: its record file and model file are already there.
  for (const char* f : {"taken.1.ksrec", "taken.1.model.json"}) std::ofstream(dir.path / f) << "precious";
  Client c(client_options(server));
  try {
    c.open("taken");
    FAIL() << "open succeeded over an existing recording";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), proto::ERROR_RECORDING) << e.what();
    EXPECT_NE(std::string(e.what()).find((dir.path / "taken.1.ksrec").string()), std::string::npos) << e.what();
  }
  for (const char* f : {"taken.1.ksrec", "taken.1.model.json"}) {
    std::ifstream in(dir.path / f);
    std::string content;
    std::getline(in, content);
    EXPECT_EQ(content, "precious") << f;
  }
  // The connection stays, and the next stream records.
  const auto records = cv_track(10, 4);
  const auto id = c.open("next").stream_id();
  for (std::size_t t = 0; t < records.size(); ++t) c.update(id, t, records[t]);
  c.close(id);
  server.stop();
  server.join();
  const auto back = read_recording(dir.path / ("next." + std::to_string(id) + ".ksrec"));
  ASSERT_EQ(back.size(), records.size());
  for (std::size_t t = 0; t < records.size(); ++t) EXPECT_EQ(back[t].SerializeAsString(), records[t].SerializeAsString());
}

}  // namespace
}  // namespace kalmanscan::net
