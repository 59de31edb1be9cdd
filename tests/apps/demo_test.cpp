// `kalmanscan demo` runs end to end and its estimates behave as they must: smoothing beats
// filtering, which beats the raw fixes; the innovations pass the time-averaged NIS test (they are
// white when the model matches the simulation, so the test is sharp); the mean NEES is of the
// order of the state size (errors stay correlated for tens of seconds, so a short run's mean NEES
// scatters widely around 4 and only gross inconsistency is caught there).
#include <regex>

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace kalmanscan::testing {
namespace {

TEST(Demo, SmoothedBeatsFilteredBeatsRawAndIsConsistent) {
  TempDir dir;
  const auto r = run_cli({"demo", "--steps", "6000", "--seed", "4", "--write-log", (dir / "log.csv").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(position RMSE \[m\]:\s+raw gps ([0-9.]+)\s+filtered ([0-9.]+)\s+smoothed ([0-9.]+))")))
      << r.out;
  const double raw = std::stod(m[1]), filtered = std::stod(m[2]), smoothed = std::stod(m[3]);
  EXPECT_LT(smoothed, filtered);
  EXPECT_LT(filtered, raw);
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(NEES \(expected 4 when consistent\): filtered ([0-9.]+)\s+smoothed ([0-9.]+))")))
      << r.out;
  for (int i : {1, 2}) {
    EXPECT_GT(std::stod(m[i]), 1.0);
    EXPECT_LT(std::stod(m[i]), 16.0);
  }
  EXPECT_TRUE(std::regex_search(r.out, m, std::regex(R"(NIS/dof [0-9.]+, 95% band \[[0-9.]+, [0-9.]+\]: consistent)"))) << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir / "log.csv"));
  EXPECT_NE(r.out.find("backend "), std::string::npos);
}


TEST(Demo, RecordLogAndChunkedRunScoreLikeCsvAndWholeRun) {
  // The same seed: the log as CSV smoothed whole, and as a record file smoothed in chunks of 700
  // steps (out of core), must score the same to the printed digits.
  const auto csv = run_cli({"demo", "--steps", "3000", "--seed", "9", "--backend", "sequential"});
  const auto rec = run_cli({"demo", "--steps", "3000", "--seed", "9", "--backend", "sequential", "--records", "--chunk-steps", "700"});
  ASSERT_EQ(csv.status, 0) << csv.err;
  ASSERT_EQ(rec.status, 0) << rec.err;
  EXPECT_NE(rec.out.find("record file"), std::string::npos) << rec.out;
  for (const char* what : {"position RMSE", "velocity RMSE", "NEES", "NIS/dof"}) {
    auto line = [&](const std::string& out) {
      const auto at = out.find(what);
      return at == std::string::npos ? std::string("(none)") : out.substr(at, out.find('\n', at) - at);
    };
    EXPECT_EQ(line(rec.out), line(csv.out)) << what;
  }
}

}  // namespace
}  // namespace kalmanscan::testing
