// The KLA uncertainty heatmap: tokens (x) × channels (y), colour = log10 of the readout variance
// y_var_t[m], with the per-token mean state variance as a line in a strip below, on the same
// token axis. More tokens than pixels are reduced by max per pixel column (the largest
// uncertainty stays visible), like the plots' min/max decimation.
#pragma once

#include <QImage>
#include <QWidget>
#include <optional>

#include "kalmanscan/viz/kla_heatmap.hpp"

namespace kalmanscan::viz {

/// The colour of `u` ∈ [0, 1] on a perceptually ordered dark-blue → yellow scale (viridis stops).
QColor heat_colour(double u);

/// Paints `map` into `area` of `painter` (heatmap, colour bar, per-token strip, labels).
void paint_heatmap(QPainter& painter, const QRect& area, const KlaHeatmap& map);

class HeatmapView : public QWidget {
  Q_OBJECT
 public:
  explicit HeatmapView(QWidget* parent = nullptr);
  void set_heatmap(KlaHeatmap map);
  const std::optional<KlaHeatmap>& heatmap() const { return map_; }

 protected:
  void paintEvent(QPaintEvent*) override;

 private:
  std::optional<KlaHeatmap> map_;
};

}  // namespace kalmanscan::viz
