// A time series kept for plotting at any zoom: min/max decimation per pixel column over a
// multi-resolution pyramid, with history bounded by memory rather than by a time window.
//
// Samples arrive in time order (timestamps never decrease). Level 0 holds the samples; a bucket
// of level k+1 aggregates `fan_out` consecutive elements of level k (min and max of every
// channel, first and last timestamp, sample count), so a range of n samples is summarised from
// at most 2·fan_out elements per level, O(fan_out · log n) work, whatever n (10⁷ samples redraw in
// microseconds per column).
//
// Memory: when the pyramid outgrows its budget, the oldest elements of the finest level that
// has more than `min_retained` of them are released, fan_out at a time and only when their
// parent bucket exists — older data then reads at a coarser level, it is never dropped. The top
// level is never trimmed, so every sample ever appended stays counted in some bucket.
//
// Not thread-safe: share it through SeriesSet (series_set.hpp), whose mutex is the locking rule.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace kalmanscan::viz {

/// What one sample holds and which channels it is aggregated into.
enum class SeriesKind {
  line,  ///< a value y: channel 0 = y (NIS, measurements)
  band,  ///< a mean m and a standard deviation σ ≥ 0: channels m, m−σ, m+σ, m−2σ, m+2σ
};

/// Channel indices of a band series.
enum BandChannel : std::size_t { mean = 0, lower1 = 1, upper1 = 2, lower2 = 3, upper2 = 4 };

inline constexpr std::size_t max_channels = 5;

/// Number of channels of `kind` (1 for a line, 5 for a band).
std::size_t channel_count(SeriesKind kind);

/// A summary of a set of samples: how many, their first and last timestamps, and per channel
/// the smallest and largest value. An empty aggregate has count 0 (and meaningless fields).
struct Aggregate {
  std::uint64_t count = 0;
  double t_first = 0, t_last = 0;
  std::array<double, max_channels> min{}, max{};

  /// Adds `other` (of the same kind of series) to this summary; either may be empty.
  void merge(const Aggregate& other) {
    if (other.count == 0) return;
    if (count == 0) {
      *this = other;
      return;
    }
    count += other.count;
    t_first = std::min(t_first, other.t_first);
    t_last = std::max(t_last, other.t_last);
    for (std::size_t c = 0; c < max_channels; ++c) {
      min[c] = std::min(min[c], other.min[c]);
      max[c] = std::max(max[c], other.max[c]);
    }
  }
};

/// The aggregates of a time range split into equal pixel columns.
struct Decimated {
  double t0 = 0, t1 = 0;
  /// columns[c] summarises the elements whose first timestamp lies in [column_edge(c), column_edge(c+1)).
  std::vector<Aggregate> columns;
  /// The newest element starting before t0 and the oldest starting at or after t1, at the finest
  /// resolution held (so lines can be drawn to the border); absent when there is none.
  std::optional<Aggregate> before, after;
};

/// The left edge of pixel column c of `columns` equal columns over [t0, t1):
/// t0 + (t1 − t0)·c / columns, exactly t1 for c = columns.
double column_edge(double t0, double t1, std::size_t columns, std::size_t c);

struct SeriesOptions {
  std::size_t fan_out = 16;                      ///< elements per bucket, ≥ 2
  std::size_t memory_budget = std::size_t(256) << 20;  ///< bytes the pyramid may hold
  std::size_t min_retained = std::size_t(1) << 14;     ///< elements a level keeps before it is trimmed
};

class Series {
 public:
  /// Throws Error naming `name` when options.fan_out < 2.
  Series(std::string name, SeriesKind kind, SeriesOptions options = {});

  /// Appends one sample at time t: a line's value (sigma must be 0), or a band's mean and σ.
  /// Throws Error naming the series and the sample index when t is earlier than the last
  /// sample's time, or when t, value or sigma is not finite, or sigma < 0.
  void append(double t, double value, double sigma = 0);

  /// Summaries of [t0, t1) in `columns` pixel columns (see Decimated). Every element held at the
  /// finest resolution available for its time is counted in exactly one column: with nothing
  /// trimmed a column equals the brute-force summary of the samples with t in its interval; in a
  /// trimmed region a column holds whole buckets (those starting in it). Throws Error unless
  /// t0 < t1 (both finite) and columns ≥ 1.
  Decimated decimate(double t0, double t1, std::size_t columns) const;

  /// Visits, in time order, what is held of [t0, t1) at the finest resolution available:
  /// on_sample(t, value, sigma) for each sample held in full, on_bucket(aggregate) for each bucket
  /// of an older, trimmed stretch whose first timestamp lies in the range.
  template <class OnSample, class OnBucket>
  void visit(double t0, double t1, OnSample&& on_sample, OnBucket&& on_bucket) const {
    for (std::size_t level = levels_.size() + 1; level-- > 0;) {
      const auto [s, e] = exclusive(level);
      const std::uint64_t a = lower_bound(level, s, e, t0), b = lower_bound(level, a, e, t1);
      for (std::uint64_t i = a; i < b; ++i) {
        if (level == 0) {
          const Sample& x = raw_[i - raw_begin_];
          on_sample(x.t, x.value, x.sigma);
        } else {
          on_bucket(element(level, i));
        }
      }
    }
  }

  /// Summary of every sample ever appended (exact even after trimming).
  Aggregate total() const;

  const std::string& name() const { return name_; }
  SeriesKind kind() const { return kind_; }
  /// Samples appended over the series' life (trimming never lowers it).
  std::uint64_t size() const { return raw_end(); }
  /// Oldest timestamp still held at full resolution (size() == 0: meaningless).
  double full_resolution_since() const;
  /// Bytes held by the pyramid's elements.
  std::size_t memory_bytes() const;
  /// Levels above the samples (0 until fan_out samples arrived).
  std::size_t levels() const { return levels_.size(); }

 private:
  struct Sample {
    double t, value, sigma;
  };
  struct Level {
    std::deque<Aggregate> items;
    std::uint64_t begin = 0;  // global index of items.front()
    std::uint64_t end() const { return begin + items.size(); }
  };

  std::uint64_t raw_end() const { return raw_begin_ + raw_.size(); }
  std::uint64_t level_begin(std::size_t level) const;
  std::uint64_t level_end(std::size_t level) const;
  double key(std::size_t level, std::uint64_t index) const;
  Aggregate element(std::size_t level, std::uint64_t index) const;
  /// First index in [first, last) of `level` whose element starts at or after t.
  std::uint64_t lower_bound(std::size_t level, std::uint64_t first, std::uint64_t last, double t) const;
  /// Summary of elements [a, b) of `level` (all held), climbing the pyramid.
  Aggregate range(std::size_t level, std::uint64_t a, std::uint64_t b) const;
  /// Elements [a, b) of `level` merged one by one into `acc`.
  void merge_elements(std::size_t level, std::uint64_t a, std::uint64_t b, Aggregate& acc) const;
  /// The held elements of `level` not covered by the finer level below it: [begin, end).
  std::pair<std::uint64_t, std::uint64_t> exclusive(std::size_t level) const;
  void complete_buckets();
  void trim();

  std::string name_;
  SeriesKind kind_;
  SeriesOptions options_;
  std::deque<Sample> raw_;
  std::uint64_t raw_begin_ = 0;
  std::vector<Level> levels_;  // levels_[k] is pyramid level k + 1
};

}  // namespace kalmanscan::viz
