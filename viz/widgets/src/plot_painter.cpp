#include "kalmanscan/viz/widgets/plot_painter.hpp"

#include <QPolygonF>
#include <algorithm>
#include <cmath>

namespace kalmanscan::viz {

double PanelGeometry::x(double t) const { return plot.left() + (t - t0) / (t1 - t0) * plot.width(); }
double PanelGeometry::y(double v) const { return plot.top() + (y_max - v) / (y_max - y_min) * plot.height(); }
double PanelGeometry::t_at(double px) const { return t0 + (px - plot.left()) / plot.width() * (t1 - t0); }

namespace {

bool nis_only(const PanelFrame& f) {
  return !f.layers.empty() &&
         std::all_of(f.layers.begin(), f.layers.end(), [](const Layer& l) { return l.role == Role::nis; });
}

// One drawn point per element: the centre of its pixel column, or the exact time of a
// neighbour outside the range.
struct Point {
  double x;
  const Aggregate* a;
};

std::vector<Point> points_of(const Decimated& d, const PanelGeometry& g) {
  std::vector<Point> pts;
  if (d.before) pts.push_back({g.x(d.before->t_last), &*d.before});
  for (std::size_t c = 0; c < d.columns.size(); ++c)
    if (d.columns[c].count > 0) pts.push_back({g.plot.left() + static_cast<double>(c) + 0.5, &d.columns[c]});
  if (d.after) pts.push_back({g.x(d.after->t_first), &*d.after});
  return pts;
}

// Filled band between each point's min of channel `lo` and max of channel `hi`.
void fill_band(QPainter& p, const std::vector<Point>& pts, const PanelGeometry& g, std::size_t lo, std::size_t hi,
               const QColor& colour) {
  if (pts.empty()) return;
  QPolygonF poly;
  poly.reserve(static_cast<qsizetype>(2 * pts.size() + 2));
  for (const Point& q : pts) poly << QPointF(q.x, g.y(q.a->max[hi]));
  for (auto it = pts.rbegin(); it != pts.rend(); ++it) poly << QPointF(it->x, g.y(it->a->min[lo]));
  if (pts.size() == 1) {  // a lone sample: a one-pixel-wide bar
    poly = QPolygonF(QRectF(QPointF(pts[0].x - 0.5, g.y(pts[0].a->max[hi])), QPointF(pts[0].x + 0.5, g.y(pts[0].a->min[lo]))));
  }
  p.setPen(Qt::NoPen);
  p.setBrush(colour);
  p.drawPolygon(poly);
}

// A line through every point's min and max of channel `ch` (a vertical stroke where a column spans a range).
void draw_line(QPainter& p, const std::vector<Point>& pts, const PanelGeometry& g, std::size_t ch, const QColor& colour,
               int width) {
  QPolygonF line;
  line.reserve(static_cast<qsizetype>(2 * pts.size()));
  for (const Point& q : pts) {
    line << QPointF(q.x, g.y(q.a->min[ch]));
    if (q.a->max[ch] != q.a->min[ch]) line << QPointF(q.x, g.y(q.a->max[ch]));
  }
  QPen pen(colour, width);
  pen.setCapStyle(Qt::FlatCap);
  pen.setJoinStyle(Qt::MiterJoin);
  p.setPen(pen);
  p.setBrush(Qt::NoBrush);
  if (line.size() == 1)
    p.drawPoint(line[0]);
  else
    p.drawPolyline(line);
}

void draw_points(QPainter& p, const std::vector<Point>& pts, const PanelGeometry& g, const QColor& colour, int size) {
  p.setPen(Qt::NoPen);
  p.setBrush(colour);
  const double h = size / 2.0;
  for (const Point& q : pts) {
    p.drawRect(QRectF(q.x - h, g.y(q.a->min[0]) - h, size, size));
    if (q.a->max[0] != q.a->min[0]) p.drawRect(QRectF(q.x - h, g.y(q.a->max[0]) - h, size, size));
  }
}

QString label(double v) { return QString::number(v, 'g', 6); }

void paint_panel(QPainter& p, const PanelFrame& f, const PanelGeometry& g, const PlotStyle& s) {
  const std::vector<double> yticks = nice_ticks(g.y_min, g.y_max, std::max(2, g.plot.height() / 40));
  const std::vector<double> tticks = nice_ticks(g.t0, g.t1, std::max(2, g.plot.width() / 110));
  p.setClipRect(g.plot);
  p.setPen(QPen(s.grid, 1));
  for (double v : yticks) p.drawLine(QPointF(g.plot.left(), std::floor(g.y(v)) + 0.5), QPointF(g.plot.right() + 1, std::floor(g.y(v)) + 0.5));
  for (double t : tticks) p.drawLine(QPointF(std::floor(g.x(t)) + 0.5, g.plot.top()), QPointF(std::floor(g.x(t)) + 0.5, g.plot.bottom() + 1));
  for (const Layer& layer : f.layers) {
    const std::vector<Point> pts = points_of(layer.data, g);
    switch (layer.role) {
      case Role::filtered:
      case Role::smoothed: {
        const EstimateColours& c = layer.role == Role::filtered ? s.filtered : s.smoothed;
        fill_band(p, pts, g, lower2, upper2, c.band2);
        fill_band(p, pts, g, lower1, upper1, c.band1);
        draw_line(p, pts, g, mean, c.mean, s.mean_width);
        break;
      }
      case Role::measured: draw_points(p, pts, g, s.measurement, s.point_size); break;
      case Role::nis: draw_line(p, pts, g, 0, s.nis, 1); break;
    }
  }
  p.setClipping(false);
  p.setPen(QPen(s.axis, 1));
  p.setBrush(Qt::NoBrush);
  p.drawRect(QRectF(g.plot).adjusted(-0.5, -0.5, 0.5, 0.5));
  p.setPen(s.text);
  const QFontMetrics fm = p.fontMetrics();
  for (double v : yticks) {
    const QString text = label(v);
    p.drawText(QPointF(g.plot.left() - 6 - fm.horizontalAdvance(text), g.y(v) + fm.ascent() / 2.0 - 1), text);
  }
  QString title = QString::fromStdString(f.panel);
  if (!f.has_data) title += QStringLiteral("  (no data in view)");
  p.drawText(QPointF(g.plot.left(), g.outer.top() + fm.ascent()), title);
}

}  // namespace

int plot_columns(const QRect& area, const PlotStyle& style) {
  return std::max(1, area.width() - style.left_margin - style.right_margin);
}

std::vector<PanelGeometry> layout_panels(const QRect& area, const std::vector<PanelFrame>& frames, double t0,
                                         double t1, const PlotStyle& s) {
  std::vector<PanelGeometry> out;
  if (frames.empty()) return out;
  const int n = static_cast<int>(frames.size());
  const int strips = static_cast<int>(std::count_if(frames.begin(), frames.end(), nis_only));
  const int others = n - strips;
  const int usable = area.height() - s.time_axis_height - (n - 1) * s.panel_gap;
  const int strip_h = others == 0 ? usable / std::max(1, strips) : std::min(s.nis_panel_height, usable / n);
  const int other_h = others == 0 ? 0 : (usable - strips * strip_h) / others;
  int top = area.top();
  for (const PanelFrame& f : frames) {
    PanelGeometry g;
    const int h = nis_only(f) ? strip_h : other_h;
    g.outer = QRect(area.left(), top, area.width(), h);
    g.plot = QRect(area.left() + s.left_margin, top + s.title_height, plot_columns(area, s),
                   std::max(1, h - s.title_height));
    g.t0 = t0;
    g.t1 = t1;
    g.y_min = f.y_min;
    g.y_max = f.y_max;
    out.push_back(g);
    top += h + s.panel_gap;
  }
  return out;
}

void paint_panels(QPainter& p, const QRect& area, const std::vector<PanelFrame>& frames, double t0, double t1,
                  const PlotStyle& s) {
  p.fillRect(area, s.background);
  p.setRenderHint(QPainter::Antialiasing, false);
  const std::vector<PanelGeometry> geometry = layout_panels(area, frames, t0, t1, s);
  for (std::size_t i = 0; i < frames.size(); ++i) paint_panel(p, frames[i], geometry[i], s);
  if (geometry.empty()) {
    p.setPen(s.text);
    p.drawText(area, Qt::AlignCenter, QStringLiteral("no data"));
    return;
  }
  // The shared time axis under the last panel.
  const PanelGeometry& last = geometry.back();
  const QFontMetrics fm = p.fontMetrics();
  p.setPen(s.text);
  for (double t : nice_ticks(t0, t1, std::max(2, last.plot.width() / 110))) {
    const QString text = label(t);
    p.drawText(QPointF(last.x(t) - fm.horizontalAdvance(text) / 2.0, last.plot.bottom() + 4 + fm.ascent()), text);
  }
  const QString unit = QStringLiteral("t [s]");
  p.drawText(QPointF(area.left() + 4, last.plot.bottom() + 4 + fm.ascent()), unit);
}

}  // namespace kalmanscan::viz
