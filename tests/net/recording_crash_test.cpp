// A recording server in a child process, ended by a signal:
//  - kill -9: the recording is the accepted measurements in order, cut after at most the writer's
//    queue bound of answered ones (recording.hpp), it is written without any flush being asked
//    for, it reads back (also when cut inside a record) and, filtered offline by the library and
//    by the real `kalmanscan smooth`, reproduces the estimates the service sent;
//  - SIGTERM / SIGINT: the server tells its clients it is shutting down, flushes every recording
//    (including measurements sent but not yet answered) and exits normally.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "kalmanscan/formats/record_file.hpp"
#include "kalmanscan/net/client.hpp"
#include "kalmanscan/net/error.hpp"
#include "kalmanscan/net/server.hpp"
#include "net_test_support.hpp"

namespace kalmanscan::net {
namespace {

using namespace testing;
using namespace std::chrono_literals;

std::vector<proto::LogRecord> read_all(const std::filesystem::path& file, bool& truncated) {
  formats::RecordReader reader(formats::open_file_source(file), proto::RecordFileHeader::LOG);
  std::vector<proto::LogRecord> out;
  proto::LogRecord r;
  while (reader.next(r)) out.push_back(r);
  truncated = reader.truncated();
  return out;
}

/// A recording server running in a forked child (run() with the signal handlers installed).
struct ServerProcess {
  pid_t pid = -1;
  std::uint16_t port = 0;
};

ServerProcess start_server_process(const std::filesystem::path& dir, std::size_t record_queue_bytes = 1u << 20) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child == 0) {
    // The server process: records, reports its port, serves until a signal ends it.
    ::close(fds[0]);
    try {
      ServerOptions o;
      o.default_model = std::make_shared<const formats::Model>(cv_spec(), "cv_spec");
      o.record_dir = dir;
      o.record_queue_bytes = record_queue_bytes;
      Server server(o);
      const std::uint16_t port = server.port();
      if (::write(fds[1], &port, sizeof port) != sizeof port) ::_exit(3);
      server.run(true);
    } catch (...) {
      ::_exit(2);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  ServerProcess sp{child, 0};
  pollfd p{fds[0], POLLIN, 0};
  const bool started = ::poll(&p, 1, 10000) == 1 && ::read(fds[0], &sp.port, sizeof sp.port) == sizeof sp.port;
  ::close(fds[0]);
  if (!started) {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    throw std::runtime_error("the server process did not start");
  }
  return sp;
}

std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(RecordingCrash, KillDashNineLosesAtMostTheWritersQueueOfAnsweredMeasurements) {
  const auto dir = fresh_dir("kalmanscan_net_crash");
  constexpr std::size_t queue_bound = 256;  // bytes: a handful of records
  const ServerProcess server = start_server_process(dir, queue_bound);
  const pid_t child = server.pid;
  const std::uint16_t port = server.port;

  const auto records = cv_track(400, 77);
  constexpr std::size_t written = 200, answered = 300;
  std::vector<proto::EstimateRecord> sent;
  std::uint64_t id = 0;
  std::filesystem::path file;
  bool truncated = true;
  {
    ClientOptions co;
    co.port = port;
    co.timeout = 5000ms;
    Client c(co);
    id = c.open("crash").stream_id();
    file = dir / ("crash." + std::to_string(id) + ".ksrec");
    for (std::size_t t = 0; t < written; ++t) sent.push_back(c.update(id, t, records[t]).record());
    // The writer thread writes on its own (no timer, no flush request): the file catches up.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (read_all(file, truncated).size() < written && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
    ASSERT_EQ(read_all(file, truncated).size(), written) << "the answered records were not written within 10 s";
    for (std::size_t t = written; t < answered; ++t) sent.push_back(c.update(id, t, records[t]).record());
    // More in flight, unanswered, when the server dies.
    for (std::size_t t = answered; t < records.size(); ++t) c.send(id, t, records[t]);
    c.flush();
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  }

  const auto back = read_all(file, truncated);
  // The recording is the records in order, cut somewhere; of the answered ones it lost at most
  // the writer's queue bound.
  ASSERT_GE(back.size(), written);
  ASSERT_LE(back.size(), records.size());
  for (std::size_t t = 0; t < back.size(); ++t)
    ASSERT_EQ(back[t].SerializeAsString(), records[t].SerializeAsString()) << "record " << t;
  std::size_t lost_bytes = 0;
  for (std::size_t t = back.size(); t < answered; ++t) lost_bytes += records[t].ByteSizeLong();
  EXPECT_LE(lost_bytes, queue_bound) << answered - back.size() << " answered records lost";
  const std::size_t compared = std::min(back.size(), answered);

  // Smoothing the recording offline gives the filtered values the service sent.
  const filters::Model m = cv_reference_model();
  const auto ref = filters::kalman_filter<double>(m, to_measurements(m, back), std::nullopt);
  for (std::size_t t = 0; t < compared; ++t) expect_matches_filtered(sent[t], ref, t);

  // And so does the real `kalmanscan smooth` on the recording and the model file beside it.
  const auto smoothed = dir / "smoothed.ksrec";
  const std::string command = std::string(KALMANSCAN_CLI) + " smooth -q --filter-only --backend sequential" +
                              " --covariance full --format records --model " +
                              (dir / ("crash." + std::to_string(id) + ".model.json")).string() + " --input " +
                              file.string() + " --output " + smoothed.string();
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  formats::RecordReader estimates(formats::open_file_source(smoothed), proto::RecordFileHeader::ESTIMATES);
  proto::EstimateRecord e;
  std::size_t n = 0;
  for (; estimates.next(e); ++n) {
    if (n >= compared) continue;
    ASSERT_EQ(e.step(), sent[n].step());
    EXPECT_LT(rel_diff(mean_of(e), mean_of(sent[n])), 1e-12) << "step " << n;
    EXPECT_LT(rel_diff(cov_of(e), cov_of(sent[n])), 1e-12) << "step " << n;
  }
  EXPECT_EQ(n, back.size());

  // A copy cut inside its last record reads up to the last whole one and says so.
  const auto cut = dir / "cut.ksrec";
  std::filesystem::copy_file(file, cut);
  std::filesystem::resize_file(cut, std::filesystem::file_size(file) - 3);
  const auto partial = read_all(cut, truncated);
  EXPECT_TRUE(truncated);
  EXPECT_EQ(partial.size(), back.size() - 1);
  std::filesystem::remove_all(dir);
}

/// Ends a recording server with `signal` while measurements are in flight.
void expect_graceful_shutdown_on(int signal) {
  const auto dir = fresh_dir("kalmanscan_net_signal_" + std::to_string(signal));
  const ServerProcess server = start_server_process(dir);
  const auto records = cv_track(200, 5);
  ClientOptions co;
  co.port = server.port;
  co.timeout = 5000ms;
  Client c(co);
  const std::uint64_t id = c.open("sig").stream_id();
  for (std::size_t t = 0; t < 100; ++t) c.update(id, t, records[t]);
  for (std::size_t t = 100; t < records.size(); ++t) c.send(id, t, records[t]);
  c.flush();
  // Every queued measurement has been answered before the signal (so all of them are accepted).
  std::size_t estimates = 100;
  while (estimates < records.size()) {
    const auto f = c.receive();
    ASSERT_TRUE(f.has_estimate()) << f.DebugString();
    ++estimates;
  }
  ASSERT_EQ(::kill(server.pid, signal), 0);
  // The client is told, then disconnected.
  bool told = false;
  try {
    for (;;) {
      const auto f = c.receive();
      if (f.has_error() && f.error().code() == proto::ERROR_SHUTTING_DOWN) told = true;
    }
  } catch (const Error&) {
  }
  EXPECT_TRUE(told);
  int status = 0;
  ASSERT_EQ(::waitpid(server.pid, &status, 0), server.pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "signal " << signal << ": status " << status;
  // The recording holds every accepted measurement, whole (flushed and closed on shutdown).
  bool truncated = true;
  const auto back = read_all(dir / ("sig." + std::to_string(id) + ".ksrec"), truncated);
  EXPECT_FALSE(truncated);
  ASSERT_EQ(back.size(), records.size());
  for (std::size_t t = 0; t < back.size(); ++t)
    ASSERT_EQ(back[t].SerializeAsString(), records[t].SerializeAsString()) << "record " << t;
  std::filesystem::remove_all(dir);
}

TEST(RecordingCrash, SigtermAndSigintShutDownGracefullyAndFlushRecordings) {
  expect_graceful_shutdown_on(SIGTERM);
  expect_graceful_shutdown_on(SIGINT);
}

}  // namespace
}  // namespace kalmanscan::net
