// The command-line tools on loopback:
//  - `kalmanscan serve` (the real program, with a token file and recording) announces its port,
//    serves the library's filter values, and on SIGTERM exits 0 with its recording whole;
//  - `kalmanscan send` (the real program) streams a record log and prints, one CSV row per step,
//    the library's sequential filter of that log (means, full covariance, NIS);
//  - it fails with a message naming the address when nothing listens there;
//  - `kalmanscan load` against it reports its numbers without errors;
//  - the load generator behind `kalmanscan load` (run_load) gets every measurement it sent in its
//    window answered without error, closed loop and open loop, and its percentiles are ordered.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/formats/record_file.hpp"
#include "kalmanscan/net/client.hpp"
#include "kalmanscan/net/error.hpp"
#include "kalmanscan/net/load.hpp"
#include "kalmanscan/net/server.hpp"
#include "net_test_support.hpp"

namespace kalmanscan::net {
namespace {

using namespace testing;

ServerOptions cv_server() {
  ServerOptions o;
  o.default_model = std::make_shared<const formats::Model>(cv_spec(), "cv_spec");
  return o;
}

/// Runs a shell command; returns its exit status (-1 when it did not exit normally).
int run(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The rows of a numeric CSV file with a header line (empty cells read as NaN).
std::vector<std::vector<double>> read_csv(const std::filesystem::path& p, std::string& header) {
  std::ifstream in(p);
  std::getline(in, header);
  std::vector<std::vector<double>> rows;
  for (std::string line; std::getline(in, line);) {
    std::vector<double> row;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) row.push_back(cell.empty() ? NAN : std::stod(cell));
    rows.push_back(std::move(row));
  }
  return rows;
}

/// A child process running `kalmanscan serve ARGS…` with its stderr on a pipe.
struct ServeProcess {
  pid_t pid = -1;
  int err = -1;  ///< read end of the child's stderr
  std::string stderr_text;

  explicit ServeProcess(const std::vector<std::string>& args) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::dup2(fds[1], 2);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv{const_cast<char*>(KALMANSCAN_CLI), const_cast<char*>("serve")};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(KALMANSCAN_CLI, argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    err = fds[0];
  }
  ~ServeProcess() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (err >= 0) ::close(err);
  }
  /// Reads stderr until it contains `text` (10 s at most, or the end of the stream).
  bool read_until(const std::string& text) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (stderr_text.find(text) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{err, POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      char buf[4096];
      const ssize_t n = ::read(err, buf, sizeof buf);
      if (n <= 0) break;
      stderr_text.append(buf, static_cast<std::size_t>(n));
    }
    return stderr_text.find(text) != std::string::npos;
  }
  /// Sends `signal` and returns the exit status (-1 when it did not exit normally).
  int stop(int signal) {
    ::kill(pid, signal);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
    read_until("\x01");  // the rest of stderr, to its end
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
};

TEST(Tools, ServeAnnouncesItsPortFiltersAndStopsCleanlyOnSigterm) {
  TempDir dir;
  { std::ofstream(dir.path / "model.json") << formats::format_model_spec(cv_spec(), formats::SpecSyntax::json); }
  { std::ofstream(dir.path / "token") << "s3cret\n"; }
  std::filesystem::create_directories(dir.path / "rec");
  ServeProcess serve({"--listen", "127.0.0.1:0", "--model", (dir.path / "model.json").string(), "--record",
                      (dir.path / "rec").string(), "--token-file", (dir.path / "token").string()});
  const std::string announce = "listening on 127.0.0.1:";
  ASSERT_TRUE(serve.read_until(" (token required)")) << serve.stderr_text;
  const auto at = serve.stderr_text.find(announce) + announce.size();
  const int port = std::stoi(serve.stderr_text.substr(at));
  ASSERT_GT(port, 0) << serve.stderr_text;

  ClientOptions co;
  co.port = static_cast<std::uint16_t>(port);
  co.token = "s3cret";
  Client c(co);
  const auto records = cv_track(40, 9);
  const auto id = c.open("cli").stream_id();
  const filters::Model m = cv_reference_model();
  const auto ref = filters::kalman_filter<double>(m, to_measurements(m, records), std::nullopt);
  for (std::size_t t = 0; t < records.size(); ++t) expect_matches_filtered(c.update(id, t, records[t]).record(), ref, t);

  EXPECT_EQ(serve.stop(SIGTERM), 0) << serve.stderr_text;
  EXPECT_NE(serve.stderr_text.find("40 measurements accepted"), std::string::npos) << serve.stderr_text;
  formats::RecordReader reader(formats::open_file_source(dir.path / "rec" / ("cli." + std::to_string(id) + ".ksrec")),
                               proto::RecordFileHeader::LOG);
  proto::LogRecord r;
  std::size_t n = 0;
  while (reader.next(r)) ASSERT_EQ(r.SerializeAsString(), records.at(n++).SerializeAsString());
  EXPECT_EQ(n, records.size());
  EXPECT_FALSE(reader.truncated());
}

TEST(Tools, LoadCommandReportsThroughputAndPercentilesWithoutErrors) {
  TempDir dir;
  { std::ofstream(dir.path / "model.json") << formats::format_model_spec(cv_spec(), formats::SpecSyntax::json); }
  ServeProcess serve({"--listen", "127.0.0.1:0", "--model", (dir.path / "model.json").string()});
  const std::string announce = "listening on 127.0.0.1:";
  ASSERT_TRUE(serve.read_until("\n")) << serve.stderr_text;
  const int port = std::stoi(serve.stderr_text.substr(serve.stderr_text.find(announce) + announce.size()));
  const auto out = dir.path / "load.txt";
  const std::string command = std::string(KALMANSCAN_CLI) + " load --connect 127.0.0.1:" + std::to_string(port) +
                              " --connections 2 --streams 3 --duration 0.3 --warmup 0.05 > " + out.string();
  ASSERT_EQ(run(command), 0) << command << "\n" << slurp(out);
  const std::string report = slurp(out);
  for (const char* field : {"connections 2 streams 6 rate max", " errors 0 ", "throughput ", "latency p50 "})
    EXPECT_NE(report.find(field), std::string::npos) << field << " not in\n" << report;
  EXPECT_EQ(serve.stop(SIGINT), 0) << serve.stderr_text;
}

TEST(Tools, SendPrintsTheSequentialFilterOfTheLog) {
  TempDir dir;
  const auto records = cv_track(150, 21);
  {
    std::ofstream log(dir.path / "log.ksrec", std::ios::binary);
    formats::RecordWriter w(log, proto::RecordFileHeader::LOG, "tools_test");
    for (const auto& r : records) w.write(r);
  }
  { std::ofstream(dir.path / "model.json") << formats::format_model_spec(cv_spec(), formats::SpecSyntax::json); }
  Server server(cv_server());
  server.start();
  const auto out = dir.path / "estimates.csv";
  const std::string command = std::string(KALMANSCAN_CLI) + " send -q --connect 127.0.0.1:" +
                              std::to_string(server.port()) + " --model " + (dir.path / "model.json").string() +
                              " --input " + (dir.path / "log.ksrec").string() + " --covariance full --window 16" +
                              " --output " + out.string();
  ASSERT_EQ(run(command), 0) << command;

  std::string header;
  const auto rows = read_csv(out, header);
  // step, t, 4 means, 4 std_, 10 cov_ (upper triangle), nis, nis_dof.
  ASSERT_EQ(header.rfind("step,t,", 0), 0u) << header;
  ASSERT_EQ(rows.size(), records.size());
  const filters::Model m = cv_reference_model();
  const auto ref = filters::kalman_filter<double>(m, to_measurements(m, records), std::nullopt);
  for (std::size_t t = 0; t < rows.size(); ++t) {
    const auto& row = rows[t];
    ASSERT_EQ(row.size(), 2u + 4 + 4 + 10 + 2) << "row " << t;
    EXPECT_EQ(row[0], double(t));
    EXPECT_EQ(row[1], records[t].timestamp());
    const Eigen::Map<const Eigen::Vector4d> mean(row.data() + 2);
    EXPECT_LT(rel_diff(mean, ref.filtered_mean_at(t)), 1e-12) << "step " << t;
    Eigen::Matrix4d cov;
    for (int i = 0, k = 0; i < 4; ++i)
      for (int j = i; j < 4; ++j, ++k) cov(i, j) = cov(j, i) = row[10 + k];
    EXPECT_LT(rel_diff(cov, ref.filtered_cov_at(t)), 1e-12) << "step " << t;
    EXPECT_NEAR(row[20], ref.nis[t], 1e-12 * std::max(1.0, ref.nis[t])) << "step " << t;
    EXPECT_EQ(row[21], ref.nis_dof[t]) << "step " << t;
  }
  EXPECT_EQ(server.stats().measurements_accepted, records.size());
}

TEST(Tools, SendWithoutAServerFailsNamingTheAddress) {
  TempDir dir;
  { std::ofstream(dir.path / "model.json") << formats::format_model_spec(cv_spec(), formats::SpecSyntax::json); }
  { std::ofstream(dir.path / "log.csv") << "t,px,py\n0,1,2\n"; }
  // A port nothing listens on: bind one, then close it.
  std::uint16_t port = 0;
  {
    Server s(cv_server());
    port = s.port();
  }
  const auto err = dir.path / "stderr.txt";
  const std::string command = std::string(KALMANSCAN_CLI) + " send --connect 127.0.0.1:" + std::to_string(port) +
                              " --model " + (dir.path / "model.json").string() + " --input " +
                              (dir.path / "log.csv").string() + " --output none 2> " + err.string();
  EXPECT_NE(run(command), 0) << command;
  const std::string message = slurp(err);
  EXPECT_NE(message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << message;
}

TEST(Tools, LoadGeneratorGetsEverythingAnsweredClosedAndOpenLoop) {
  Server server(cv_server());
  server.start();
  for (double rate : {0.0, 2000.0}) {
    LoadOptions lo;
    lo.port = server.port();
    lo.connections = 3;
    lo.streams_per_connection = 4;
    lo.rate = rate;
    lo.window = 8;
    lo.duration = std::chrono::milliseconds(300);
    lo.warmup = std::chrono::milliseconds(50);
    lo.stream_prefix = rate > 0 ? "open" : "closed";
    const LoadResult r = run_load(lo);
    EXPECT_EQ(r.errors, 0u) << "rate " << rate;
    EXPECT_GT(r.sent, 0u) << "rate " << rate;
    EXPECT_EQ(r.answered, r.sent) << "rate " << rate;
    EXPECT_LE(r.p50_us, r.p99_us);
    EXPECT_LE(r.p99_us, r.max_us);
    EXPECT_GT(r.p50_us, 0.0);
  }
  // Each run opened its 12 streams; the generator's disconnection closed them.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (server.stats().streams_open != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(server.stats().streams_open, 0u);
  EXPECT_EQ(server.stats().measurements_rejected, 0u);
}

TEST(Tools, LoadGeneratorRefusesBadOptionsNamingThem) {
  LoadOptions lo;
  lo.connections = 0;
  EXPECT_THROW(
      {
        try {
          run_load(lo);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("connections"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);
  lo.connections = 1;
  lo.rate = -5;
  EXPECT_THROW(run_load(lo), Error);
}

}  // namespace
}  // namespace kalmanscan::net
