// Logs are streamed, not loaded: the readers pull bytes from their source a block at a time,
// `kalmanscan smooth` runs in memory bounded by the chunk size whatever the log's length
// (measured as the peak resident set of the real executable), and a terminal gets a progress bar.
#include <fcntl.h>
#include <pty.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "kalmanscan/cli/vehicle_sim.hpp"
#include "kalmanscan/estimate.pb.h"
#include "kalmanscan/formats/csv_reader.hpp"
#include "kalmanscan/formats/record_file.hpp"
#include "kalmanscan/formats/writers.hpp"
#include "small_log.hpp"
#include "test_util.hpp"

extern char** environ;

namespace kalmanscan::testing {
namespace {

/// A source that counts the bytes readers have pulled from it.
class CountingSource final : public formats::ByteSource {
 public:
  explicit CountingSource(std::string_view bytes) : inner_(formats::memory_source(bytes, "log")) {}
  std::size_t read(char* buf, std::size_t n) override {
    const std::size_t got = inner_->read(buf, n);
    pulled_ += got;
    return got;
  }
  std::uint64_t size() const override { return inner_->size(); }
  const std::string& name() const override { return inner_->name(); }
  std::uint64_t pulled() const { return pulled_; }

 private:
  std::unique_ptr<formats::ByteSource> inner_;
  std::uint64_t pulled_ = 0;
};

/// The demo's vehicle log of `steps` steps as CSV and as a record file.
std::pair<std::string, std::string> vehicle_logs(std::size_t steps, const formats::Model& model) {
  cli::VehicleSimOptions o;
  o.steps = steps;
  std::ostringstream csv, rec;
  formats::CsvLogWriter cw(csv, model);
  formats::RecordWriter rw(rec, proto::RecordFileHeader::LOG, "test");
  cli::VehicleSim::for_each_row(o, [&](const proto::LogRecord& r) { cw.write(r), rw.write(r); });
  return {csv.str(), rec.str()};
}

TEST(Streaming, ReadersHoldOneBlockOfTheLogAtATime) {
  const formats::Model model(cli::VehicleSim::model_spec({}), "vehicle");
  const auto [csv, rec] = vehicle_logs(20000, model);
  ASSERT_GT(csv.size(), 500000u);
  ASSERT_GT(rec.size(), 500000u);
  struct Case {
    const char* name;
    const std::string& bytes;
    std::size_t held;  ///< the most a reader may have pulled but not consumed
  };
  constexpr std::size_t csv_block = 4096;
  for (const Case& c : {Case{"csv", csv, csv_block}, Case{"records", rec, (std::size_t(1) << 16) + 8}}) {
    auto owned = std::make_unique<CountingSource>(c.bytes);
    CountingSource* source = owned.get();
    std::unique_ptr<formats::LogReader> reader;
    if (c.name == std::string("csv")) reader = std::make_unique<formats::CsvReader>(std::move(owned), model, csv_block);
    else reader = formats::open_log(std::move(owned), model);
    formats::StepBlock block;
    std::size_t steps = 0;
    while (reader->read(block, 100)) {
      steps += block.size();
      const std::uint64_t consumed = reader->stats().bytes;
      ASSERT_LE(source->pulled(), consumed + c.held) << c.name << " after " << steps << " steps";
    }
    EXPECT_EQ(steps, 20000u) << c.name;
    EXPECT_EQ(source->pulled(), c.bytes.size()) << c.name;
  }
}

/// Runs the kalmanscan executable with `args` (stdout and stderr to /dev/null) and returns its
/// exit status. A separate process, so that it measures its own peak memory (the summary's
/// peak_resident_bytes is the address space's VmHWM, which starts afresh at exec).
int run_executable(const std::vector<std::string>& args) {
  std::vector<std::string> all = {KALMANSCAN_CLI_PATH};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("posix_spawn failed");
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) throw std::runtime_error("waitpid failed");
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// One long log for the tests below, written once (~10 MB of CSV, ~100 000 steps).
class LongLog : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    const SmallLog small = make_small_log(10000, 21), big = make_small_log(100000, 22);
    write_file(*dir_ / "model.json", big.model_json);
    write_file(*dir_ / "small.csv", small.csv);
    write_file(*dir_ / "big.csv", big.csv);
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string path(const char* name) { return (*dir_ / name).string(); }
  static std::vector<std::string> smooth_args(const char* log, const char* out) {
    return {"smooth", "-m", path("model.json"), "-i", path(log), "-o", path(out), "--covariance", "full",
            "--backend", "sequential", "--temp-dir", dir_->path.string()};
  }
  static TempDir* dir_;
};
TempDir* LongLog::dir_ = nullptr;

TEST_F(LongLog, ChunkedSmoothingRunsInMemoryBoundedByTheChunkNotTheLog) {
  // Chunks of 2000 steps: the memory a run needs beyond its fixed cost must not grow with a log
  // ten times longer. The whole-log run of the long log is the control: it must need
  // visibly more, else this measurement could not tell the two apart.
  auto peak_mib = [](const char* log, const char* chunk_steps) {
    auto args = smooth_args(log, "out.csv");
    args.insert(args.end(), {"--summary-json", path("summary.json")});
    if (chunk_steps) args.insert(args.end(), {"--chunk-steps", chunk_steps});
    EXPECT_EQ(run_executable(args), 0) << log;
    proto::SmoothSummary s;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(read_file(path("summary.json")), &s).ok());
    EXPECT_GT(s.peak_resident_bytes(), 0u);
    return double(s.peak_resident_bytes()) / 1048576.0;
  };
  const double small = peak_mib("small.csv", "2000"), big = peak_mib("big.csv", "2000"), whole = peak_mib("big.csv", nullptr);
  // Whole run: ~90 000 more steps × (filtered + smoothed means and covariances, measurements)
  // ≈ 50 MB more. Chunked: the same 2000-step working set for both logs.
  EXPECT_GT(whole - small, 30.0) << "small log " << small << " MiB, whole long log " << whole << " MiB";
  EXPECT_LT(big - small, 8.0) << "chunked: small log " << small << " MiB, ten times longer log " << big << " MiB";
}

/// Runs the kalmanscan executable on a pseudo-terminal; returns what it drew there.
std::string run_on_terminal(const std::vector<std::string>& args) {
  std::vector<std::string> all = {KALMANSCAN_CLI_PATH};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  if (pid < 0) throw std::runtime_error("forkpty failed");
  if (pid == 0) {
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  std::string drawn;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n > 0) drawn.append(buf, static_cast<std::size_t>(n));
    else if (n < 0 && errno == EINTR) continue;
    else break;  // EIO once the child has exited and closed the terminal
  }
  ::close(master);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("kalmanscan failed on the terminal: " + drawn);
  return drawn;
}

TEST_F(LongLog, ATerminalGetsAProgressBarAPipeDoesNot) {
  auto filter_only = [](const char* out) {  // the bar is the same in both passes; one is enough here
    auto a = smooth_args("big.csv", out);
    a.push_back("--filter-only");
    return a;
  };
  const std::string drawn = run_on_terminal(filter_only("tty.csv"));
  EXPECT_NE(drawn.find("\rfiltering ["), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("%"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("100000 steps ("), std::string::npos) << "the summary follows the bar: " << drawn;

  auto quiet = filter_only("tty.csv");
  quiet.push_back("--quiet");
  EXPECT_EQ(run_on_terminal(quiet), "") << "--quiet draws nothing";

  const auto piped = run_cli(filter_only("piped.csv"));  // stderr captured to a file
  ASSERT_EQ(piped.status, 0) << piped.err;
  EXPECT_EQ(piped.err.find('\r'), std::string::npos) << piped.err;
  EXPECT_NE(piped.err.find("100000 steps ("), std::string::npos) << piped.err;
}

}  // namespace
}  // namespace kalmanscan::testing
