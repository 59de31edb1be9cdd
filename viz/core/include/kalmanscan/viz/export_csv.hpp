// The visible range of a view as CSV, at the finest resolution held (nothing interpolated).
#pragma once

#include <functional>
#include <ostream>
#include <string>

#include "kalmanscan/viz/series_set.hpp"

namespace kalmanscan::viz {

/// Writes every series' data in [t0, t1) to `out`, one row per sample or bucket, header
///   panel,role,t,value,sigma,count,t_last,value_min,value_max,lower2_min,upper2_max
/// A sample held in full has count 1, t_last = t, value_min = value_max = value and, for a band,
/// lower2_min = value − 2σ, upper2_max = value + 2σ (empty for a line; sigma empty for a line).
/// A bucket of older, decimated history has t = its first timestamp, value and sigma empty, and
/// the min/max of its samples' values and ±2σ edges. Numbers are written with
/// std::to_chars (shortest round-trip text). With `shown`, only the series of panels it accepts
/// (the panels the view draws). Throws Error when the stream fails.
void write_visible_csv(std::ostream& out, const SeriesSet::Lock& lock, double t0, double t1,
                       const std::function<bool(const std::string& panel)>& shown = {});

}  // namespace kalmanscan::viz
