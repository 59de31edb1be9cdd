// The time-series view: every panel of a SeriesSet stacked on one linked time axis.
//
// Redraws are driven by data changes, not by a free-running timer: notify_data_changed() (any
// thread) coalesces into one queued call, which starts a single-shot timer so repaints happen at
// most every 1/60 s while data flows and never while nothing changes (≈ zero CPU when idle).
// Painting takes the SeriesSet lock only to decimate the visible range (series_set.hpp's rule).
//
// Mouse: wheel zooms the time axis around the cursor, dragging pans it (and leaves follow-live),
// double-click fits all data. Follow-live keeps the newest sample at the right edge with the
// window width the user chose (until they zoom, the window grows to show all data). Pause stops
// redraws on new data (ingest continues; zoom and pan still work on what was received); resume
// catches up. A panel filter leaves panels out of the picture (the live view's stream list): their
// data stays in the set and keeps being ingested and decimated; showing them again redraws them.
#pragma once

#include <QElapsedTimer>
#include <QTimer>
#include <QWidget>
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "kalmanscan/viz/series_set.hpp"
#include "kalmanscan/viz/widgets/plot_style.hpp"

namespace kalmanscan::viz {

class PlotCanvas : public QWidget {
  Q_OBJECT
 public:
  /// `series` must outlive the canvas.
  explicit PlotCanvas(SeriesSet& series, QWidget* parent = nullptr);

  /// Thread-safe: schedules a redraw (coalesced, ≤ 60 Hz). Hook it to SeriesSet::on_change.
  void notify_data_changed();

  double t0() const { return t0_; }
  double t1() const { return t1_; }
  /// Shows [t0, t1); leaves follow-live. Ignored unless t0 < t1.
  void set_window(double t0, double t1);
  /// Fits the window to all data (a unit window around a lone timestamp).
  void fit_all();
  bool following() const { return follow_; }
  bool paused() const { return paused_; }
  const PlotStyle& style() const { return style_; }
  /// Paints the current view into an image of the widget's size (PNG snapshots, tests).
  QImage render_image();
  /// Draws only the panels for which `shown(panel)` is true (all of them when it is empty), then redraws.
  void set_panel_filter(std::function<bool(const std::string& panel)> shown);
  /// The filter set_panel_filter() set (empty: every panel is shown).
  const std::function<bool(const std::string&)>& panel_filter() const { return shown_; }
  /// The panels the last paint drew, top to bottom.
  const std::vector<std::string>& painted_panels() const { return painted_; }
  /// Repaints counted since construction (tests check that idle means no repaint).
  std::uint64_t paint_count() const { return paints_; }

 public slots:
  void set_follow(bool on);
  void set_paused(bool on);

 signals:
  void window_changed(double t0, double t1);
  void follow_changed(bool on);

 protected:
  void paintEvent(QPaintEvent*) override;
  void wheelEvent(QWheelEvent*) override;
  void mousePressEvent(QMouseEvent*) override;
  void mouseMoveEvent(QMouseEvent*) override;
  void mouseReleaseEvent(QMouseEvent*) override;
  void mouseDoubleClickEvent(QMouseEvent*) override;

 private:
  void on_data_changed();
  void refresh();
  void paint_to(QPainter& painter, const QRect& area);
  void apply_window(double t0, double t1);

  SeriesSet& data_;
  PlotStyle style_;
  QTimer redraw_;
  QElapsedTimer since_paint_;
  std::atomic<bool> pending_{false};
  bool dirty_ = false;       // data changed while paused
  bool have_window_ = false;  // false until the first data arrived: then fit
  bool follow_ = false, paused_ = false;
  bool user_width_ = false;   // the user zoomed or set a window: follow-live keeps that width
  double t0_ = 0, t1_ = 1;
  bool dragging_ = false;
  double drag_x_ = 0, drag_t0_ = 0, drag_t1_ = 0;
  std::uint64_t paints_ = 0;
  std::function<bool(const std::string&)> shown_;
  std::vector<std::string> painted_;
};

}  // namespace kalmanscan::viz
