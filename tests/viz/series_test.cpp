// The decimation pyramid against brute force: every column of every query recomputed by a
// plain loop over all samples, with column membership decided by comparing each timestamp to
// the column edges.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "kalmanscan/viz/error.hpp"
#include "kalmanscan/viz/series.hpp"
#include "kalmanscan/viz/series_set.hpp"

namespace kalmanscan::viz {
namespace {

struct Sample {
  double t, value, sigma;
};

// Channels of a sample, written out independently of the code under test.
std::vector<double> channels_of(const Sample& s, SeriesKind kind) {
  if (kind == SeriesKind::line) return {s.value};
  return {s.value, s.value - s.sigma, s.value + s.sigma, s.value - 2 * s.sigma, s.value + 2 * s.sigma};
}

struct Expected {
  std::uint64_t count = 0;
  double t_first = 0, t_last = 0;
  std::vector<double> min, max;
  void add(const Sample& s, SeriesKind kind) {
    const auto ch = channels_of(s, kind);
    if (count++ == 0) {
      t_first = t_last = s.t;
      min = max = ch;
      return;
    }
    t_first = std::min(t_first, s.t);
    t_last = std::max(t_last, s.t);
    for (std::size_t c = 0; c < ch.size(); ++c) {
      min[c] = std::min(min[c], ch[c]);
      max[c] = std::max(max[c], ch[c]);
    }
  }
};

void expect_same(const Expected& want, const Aggregate& got, SeriesKind kind, const std::string& where) {
  ASSERT_EQ(want.count, got.count) << where;
  if (want.count == 0) return;
  EXPECT_EQ(want.t_first, got.t_first) << where;
  EXPECT_EQ(want.t_last, got.t_last) << where;
  for (std::size_t c = 0; c < channel_count(kind); ++c) {
    EXPECT_EQ(want.min[c], got.min[c]) << where << " channel " << c << " min";
    EXPECT_EQ(want.max[c], got.max[c]) << where << " channel " << c << " max";
  }
}

// Irregular, sometimes repeated timestamps; values with a trend, noise and outliers.
std::vector<Sample> make_samples(std::size_t n, std::uint64_t seed, bool strictly_increasing = false) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(10.0);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<Sample> out;
  double t = -3.0;
  for (std::size_t i = 0; i < n; ++i) {
    if (strictly_increasing || u(rng) > 0.1) t += gap(rng) + (strictly_increasing ? 1e-6 : 0.0);
    double v = std::sin(t) + 0.1 * noise(rng);
    if (u(rng) < 0.01) v += 50 * noise(rng);
    out.push_back({t, v, std::abs(noise(rng)) * 0.5});
  }
  return out;
}

Series fill(const std::vector<Sample>& samples, SeriesKind kind, SeriesOptions options) {
  Series s("test", kind, options);
  for (const auto& x : samples) s.append(x.t, x.value, kind == SeriesKind::band ? x.sigma : 0.0);
  return s;
}

void check_against_brute_force(const Series& s, const std::vector<Sample>& samples, double t0, double t1,
                               std::size_t columns) {
  const std::string where = "n=" + std::to_string(samples.size()) + " [" + std::to_string(t0) + ", " +
                            std::to_string(t1) + ") columns=" + std::to_string(columns);
  const Decimated d = s.decimate(t0, t1, columns);
  ASSERT_EQ(d.columns.size(), columns) << where;
  std::vector<double> edge(columns + 1);
  for (std::size_t c = 0; c <= columns; ++c) edge[c] = column_edge(t0, t1, columns, c);
  std::vector<Expected> want(columns);
  const Sample* before = nullptr;
  const Sample* after = nullptr;
  for (const auto& x : samples) {
    if (x.t < t0) before = &x;
    if (x.t >= t1 && after == nullptr) after = &x;
    // The column whose [edge[c], edge[c+1]) holds x.t, if any.
    const auto c = std::upper_bound(edge.begin(), edge.end(), x.t) - edge.begin() - 1;
    if (c >= 0 && c < static_cast<std::ptrdiff_t>(columns)) want[static_cast<std::size_t>(c)].add(x, s.kind());
  }
  for (std::size_t c = 0; c < columns; ++c)
    expect_same(want[c], d.columns[c], s.kind(), where + " column " + std::to_string(c));
  ASSERT_EQ(before != nullptr, d.before.has_value()) << where;
  if (before) {
    Expected e;
    e.add(*before, s.kind());
    expect_same(e, *d.before, s.kind(), where + " before");
  }
  ASSERT_EQ(after != nullptr, d.after.has_value()) << where;
  if (after) {
    Expected e;
    e.add(*after, s.kind());
    expect_same(e, *d.after, s.kind(), where + " after");
  }
}

struct Case {
  std::size_t n;
  std::size_t fan_out;
  SeriesKind kind;
};

class SeriesBruteForce : public ::testing::TestWithParam<Case> {};

TEST_P(SeriesBruteForce, EveryColumnMatchesALoopOverAllSamples) {
  const Case p = GetParam();
  const auto samples = make_samples(p.n, 1234 + p.n);
  const Series s = fill(samples, p.kind, {.fan_out = p.fan_out});
  ASSERT_EQ(s.size(), p.n);
  if (p.n == 0) {
    const Decimated d = s.decimate(0, 1, 5);
    for (const auto& c : d.columns) EXPECT_EQ(c.count, 0u);
    EXPECT_FALSE(d.before || d.after);
    return;
  }
  const double lo = samples.front().t, hi = samples.back().t;
  const double span = std::max(hi - lo, 1.0);
  std::mt19937_64 rng(99);
  std::uniform_real_distribution<double> u(-0.2, 1.2);
  // The whole range, ranges past either end, and random windows of all widths.
  check_against_brute_force(s, samples, lo, std::nextafter(hi, 1e300), 1);
  check_against_brute_force(s, samples, lo - 1, hi + 1, 640);
  check_against_brute_force(s, samples, hi + 1, hi + 2, 3);
  for (int q = 0; q < 12; ++q) {
    double a = lo + u(rng) * span, b = lo + u(rng) * span;
    if (a > b) std::swap(a, b);
    if (a == b) b = a + 1e-3;
    for (std::size_t columns : {std::size_t(1), std::size_t(7), std::size_t(333)})
      check_against_brute_force(s, samples, a, b, columns);
  }
  Expected all;
  for (const auto& x : samples) all.add(x, p.kind);
  expect_same(all, s.total(), p.kind, "total");
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, SeriesBruteForce,
    ::testing::Values(Case{0, 16, SeriesKind::line}, Case{1, 16, SeriesKind::band}, Case{15, 16, SeriesKind::band},
                      Case{16, 16, SeriesKind::line}, Case{17, 16, SeriesKind::band}, Case{256, 16, SeriesKind::band},
                      Case{257, 2, SeriesKind::line}, Case{997, 3, SeriesKind::band},
                      Case{4096 + 1, 16, SeriesKind::line}, Case{65537, 16, SeriesKind::band},
                      Case{100003, 7, SeriesKind::band}));

TEST(Series, TrimmedHistoryIsDecimatedNeverDropped) {
  const SeriesOptions options{.fan_out = 4, .memory_budget = 256 << 10, .min_retained = 64};
  const auto samples = make_samples(200000, 7, /*strictly_increasing=*/true);
  const Series s = fill(samples, SeriesKind::band, options);
  const std::string where = "trimmed series";
  // Memory stays within budget, yet every sample is still counted and the overall summary exact.
  EXPECT_LE(s.memory_bytes(), options.memory_budget);
  ASSERT_EQ(s.size(), samples.size());
  Expected all;
  for (const auto& x : samples) all.add(x, SeriesKind::band);
  expect_same(all, s.total(), SeriesKind::band, where + " total");
  const double since = s.full_resolution_since();
  EXPECT_GT(since, samples.front().t) << "the budget should have forced trimming";

  // Over the whole history: the columns partition the samples into consecutive runs, each
  // starting in its column; every run's summary equals brute force over its time span.
  const double lo = samples.front().t, hi = samples.back().t + 1;
  for (std::size_t columns : {std::size_t(50), std::size_t(1000)}) {
    const Decimated d = s.decimate(lo, hi, columns);
    std::uint64_t counted = 0;
    std::size_t next = 0;  // index of the first sample not yet accounted for
    for (std::size_t c = 0; c < columns; ++c) {
      const Aggregate& col = d.columns[c];
      if (col.count == 0) continue;
      const std::string at = where + " column " + std::to_string(c) + "/" + std::to_string(columns);
      EXPECT_GE(col.t_first, column_edge(lo, hi, columns, c)) << at;
      EXPECT_LT(col.t_first, column_edge(lo, hi, columns, c + 1)) << at;
      ASSERT_EQ(samples[next].t, col.t_first) << at << ": runs must be consecutive";
      Expected run;
      while (next < samples.size() && samples[next].t <= col.t_last) run.add(samples[next++], SeriesKind::band);
      expect_same(run, col, SeriesKind::band, at);
      counted += col.count;
    }
    EXPECT_EQ(counted, samples.size()) << where;
  }
  // Where full resolution is held, columns are exact.
  const auto first_full = std::lower_bound(samples.begin(), samples.end(), since,
                                           [](const Sample& x, double t) { return x.t < t; });
  const double t0 = std::nextafter(since, 1e300);
  ASSERT_LT(first_full + 10, samples.end());
  check_against_brute_force(s, samples, t0, hi, 321);
}

TEST(Series, BadInputIsRefusedNamingTheSeriesAndSample) {
  Series band("x0/filtered", SeriesKind::band);
  band.append(1.0, 0.0, 1.0);
  const auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  EXPECT_NE(message([&] { band.append(0.5, 0.0, 1.0); }).find("series 'x0/filtered', sample 1: time 0.5"),
            std::string::npos);
  EXPECT_NE(message([&] { band.append(2, std::nan(""), 1.0); }).find("value must be finite"), std::string::npos);
  EXPECT_NE(message([&] { band.append(2, 0.0, -1.0); }).find("sigma must be finite and >= 0"), std::string::npos);
  EXPECT_NE(message([&] { band.append(2, 1e308, 1e308); }).find("sigma"), std::string::npos);
  EXPECT_NE(message([&] { band.append(std::numeric_limits<double>::infinity(), 0, 0); }).find("time must be finite"),
            std::string::npos);
  Series line("nis", SeriesKind::line);
  EXPECT_NE(message([&] { line.append(0, 1, 0.5); }).find("a line series takes no sigma"), std::string::npos);
  EXPECT_NE(message([&] { (void)band.decimate(1, 1, 3); }).find("finite t0 < t1"), std::string::npos);
  EXPECT_NE(message([&] { (void)band.decimate(0, 1, 0); }).find("at least one column"), std::string::npos);
  EXPECT_NE(message([&] { Series("s", SeriesKind::line, {.fan_out = 1}); }).find("fan_out must be at least 2"),
            std::string::npos);
  EXPECT_EQ(band.size(), 1u) << "refused samples must not be stored";
}

TEST(SeriesSet, VersionMovesOnlyOnChangeAndTheCallbackRunsUnlocked) {
  SeriesSet set;
  int calls = 0;
  set.on_change([&] {
    auto lock = set.lock();  // would deadlock if the mutex were still held
    ++calls;
  });
  const auto v0 = set.version();
  { auto lock = set.lock(); }
  EXPECT_EQ(set.version(), v0);
  EXPECT_EQ(calls, 0);
  {
    auto lock = set.lock();
    const auto id = lock.get_or_add("x0", Role::filtered);
    EXPECT_EQ(lock.get_or_add("x0", Role::filtered), id);
    lock.series(id).append(0, 1, 0.1);
  }
  EXPECT_EQ(set.version(), v0 + 1);
  EXPECT_EQ(calls, 1);
  auto lock = set.lock();
  EXPECT_EQ(lock.count(), 1u);
  EXPECT_EQ(lock.series(0).kind(), SeriesKind::band);
  EXPECT_EQ(lock.get_or_add("NIS", Role::nis), 1u);
  EXPECT_EQ(lock.series(1).kind(), SeriesKind::line);
  EXPECT_EQ(lock.panels().size(), 2u);
}

TEST(SeriesSet, ConcurrentWriterAndReaderSeeConsistentData) {
  SeriesSet set;
  constexpr int batches = 200, per_batch = 500;
  std::thread writer([&] {
    for (int b = 0; b < batches; ++b) {
      auto lock = set.lock();
      auto& s = lock.series(lock.get_or_add("x", Role::smoothed));
      for (int i = 0; i < per_batch; ++i) s.append(b * per_batch + i, i % 7, 0.5);
      lock.changed();
    }
  });
  std::uint64_t last = 0;
  while (last < std::uint64_t(batches) * per_batch) {
    auto lock = set.lock();
    if (lock.count() == 0) continue;
    const Series& s = lock.series(0);
    const std::uint64_t n = s.size();
    EXPECT_EQ(n % per_batch, 0u) << "a reader must never see half a batch";
    EXPECT_GE(n, last);
    if (n > 0) {
      std::uint64_t counted = 0;
      for (const auto& c : s.decimate(0, double(n), 100).columns) counted += c.count;
      EXPECT_EQ(counted, n);
    }
    last = n;
  }
  writer.join();
}

}  // namespace
}  // namespace kalmanscan::viz
