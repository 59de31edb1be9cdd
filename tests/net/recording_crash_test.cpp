// kill -9 of a recording server: every measurement that was answered is in the recording, the
// recording reads back (also when cut inside a record) and, filtered offline, reproduces the
// estimates the service sent.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "kalmanscan/formats/record_file.hpp"
#include "kalmanscan/net/client.hpp"
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

TEST(RecordingCrash, KillDashNineLosesNoAnsweredMeasurement) {
  const auto dir = std::filesystem::temp_directory_path() / ("kalmanscan_net_crash_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The server process: records, reports its port, serves until killed.
    ::close(fds[0]);
    try {
      ServerOptions o;
      o.default_model = std::make_shared<const formats::Model>(cv_spec(), "cv_spec");
      o.record_dir = dir;
      Server server(o);
      const std::uint16_t port = server.port();
      if (::write(fds[1], &port, sizeof port) != sizeof port) ::_exit(3);
      server.run();
    } catch (...) {
      ::_exit(2);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::uint16_t port = 0;
  pollfd p{fds[0], POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1) << "the server process did not start";
  ASSERT_EQ(::read(fds[0], &port, sizeof port), static_cast<ssize_t>(sizeof port));
  ::close(fds[0]);

  const auto records = cv_track(400, 77);
  constexpr std::size_t answered = 300;
  std::vector<proto::EstimateRecord> sent;
  std::uint64_t id = 0;
  {
    ClientOptions co;
    co.port = port;
    co.timeout = 5000ms;
    Client c(co);
    id = c.open("crash").stream_id();
    for (std::size_t t = 0; t < answered; ++t) sent.push_back(c.update(id, t, records[t]).record());
    // More in flight, unanswered, when the server dies.
    for (std::size_t t = answered; t < records.size(); ++t) c.send(id, t, records[t]);
    c.flush();
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  }

  const auto file = dir / ("crash." + std::to_string(id) + ".ksrec");
  bool truncated = true;
  const auto back = read_all(file, truncated);
  // Nothing answered was lost; whatever else made it is the records that followed, in order.
  ASSERT_GE(back.size(), answered);
  ASSERT_LE(back.size(), records.size());
  for (std::size_t t = 0; t < back.size(); ++t)
    ASSERT_EQ(back[t].SerializeAsString(), records[t].SerializeAsString()) << "record " << t;

  // Smoothing the recording offline gives the filtered values the service sent.
  const filters::Model m = cv_reference_model();
  const auto ref = filters::kalman_filter<double>(m, to_measurements(m, back), std::nullopt);
  for (std::size_t t = 0; t < answered; ++t) expect_matches_filtered(sent[t], ref, t);

  // A copy cut inside its last record reads up to the last whole one and says so.
  const auto cut = dir / "cut.ksrec";
  std::filesystem::copy_file(file, cut);
  std::filesystem::resize_file(cut, std::filesystem::file_size(file) - 3);
  const auto partial = read_all(cut, truncated);
  EXPECT_TRUE(truncated);
  EXPECT_EQ(partial.size(), back.size() - 1);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kalmanscan::net
