#include "kalmanscan/viz/frame.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kalmanscan::viz {

std::pair<double, double> time_extent(const SeriesSet::Lock& lock) {
  Aggregate all;
  for (std::size_t id = 0; id < lock.count(); ++id) all.merge(lock.series(id).total());
  if (all.count == 0) return {0.0, 0.0};
  return {all.t_first, all.t_last};
}

namespace {

// Lowest and highest value a layer's element reaches (its ±2σ edges for a band).
void widen(const Aggregate& a, SeriesKind kind, double& lo, double& hi) {
  if (a.count == 0) return;
  lo = std::min(lo, a.min[kind == SeriesKind::band ? std::size_t{lower2} : std::size_t{0}]);
  hi = std::max(hi, a.max[kind == SeriesKind::band ? std::size_t{upper2} : std::size_t{0}]);
}

int draw_order(Role role) { return static_cast<int>(role); }

}  // namespace

std::vector<PanelFrame> build_frames(const SeriesSet::Lock& lock, double t0, double t1, std::size_t columns) {
  std::vector<PanelFrame> frames;
  for (const std::string& panel : lock.panels()) {
    PanelFrame f;
    f.panel = panel;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    bool only_nis = true;
    for (std::size_t id = 0; id < lock.count(); ++id) {
      const SeriesInfo& info = lock.info(id);
      if (info.panel != panel) continue;
      only_nis = only_nis && info.role == Role::nis;
      Layer layer{info.role, lock.series(id).decimate(t0, t1, columns)};
      const SeriesKind kind = kind_of(info.role);
      for (const Aggregate& a : layer.data.columns) widen(a, kind, lo, hi);
      if (layer.data.before) widen(*layer.data.before, kind, lo, hi);
      if (layer.data.after) widen(*layer.data.after, kind, lo, hi);
      f.layers.push_back(std::move(layer));
    }
    std::stable_sort(f.layers.begin(), f.layers.end(),
                     [](const Layer& a, const Layer& b) { return draw_order(a.role) < draw_order(b.role); });
    f.has_data = lo <= hi;
    if (f.has_data) {
      if (only_nis) lo = std::min(lo, 0.0);  // NIS is a squared norm: show it from zero
      const double pad = hi > lo ? 0.05 * (hi - lo) : (hi != 0 ? std::abs(hi) * 0.05 : 1.0);
      f.y_min = lo - pad;
      f.y_max = hi + pad;
    }
    frames.push_back(std::move(f));
  }
  std::stable_partition(frames.begin(), frames.end(), [](const PanelFrame& f) {
    return !std::all_of(f.layers.begin(), f.layers.end(), [](const Layer& l) { return l.role == Role::nis; }) ||
           f.layers.empty();
  });
  return frames;
}

std::vector<double> nice_ticks(double lo, double hi, std::size_t target) {
  std::vector<double> ticks;
  if (!(lo < hi) || !std::isfinite(hi - lo) || target == 0) return ticks;
  const double raw = (hi - lo) / static_cast<double>(target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  for (double k = std::ceil(lo / step); k * step <= hi; k += 1) ticks.push_back(k * step == 0 ? 0.0 : k * step);
  return ticks;
}

}  // namespace kalmanscan::viz
