// The CSV export of a visible range, parsed back and compared with the samples written in.
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "kalmanscan/viz/export_csv.hpp"

namespace kalmanscan::viz {
namespace {

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ',')) cells.push_back(cell);
  if (!line.empty() && line.back() == ',') cells.emplace_back();
  return cells;
}

TEST(ExportCsv, VisibleRangeAtFullResolutionRoundTrips) {
  SeriesSet set;
  {
    auto lock = set.lock();
    auto& f = lock.series(lock.get_or_add("x0", Role::filtered));
    auto& n = lock.series(lock.get_or_add("NIS", Role::nis));
    for (int i = 0; i < 100; ++i) {
      f.append(0.1 * i, 1.0 / (i + 1), 0.01 * i);
      n.append(0.1 * i, i % 5);
    }
  }
  std::ostringstream out;
  {
    auto lock = set.lock();
    write_visible_csv(out, lock, 2.0, 3.0);
  }
  std::istringstream in(out.str());
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "panel,role,t,value,sigma,count,t_last,value_min,value_max,lower2_min,upper2_max");
  int filtered = 0, nis = 0;
  while (std::getline(in, line)) {
    const auto c = split(line);
    ASSERT_EQ(c.size(), 11u) << line;
    const double t = std::strtod(c[2].c_str(), nullptr);
    const int i = static_cast<int>(std::lround(t * 10));
    EXPECT_EQ(t, 0.1 * i) << "times are written exactly";
    EXPECT_GE(t, 2.0);
    EXPECT_LT(t, 3.0);
    EXPECT_EQ(c[5], "1");
    if (c[1] == "filtered") {
      ++filtered;
      EXPECT_EQ(std::strtod(c[3].c_str(), nullptr), 1.0 / (i + 1));
      EXPECT_EQ(std::strtod(c[4].c_str(), nullptr), 0.01 * i);
      EXPECT_EQ(std::strtod(c[9].c_str(), nullptr), 1.0 / (i + 1) - 2 * (0.01 * i));
    } else {
      ++nis;
      EXPECT_EQ(c[0], "NIS");
      EXPECT_EQ(std::strtod(c[3].c_str(), nullptr), i % 5);
      EXPECT_EQ(c[4], "");
      EXPECT_EQ(c[10], "");
    }
  }
  // 0.1·i ∈ [2, 3): i = 20 … 29 (0.1·20 and 0.1·30 compare as written in floating point).
  int expected = 0;
  for (int i = 0; i < 100; ++i) expected += (0.1 * i >= 2.0 && 0.1 * i < 3.0);
  EXPECT_EQ(filtered, expected);
  EXPECT_EQ(nis, expected);
}

TEST(ExportCsv, TrimmedHistoryIsExportedAsBucketsThatCountEverySample) {
  SeriesSet set({.fan_out = 4, .memory_budget = 16 << 10, .min_retained = 16});
  {
    auto lock = set.lock();
    auto& f = lock.series(lock.get_or_add("x0", Role::smoothed));
    for (int i = 0; i < 5000; ++i) f.append(i, i % 13, 1);
  }
  std::ostringstream out;
  {
    auto lock = set.lock();
    write_visible_csv(out, lock, 0, 5000);
  }
  std::istringstream in(out.str());
  std::string line;
  std::getline(in, line);
  long long counted = 0;
  int buckets = 0;
  while (std::getline(in, line)) {
    const auto c = split(line);
    counted += std::atoll(c[5].c_str());
    if (!c[3].empty()) continue;
    ++buckets;
    // Samples t_first … t_last hold i % 13 at t = i, σ = 1: the bucket's extremes follow.
    const long first = std::atol(c[2].c_str()), last = std::atol(c[6].c_str());
    EXPECT_EQ(last - first + 1, std::atoll(c[5].c_str())) << line;
    int lo = 13, hi = -1;
    for (long i = first; i <= last; ++i) {
      lo = std::min(lo, static_cast<int>(i % 13));
      hi = std::max(hi, static_cast<int>(i % 13));
    }
    EXPECT_EQ(std::strtod(c[7].c_str(), nullptr), lo) << line;
    EXPECT_EQ(std::strtod(c[8].c_str(), nullptr), hi) << line;
    EXPECT_EQ(std::strtod(c[9].c_str(), nullptr), lo - 2) << line;
    EXPECT_EQ(std::strtod(c[10].c_str(), nullptr), hi + 2) << line;
  }
  EXPECT_EQ(counted, 5000);
  EXPECT_GT(buckets, 0);
}

}  // namespace
}  // namespace kalmanscan::viz
