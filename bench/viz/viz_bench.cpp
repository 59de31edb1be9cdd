// The dashboard's plot data at scale (issue 8: 10⁷ points per series), each operation beside the
// plain loop it replaces, in the same run:
//   append    Series::append of band samples (mean, σ)   vs  push_back of (t, mean, σ) into a vector
//   redraw    Series::decimate of all samples into C pixel columns
//             vs  one pass over the vector computing each column's min/max of the 5 band edges
//   window    the same for the newest 10⁴ samples (a zoomed-in live view)
//             vs  binary search plus a pass over those samples
// and the memory each holds; speed-up = plain loop time / pyramid time. Every decimation is
// checked against its brute-force twin (counts and min/max per column) before it is timed, so a
// fast wrong answer cannot be reported.
//   viz_bench [--samples N] [--columns C] [--repeats R]   (defaults 10000000, 1920, 7)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kalmanscan/viz/series.hpp"

namespace {

using kalmanscan::viz::Aggregate;
using kalmanscan::viz::Decimated;
using kalmanscan::viz::Series;
using kalmanscan::viz::SeriesKind;
using Clock = std::chrono::steady_clock;

struct Sample {
  double t, mean, sigma;
};

// The median of `repeats` runs of f, in seconds.
template <class F>
double median_seconds(int repeats, F&& f) {
  std::vector<double> s;
  for (int r = 0; r < repeats; ++r) {
    const auto a = Clock::now();
    f();
    s.push_back(std::chrono::duration<double>(Clock::now() - a).count());
  }
  std::sort(s.begin(), s.end());
  return s[s.size() / 2];
}

// Brute force: per column of [t0, t1), the count and min/max of the five band edges.
std::vector<Aggregate> brute_force(const std::vector<Sample>& v, double t0, double t1, std::size_t columns) {
  std::vector<Aggregate> out(columns);
  auto it = std::lower_bound(v.begin(), v.end(), t0, [](const Sample& s, double t) { return s.t < t; });
  for (; it != v.end() && it->t < t1; ++it) {
    std::size_t c = static_cast<std::size_t>((it->t - t0) / (t1 - t0) * double(columns));
    c = std::min(c, columns - 1);
    // Column edges as Series uses them (column_edge), so both put a sample in the same column.
    while (c > 0 && it->t < kalmanscan::viz::column_edge(t0, t1, columns, c)) --c;
    while (c + 1 < columns && it->t >= kalmanscan::viz::column_edge(t0, t1, columns, c + 1)) ++c;
    Aggregate a;
    a.count = 1;
    a.t_first = a.t_last = it->t;
    const double edge[5] = {it->mean, it->mean - it->sigma, it->mean + it->sigma, it->mean - 2 * it->sigma,
                            it->mean + 2 * it->sigma};
    for (std::size_t k = 0; k < 5; ++k) a.min[k] = a.max[k] = edge[k];
    out[c].merge(a);
  }
  return out;
}

bool same(const Decimated& d, const std::vector<Aggregate>& b) {
  if (d.columns.size() != b.size()) return false;
  for (std::size_t c = 0; c < b.size(); ++c) {
    if (d.columns[c].count != b[c].count) return false;
    if (b[c].count == 0) continue;
    for (std::size_t k = 0; k < 5; ++k)
      if (d.columns[c].min[k] != b[c].min[k] || d.columns[c].max[k] != b[c].max[k]) return false;
  }
  return true;
}

std::size_t parse(const char* flag, const char* value) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(value, &end, 10);
  if (!end || *end != '\0' || v == 0) {
    std::fprintf(stderr, "viz_bench: %s: expected a positive integer, found '%s'\n", flag, value);
    std::exit(2);
  }
  return static_cast<std::size_t>(v);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 10'000'000, columns = 1920, repeats = 7;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (!std::strcmp(argv[i], "--samples") && has_value) {
      n = parse(argv[i], argv[i + 1]);
      ++i;
    } else if (!std::strcmp(argv[i], "--columns") && has_value) {
      columns = parse(argv[i], argv[i + 1]);
      ++i;
    } else if (!std::strcmp(argv[i], "--repeats") && has_value) {
      repeats = parse(argv[i], argv[i + 1]);
      ++i;
    } else {
      std::fprintf(stderr, "usage: viz_bench [--samples N] [--columns C] [--repeats R]\n");
      return 2;
    }
  }
  // A filtered estimate at 1 kHz: a wandering mean, σ that breathes, a spike now and then.
  std::vector<Sample> data(n);
  std::uint64_t state = 42;
  double mean = 0;
  for (std::size_t i = 0; i < n; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double u = double(state >> 11) * 0x1.0p-53 - 0.5;
    mean += 0.01 * u + ((state >> 40) % 100000 == 0 ? 5.0 : 0.0);
    data[i] = {1e-3 * double(i), mean, 0.2 + 0.1 * u};
  }

  const int r = int(repeats);
  std::vector<Sample> copy;
  const double t_copy = median_seconds(r, [&] {
    copy.clear();
    copy.shrink_to_fit();
    for (const Sample& s : data) copy.push_back(s);
  });
  // The Series is built once per repeat as well; the last one is kept for the redraws.
  kalmanscan::viz::SeriesOptions unbounded;
  unbounded.memory_budget = std::size_t(1) << 40;  // nothing trimmed: decimation is exact
  std::vector<Series> kept;
  const double t_append = median_seconds(r, [&] {
    kept.clear();
    kept.emplace_back("bench", SeriesKind::band, unbounded);
    for (const Sample& s : data) kept.back().append(s.t, s.mean, s.sigma);
  });
  const Series& series = kept.back();

  const double t0 = data.front().t, t1 = data.back().t + 1e-3;
  const double w0 = data[n - std::min<std::size_t>(n, 10'000)].t;
  for (const auto& [a, b] : {std::pair{t0, t1}, std::pair{w0, t1}})
    if (!same(series.decimate(a, b, columns), brute_force(data, a, b, columns))) {
      std::fprintf(stderr, "viz_bench: decimation differs from brute force on [%g, %g)\n", a, b);
      return 1;
    }
  std::size_t sink = 0;
  const double t_redraw = median_seconds(r, [&] { sink += series.decimate(t0, t1, columns).columns.size(); });
  const double t_redraw_bf = median_seconds(r, [&] { sink += brute_force(data, t0, t1, columns).size(); });
  const double t_window = median_seconds(r, [&] { sink += series.decimate(w0, t1, columns).columns.size(); });
  const double t_window_bf = median_seconds(r, [&] { sink += brute_force(data, w0, t1, columns).size(); });

  std::printf("viz_bench: %zu band samples, %zu columns, median of %zu runs (checked against brute force)\n", n,
              columns, repeats);
  std::printf("%-34s %12s %12s %9s\n", "operation", "pyramid", "plain loop", "speed-up");
  std::printf("%-34s %10.1f ns %10.1f ns %8.2fx\n", "append, per sample", t_append / double(n) * 1e9,
              t_copy / double(n) * 1e9, t_copy / t_append);
  std::printf("%-34s %10.3f ms %10.3f ms %8.2fx\n", "redraw all samples", t_redraw * 1e3, t_redraw_bf * 1e3,
              t_redraw_bf / t_redraw);
  std::printf("%-34s %10.3f ms %10.3f ms %8.2fx\n", "redraw newest 10^4 samples", t_window * 1e3, t_window_bf * 1e3,
              t_window_bf / t_window);
  std::printf("%-34s %10.1f MiB %9.1f MiB\n", "memory held", double(series.memory_bytes()) / (1 << 20),
              double(data.size() * sizeof(Sample)) / (1 << 20));
  return sink == 0 ? 1 : 0;
}
