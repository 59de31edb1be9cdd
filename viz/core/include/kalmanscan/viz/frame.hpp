// What one redraw shows: the visible time range of every panel decimated to pixel columns,
// with the value range that fits it. Built by the UI thread under a SeriesSet::Lock, then painted
// without the lock (series_set.hpp's locking rule).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kalmanscan/viz/series.hpp"
#include "kalmanscan/viz/series_set.hpp"

namespace kalmanscan::viz {

struct Layer {
  Role role;
  Decimated data;
};

struct PanelFrame {
  std::string panel;
  std::vector<Layer> layers;  ///< in the order drawn: filtered, smoothed, measured, nis
  bool has_data = false;      ///< some layer has a sample (or a neighbour) in view
  double y_min = 0, y_max = 1;  ///< value range: every ±2σ edge and point in view, padded by 5%
};

/// Time range of every sample in the set: {first, last}; {0, 0} when the set is empty.
std::pair<double, double> time_extent(const SeriesSet::Lock& lock);

/// Decimates [t0, t1) of every panel into `columns` columns (the plot's width in pixels).
/// Panels keep the set's order, except that a panel holding only NIS goes last.
/// Throws Error unless t0 < t1 and columns ≥ 1.
std::vector<PanelFrame> build_frames(const SeriesSet::Lock& lock, double t0, double t1, std::size_t columns);

/// Up to about `target` round tick values (1, 2 or 5 × 10^k apart) inside [lo, hi]; empty unless lo < hi.
std::vector<double> nice_ticks(double lo, double hi, std::size_t target);

}  // namespace kalmanscan::viz
