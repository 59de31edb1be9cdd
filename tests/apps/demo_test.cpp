// `kalmanscan demo` runs end to end and its estimates behave as they must: smoothing beats
// filtering, which beats the raw fixes; the NEES of consistent estimates is near the state size.
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
  EXPECT_NEAR(std::stod(m[1]), 4.0, 1.0);
  EXPECT_NEAR(std::stod(m[2]), 4.0, 1.0);
  EXPECT_TRUE(std::filesystem::exists(dir / "log.csv"));
  EXPECT_NE(r.out.find("backend "), std::string::npos);
}

}  // namespace
}  // namespace kalmanscan::testing
