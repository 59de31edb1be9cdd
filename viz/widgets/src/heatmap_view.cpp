#include "kalmanscan/viz/widgets/heatmap_view.hpp"

#include <QPainter>
#include <QPolygonF>
#include <algorithm>
#include <array>
#include <cmath>

#include "kalmanscan/viz/frame.hpp"

namespace kalmanscan::viz {

QColor heat_colour(double u) {
  static constexpr std::array<std::array<int, 3>, 5> stops = {
      {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}}};
  u = std::clamp(std::isfinite(u) ? u : 0.0, 0.0, 1.0) * (stops.size() - 1);
  const std::size_t i = std::min(static_cast<std::size_t>(u), stops.size() - 2);
  const double f = u - static_cast<double>(i);
  const auto mix = [&](int c) { return static_cast<int>(std::lround(stops[i][c] + f * (stops[i + 1][c] - stops[i][c]))); };
  return QColor(mix(0), mix(1), mix(2));
}

namespace {

constexpr int left = 60, right = 70, top = 22, strip = 110, gap = 26;

QString label(double v) { return QString::number(v, 'g', 4); }

}  // namespace

void paint_heatmap(QPainter& p, const QRect& area, const KlaHeatmap& map) {
  p.fillRect(area, Qt::white);
  p.setPen(Qt::black);
  p.drawText(QPointF(area.left() + left, area.top() + 15), QString::fromStdString(map.title));
  if (map.tokens == 0 || map.channels == 0) return;
  const QRect heat(area.left() + left, area.top() + top, std::max(1, area.width() - left - right),
                   std::max(1, area.height() - top - strip - gap - 20));
  const QRect line(heat.left(), heat.bottom() + gap, heat.width(), strip);
  // Colour scale: log10 of the variance over the positive values.
  double lo = INFINITY, hi = -INFINITY;
  for (float v : map.y_var)
    if (v > 0) {
      lo = std::min(lo, std::log10(double(v)));
      hi = std::max(hi, std::log10(double(v)));
    }
  if (!(lo <= hi)) lo = hi = 0;
  if (hi == lo) hi = lo + 1;
  // One image column per pixel at most: max over the tokens a column covers.
  const int cols = static_cast<int>(std::min<std::size_t>(map.tokens, static_cast<std::size_t>(heat.width())));
  QImage image(cols, static_cast<int>(map.channels), QImage::Format_RGB32);
  for (int c = 0; c < cols; ++c) {
    const std::size_t t0 = map.tokens * static_cast<std::size_t>(c) / static_cast<std::size_t>(cols);
    const std::size_t t1 = std::max(t0 + 1, map.tokens * static_cast<std::size_t>(c + 1) / static_cast<std::size_t>(cols));
    for (std::size_t m = 0; m < map.channels; ++m) {
      float v = 0;
      for (std::size_t t = t0; t < t1; ++t) v = std::max(v, map.y_var[t * map.channels + m]);
      const double u = v > 0 ? (std::log10(double(v)) - lo) / (hi - lo) : 0.0;
      image.setPixel(c, static_cast<int>(m), heat_colour(u).rgb());
    }
  }
  p.drawImage(heat, image);  // scaled without smoothing: each cell stays a flat block
  p.setPen(Qt::darkGray);
  p.drawRect(QRectF(heat).adjusted(-0.5, -0.5, 0.5, 0.5));
  p.setPen(Qt::black);
  p.drawText(QRect(area.left(), heat.top(), left - 6, heat.height()), Qt::AlignRight | Qt::AlignVCenter,
             QStringLiteral("channel\n0 … %1").arg(map.channels - 1));
  // Colour bar.
  const QRect bar(heat.right() + 12, heat.top(), 14, heat.height());
  for (int y = 0; y < bar.height(); ++y) {
    p.setPen(heat_colour(1.0 - double(y) / std::max(1, bar.height() - 1)));
    p.drawLine(bar.left(), bar.top() + y, bar.right(), bar.top() + y);
  }
  p.setPen(Qt::black);
  p.drawText(QPointF(bar.right() + 4, bar.top() + 10), label(std::pow(10.0, hi)));
  p.drawText(QPointF(bar.right() + 4, bar.bottom()), label(std::pow(10.0, lo)));
  p.drawText(QPointF(heat.left(), heat.bottom() + 16),
             QStringLiteral("token 0 … %1   colour: y_var (log scale)").arg(map.tokens - 1));
  // Per-token line.
  const auto [mn, mx] = std::minmax_element(map.per_token.begin(), map.per_token.end());
  double ylo = *mn, yhi = *mx;
  if (yhi == ylo) yhi = ylo + 1;
  p.setPen(QPen(Qt::darkGray, 1));
  p.drawRect(QRectF(line).adjusted(-0.5, -0.5, 0.5, 0.5));
  QPolygonF poly;
  for (std::size_t t = 0; t < map.tokens; ++t) {
    const double x = line.left() + (double(t) + 0.5) / double(map.tokens) * line.width();
    poly << QPointF(x, line.bottom() - (map.per_token[t] - ylo) / (yhi - ylo) * (line.height() - 1));
  }
  p.setPen(QPen(QColor(20, 70, 170), 2));
  p.drawPolyline(poly);
  p.setPen(Qt::black);
  p.drawText(QPointF(area.left() + 4, line.top() + 10), label(yhi));
  p.drawText(QPointF(area.left() + 4, line.bottom()), label(ylo));
  p.drawText(QPointF(line.left() + 4, line.top() + 14), QStringLiteral("mean state variance per token"));
}

HeatmapView::HeatmapView(QWidget* parent) : QWidget(parent) { setMinimumSize(320, 300); }

void HeatmapView::set_heatmap(KlaHeatmap map) {
  map_ = std::move(map);
  update();
}

void HeatmapView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  if (map_) {
    paint_heatmap(p, rect(), *map_);
  } else {
    p.fillRect(rect(), Qt::white);
    p.drawText(rect(), Qt::AlignCenter, QStringLiteral("open a KLA uncertainty export (kalmanscan-train --export-uncertainty)"));
  }
}

}  // namespace kalmanscan::viz
