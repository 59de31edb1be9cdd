// Paints decimated panels (kalmanscan/viz/frame.hpp) with QPainter: per panel the ±2σ and ±1σ
// bands as filled polygons (custom geometry, no Qt Charts), the mean as a polyline through each
// column's min and max, measurements as points, the NIS strip as a line; grid, value labels,
// and a shared time axis. Pure functions of their arguments: the same code paints widgets,
// PNG snapshots and the offscreen tests.
#pragma once

#include <QPainter>
#include <QRect>
#include <vector>

#include "kalmanscan/viz/frame.hpp"
#include "kalmanscan/viz/widgets/plot_style.hpp"

namespace kalmanscan::viz {

/// Where one panel is drawn and how data maps onto it: x(t) = left + (t − t0)/(t1 − t0)·width,
/// y(v) = bottom − (v − y_min)/(y_max − y_min)·height (pixel centres of a W-pixel-wide plot:
/// column c's interval [column_edge(c), column_edge(c+1)) maps onto pixel left + c).
struct PanelGeometry {
  QRect outer;  ///< the panel, title included
  QRect plot;   ///< the data area
  double t0 = 0, t1 = 1, y_min = 0, y_max = 1;
  double x(double t) const;
  double y(double v) const;
  double t_at(double x) const;
};

/// Splits `area` into one rectangle per panel, top to bottom: NIS-only panels get
/// style.nis_panel_height, the others share the rest; the last leaves room for the time axis.
std::vector<PanelGeometry> layout_panels(const QRect& area, const std::vector<PanelFrame>& frames, double t0,
                                         double t1, const PlotStyle& style);

/// The plot width in pixels (= decimation columns) that layout_panels gives for `area`.
int plot_columns(const QRect& area, const PlotStyle& style);

/// Paints `frames` into `area` (background, grid, layers, labels, time axis).
void paint_panels(QPainter& painter, const QRect& area, const std::vector<PanelFrame>& frames, double t0, double t1,
                  const PlotStyle& style);

}  // namespace kalmanscan::viz
