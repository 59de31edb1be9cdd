#include "kalmanscan/viz/series.hpp"

#include <algorithm>
#include <cmath>

#include "kalmanscan/viz/error.hpp"

namespace kalmanscan::viz {

std::size_t channel_count(SeriesKind kind) { return kind == SeriesKind::band ? 5 : 1; }

double column_edge(double t0, double t1, std::size_t columns, std::size_t c) {
  if (c >= columns) return t1;
  return t0 + (t1 - t0) * static_cast<double>(c) / static_cast<double>(columns);
}

Series::Series(std::string name, SeriesKind kind, SeriesOptions options)
    : name_(std::move(name)), kind_(kind), options_(options) {
  if (options_.fan_out < 2)
    throw Error("series '" + name_ + "': fan_out must be at least 2, found " + std::to_string(options_.fan_out));
  // The newest fan_out elements of a level have no parent yet, so a level always keeps them.
  options_.min_retained = std::max(options_.min_retained, options_.fan_out);
}

void Series::append(double t, double value, double sigma) {
  const auto where = [&] { return "series '" + name_ + "', sample " + std::to_string(size()) + ": "; };
  if (!std::isfinite(t)) throw Error(where() + "time must be finite, found " + std::to_string(t));
  if (!raw_.empty() && t < raw_.back().t)
    throw Error(where() + "time " + std::to_string(t) + " is earlier than the previous sample's " +
                std::to_string(raw_.back().t));
  if (!std::isfinite(value)) throw Error(where() + "value must be finite, found " + std::to_string(value));
  if (kind_ == SeriesKind::line && sigma != 0)
    throw Error(where() + "a line series takes no sigma, found " + std::to_string(sigma));
  // The ±2σ edges must be representable too.
  if (!(sigma >= 0) || !std::isfinite(value - 2 * sigma) || !std::isfinite(value + 2 * sigma))
    throw Error(where() + "sigma must be finite and >= 0 (with mean ± 2 sigma finite), found " + std::to_string(sigma));
  raw_.push_back({t, value, sigma});
  complete_buckets();
  trim();
}

std::uint64_t Series::level_begin(std::size_t level) const {
  return level == 0 ? raw_begin_ : levels_[level - 1].begin;
}

std::uint64_t Series::level_end(std::size_t level) const { return level == 0 ? raw_end() : levels_[level - 1].end(); }

double Series::key(std::size_t level, std::uint64_t index) const {
  if (level == 0) return raw_[index - raw_begin_].t;
  const Level& l = levels_[level - 1];
  return l.items[index - l.begin].t_first;
}

Aggregate Series::element(std::size_t level, std::uint64_t index) const {
  if (level != 0) {
    const Level& l = levels_[level - 1];
    return l.items[index - l.begin];
  }
  const Sample& s = raw_[index - raw_begin_];
  Aggregate a;
  a.count = 1;
  a.t_first = a.t_last = s.t;
  const std::array<double, max_channels> channels = {s.value, s.value - s.sigma, s.value + s.sigma,
                                                     s.value - 2 * s.sigma, s.value + 2 * s.sigma};
  const std::size_t n = channel_count(kind_);
  for (std::size_t c = 0; c < n; ++c) a.min[c] = a.max[c] = channels[c];
  return a;
}

void Series::merge_elements(std::size_t level, std::uint64_t a, std::uint64_t b, Aggregate& acc) const {
  if (a >= b) return;
  if (level != 0) {
    const Level& l = levels_[level - 1];
    const auto first = l.items.begin() + static_cast<std::ptrdiff_t>(a - l.begin);
    std::for_each(first, first + static_cast<std::ptrdiff_t>(b - a), [&](const Aggregate& x) { acc.merge(x); });
    return;
  }
  // Samples straight into the summary (the hot loop of a redraw: no temporary aggregates).
  auto it = raw_.begin() + static_cast<std::ptrdiff_t>(a - raw_begin_);
  const auto last = it + static_cast<std::ptrdiff_t>(b - a);
  if (acc.count == 0) {
    acc = element(0, a);
    ++it;
  }
  const bool band = kind_ == SeriesKind::band;
  for (; it != last; ++it) {
    const Sample& x = *it;
    ++acc.count;
    acc.t_first = std::min(acc.t_first, x.t);
    acc.t_last = std::max(acc.t_last, x.t);
    acc.min[mean] = std::min(acc.min[mean], x.value);
    acc.max[mean] = std::max(acc.max[mean], x.value);
    if (!band) continue;
    // Each band edge keeps its own min and max.
    const double l1 = x.value - x.sigma, u1 = x.value + x.sigma, l2 = x.value - 2 * x.sigma, u2 = x.value + 2 * x.sigma;
    acc.min[lower1] = std::min(acc.min[lower1], l1);
    acc.max[lower1] = std::max(acc.max[lower1], l1);
    acc.min[upper1] = std::min(acc.min[upper1], u1);
    acc.max[upper1] = std::max(acc.max[upper1], u1);
    acc.min[lower2] = std::min(acc.min[lower2], l2);
    acc.max[lower2] = std::max(acc.max[lower2], l2);
    acc.min[upper2] = std::min(acc.min[upper2], u2);
    acc.max[upper2] = std::max(acc.max[upper2], u2);
  }
}

std::uint64_t Series::lower_bound(std::size_t level, std::uint64_t first, std::uint64_t last, double t) const {
  // Keys never decrease along a level (samples arrive in time order). Gallop from `first`, then
  // bisect: successive column edges lie close together, so the probes stay near each other.
  std::uint64_t step = 1;
  while (first + step < last && key(level, first + step) < t) {
    first += step;
    step *= 2;
  }
  last = std::min(last, first + step + 1);
  while (first < last) {
    const std::uint64_t mid = first + (last - first) / 2;
    if (key(level, mid) < t)
      first = mid + 1;
    else
      last = mid;
  }
  return first;
}

Aggregate Series::range(std::size_t level, std::uint64_t a, std::uint64_t b) const {
  const std::uint64_t F = options_.fan_out;
  Aggregate acc;
  // Merge the unaligned ends at this level and let the parents summarise the aligned middle.
  // Parents of held elements are held (trimming keeps begin(k+1)·F ≤ begin(k)), and a parent
  // exists for every whole group of F (buckets complete as soon as their F children do).
  while (a < b) {
    const std::uint64_t a_up = (a + F - 1) / F, b_up = b / F;
    if (level == levels_.size() || a_up >= b_up) {
      merge_elements(level, a, b, acc);
      break;
    }
    merge_elements(level, a, a_up * F, acc);
    merge_elements(level, b_up * F, b, acc);
    a = a_up;
    b = b_up;
    ++level;
  }
  return acc;
}

std::pair<std::uint64_t, std::uint64_t> Series::exclusive(std::size_t level) const {
  if (level == 0) return {raw_begin_, raw_end()};
  // level_begin(level − 1) is a multiple of F: trimming releases whole groups.
  return {level_begin(level), level_begin(level - 1) / options_.fan_out};
}

Decimated Series::decimate(double t0, double t1, std::size_t columns) const {
  if (!std::isfinite(t0) || !std::isfinite(t1) || !(t0 < t1))
    throw Error("series '" + name_ + "': decimate needs finite t0 < t1, found [" + std::to_string(t0) + ", " +
                std::to_string(t1) + ")");
  if (columns == 0) throw Error("series '" + name_ + "': decimate needs at least one column");
  Decimated out;
  out.t0 = t0;
  out.t1 = t1;
  out.columns.resize(columns);
  std::vector<double> edges(columns + 1);
  for (std::size_t c = 0; c <= columns; ++c) edges[c] = column_edge(t0, t1, columns, c);
  std::vector<std::uint64_t> cut(columns + 1);
  // Coarsest (oldest) segment first: each level's exclusive elements precede the finer levels'.
  for (std::size_t level = levels_.size() + 1; level-- > 0;) {
    const auto [s, e] = exclusive(level);
    if (s >= e) continue;
    std::uint64_t from = s;
    for (std::size_t c = 0; c <= columns; ++c) from = cut[c] = lower_bound(level, from, e, edges[c]);
    for (std::size_t c = 0; c < columns; ++c)
      if (cut[c] < cut[c + 1]) out.columns[c].merge(range(level, cut[c], cut[c + 1]));
    if (cut[0] > s) out.before = element(level, cut[0] - 1);
    if (!out.after && cut[columns] < e) out.after = element(level, cut[columns]);
  }
  return out;
}

Aggregate Series::total() const {
  Aggregate acc;
  for (std::size_t level = 0; level <= levels_.size(); ++level) {
    const auto [s, e] = exclusive(level);
    if (s < e) acc.merge(range(level, s, e));
  }
  return acc;
}

double Series::full_resolution_since() const { return raw_.empty() ? 0.0 : raw_.front().t; }

std::size_t Series::memory_bytes() const {
  std::size_t bytes = raw_.size() * sizeof(Sample);
  for (const Level& l : levels_) bytes += l.items.size() * sizeof(Aggregate);
  return bytes;
}

void Series::complete_buckets() {
  const std::uint64_t F = options_.fan_out;
  // A bucket of level k+1 completes when level k reaches a multiple of F elements.
  for (std::size_t level = 0; level_end(level) % F == 0; ++level) {
    const std::uint64_t end = level_end(level);
    Aggregate bucket;
    merge_elements(level, end - F, end, bucket);
    if (level == levels_.size()) levels_.emplace_back();
    levels_[level].items.push_back(bucket);
  }
}

void Series::trim() {
  const std::uint64_t F = options_.fan_out;
  while (memory_bytes() > options_.memory_budget) {
    bool released = false;
    // The finest level first: the newest data keeps the finest resolution. The top level has no
    // parent and is never trimmed.
    for (std::size_t level = 0; level < levels_.size() && !released; ++level) {
      const std::uint64_t begin = level_begin(level);
      const bool has_parent = begin / F < level_end(level + 1);
      // Finer levels must stay covered: begin(k)·F ≤ begin(k−1) after the release.
      const bool covers_finer = level == 0 || (begin + F) * F <= level_begin(level - 1);
      if (level_end(level) - begin < options_.min_retained + F || !has_parent || !covers_finer) continue;
      if (level == 0) {
        raw_.erase(raw_.begin(), raw_.begin() + static_cast<std::ptrdiff_t>(F));
        raw_begin_ += F;
      } else {
        Level& l = levels_[level - 1];
        l.items.erase(l.items.begin(), l.items.begin() + static_cast<std::ptrdiff_t>(F));
        l.begin += F;
      }
      released = true;
    }
    if (!released) break;  // every level is at its floor: the budget is too small to honour
  }
}

}  // namespace kalmanscan::viz
