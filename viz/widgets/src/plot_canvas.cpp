#include "kalmanscan/viz/widgets/plot_canvas.hpp"

#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>

#include "kalmanscan/viz/frame.hpp"
#include "kalmanscan/viz/widgets/plot_painter.hpp"

namespace kalmanscan::viz {

namespace {
constexpr int min_frame_ms = 16;  // ≤ 60 redraws per second
}

PlotCanvas::PlotCanvas(SeriesSet& series, QWidget* parent) : QWidget(parent), data_(series) {
  setMinimumSize(320, 200);
  setMouseTracking(false);
  redraw_.setSingleShot(true);
  connect(&redraw_, &QTimer::timeout, this, &PlotCanvas::refresh);
  since_paint_.start();
}

void PlotCanvas::notify_data_changed() {
  // One queued call however many notifications arrive before the UI thread runs it.
  if (pending_.exchange(true)) return;
  QMetaObject::invokeMethod(this, &PlotCanvas::on_data_changed, Qt::QueuedConnection);
}

void PlotCanvas::on_data_changed() {
  pending_ = false;
  if (paused_) {
    dirty_ = true;
    return;
  }
  if (redraw_.isActive()) return;
  redraw_.start(std::max<qint64>(0, min_frame_ms - since_paint_.elapsed()));
}

void PlotCanvas::refresh() {
  if (!have_window_) {
    fit_all();
    return;
  }
  if (follow_) {
    std::pair<double, double> extent;
    bool any = false;
    {
      auto lock = data_.lock();
      any = lock.count() > 0;
      extent = time_extent(lock);
    }
    if (any) {
      // The newest sample sits just inside the right edge. Until the user picks a width, the
      // window grows to show everything; afterwards it keeps the user's width.
      const double width = user_width_ ? t1_ - t0_ : std::max(t1_ - t0_, (extent.second - extent.first) / 0.97);
      apply_window(extent.second - width * 0.98, extent.second + width * 0.02);
      return;
    }
  }
  update();
}

void PlotCanvas::apply_window(double t0, double t1) {
  if (!(t0 < t1) || !std::isfinite(t0) || !std::isfinite(t1)) return;
  t0_ = t0;
  t1_ = t1;
  have_window_ = true;
  emit window_changed(t0_, t1_);
  update();
}

void PlotCanvas::set_window(double t0, double t1) {
  user_width_ = true;
  set_follow(false);
  apply_window(t0, t1);
}

void PlotCanvas::fit_all() {
  std::pair<double, double> extent;
  {
    auto lock = data_.lock();
    if (lock.count() == 0) return;
    extent = time_extent(lock);
  }
  double lo = extent.first, hi = extent.second;
  if (!(lo < hi)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const double pad = (hi - lo) * 0.01;
  apply_window(lo - pad, hi + pad);
}

void PlotCanvas::set_follow(bool on) {
  if (follow_ == on) return;
  follow_ = on;
  emit follow_changed(on);
  if (on) refresh();
}

void PlotCanvas::set_paused(bool on) {
  paused_ = on;
  if (!on && dirty_) {
    dirty_ = false;
    refresh();
  }
}

void PlotCanvas::set_panel_filter(std::function<bool(const std::string& panel)> shown) {
  shown_ = std::move(shown);
  update();
}

void PlotCanvas::paint_to(QPainter& painter, const QRect& area) {
  std::vector<PanelFrame> frames;
  {
    auto lock = data_.lock();  // held only while decimating
    frames = build_frames(lock, t0_, t1_, static_cast<std::size_t>(plot_columns(area, style_)));
  }
  if (shown_) std::erase_if(frames, [this](const PanelFrame& f) { return !shown_(f.panel); });
  painted_.clear();
  for (const PanelFrame& f : frames) painted_.push_back(f.panel);
  paint_panels(painter, area, frames, t0_, t1_, style_);
}

void PlotCanvas::paintEvent(QPaintEvent*) {
  QPainter painter(this);
  paint_to(painter, rect());
  ++paints_;
  since_paint_.restart();
}

QImage PlotCanvas::render_image() {
  QImage image(size(), QImage::Format_RGB32);
  QPainter painter(&image);
  paint_to(painter, image.rect());
  return image;
}

void PlotCanvas::wheelEvent(QWheelEvent* e) {
  const double steps = e->angleDelta().y() / 120.0;
  if (steps == 0) return;
  const double factor = std::pow(0.8, steps);
  const double left = style_.left_margin, width = plot_columns(rect(), style_);
  const double frac = std::clamp((e->position().x() - left) / width, 0.0, 1.0);
  const double anchor = t0_ + frac * (t1_ - t0_);
  user_width_ = true;
  // Following keeps the right edge live; zooming only changes the width.
  if (follow_) {
    const double w = (t1_ - t0_) * factor;
    apply_window(t1_ - w, t1_);
  } else {
    apply_window(anchor - (anchor - t0_) * factor, anchor + (t1_ - anchor) * factor);
  }
  e->accept();
}

void PlotCanvas::mousePressEvent(QMouseEvent* e) {
  if (e->button() != Qt::LeftButton) return;
  dragging_ = true;
  drag_x_ = e->position().x();
  drag_t0_ = t0_;
  drag_t1_ = t1_;
}

void PlotCanvas::mouseMoveEvent(QMouseEvent* e) {
  if (!dragging_) return;
  const double dt = (e->position().x() - drag_x_) / plot_columns(rect(), style_) * (drag_t1_ - drag_t0_);
  set_follow(false);
  apply_window(drag_t0_ - dt, drag_t1_ - dt);
}

void PlotCanvas::mouseReleaseEvent(QMouseEvent*) { dragging_ = false; }

void PlotCanvas::mouseDoubleClickEvent(QMouseEvent*) {
  set_follow(false);
  fit_all();
}

}  // namespace kalmanscan::viz
