// The plot canvas's behaviour on an offscreen widget: it repaints only when data changes (at most
// one frame per 16 ms, none while idle); and its interaction, driven by real Qt events: the wheel zooms
// the time axis around the cursor, dragging pans (and leaves follow-live), follow-live keeps the
// newest sample at the right edge with the user's width, pause holds the picture while data
// keeps arriving and resume catches up, double-click fits everything. Expected windows follow
// from the documented mapping (x = left margin + fraction of the plot's width), not the code.
// (The QApplication comes from render_test.cpp's environment: one per test binary.)
#include <gtest/gtest.h>

#include <QApplication>
#include <QElapsedTimer>
#include <QMouseEvent>
#include <QWheelEvent>

#include "kalmanscan/viz/widgets/plot_canvas.hpp"
#include "kalmanscan/viz/widgets/plot_painter.hpp"

namespace kalmanscan::viz {
namespace {

void spin(int ms) {
  QElapsedTimer t;
  t.start();
  while (t.elapsed() < ms) QApplication::processEvents(QEventLoop::AllEvents, 5);
}

void append(SeriesSet& set, double t) {
  auto lock = set.lock();
  lock.series(lock.get_or_add("x", Role::filtered)).append(t, 1, 0.5);
  lock.changed();
}

// A shown 640×400 canvas redrawn on every change of its set.
class Canvas : public ::testing::Test {
 protected:
  Canvas() {
    set.on_change([this] { canvas.notify_data_changed(); });
    canvas.resize(640, 400);
    canvas.show();
  }
  ~Canvas() override { set.on_change({}); }
  SeriesSet set;
  PlotCanvas canvas{set};
};

TEST_F(Canvas, RepaintsOnlyWhenDataChanges) {
  append(set, 0);
  spin(100);
  const auto after_first = canvas.paint_count();
  EXPECT_GE(after_first, 1u);
  spin(300);
  EXPECT_EQ(canvas.paint_count(), after_first) << "an idle view must not repaint";
  // A burst of changes is coalesced into a few frames (at most one per 16 ms).
  QElapsedTimer burst;
  burst.start();
  for (int i = 1; i <= 200; ++i) append(set, i * 0.01);
  spin(100);
  const auto frames = canvas.paint_count() - after_first;
  EXPECT_GE(frames, 1u);
  EXPECT_LE(frames, static_cast<std::uint64_t>(burst.elapsed() / 16 + 2));
  // Follow-live moves the window with the data.
  canvas.set_follow(true);
  append(set, 100);
  spin(100);
  EXPECT_GT(canvas.t1(), 100.0);
  EXPECT_LT(canvas.t0(), 100.0);
}

TEST_F(Canvas, ZoomPanFollowPauseAndFit) {
  for (int i = 0; i <= 100; ++i) append(set, i);
  spin(100);
  EXPECT_LT(canvas.t0(), 0.0) << "the first data is fitted";
  EXPECT_GT(canvas.t1(), 100.0);

  const double left = canvas.style().left_margin, width = plot_columns(canvas.rect(), canvas.style());
  const auto x_of = [&](double t) { return left + (t - canvas.t0()) / (canvas.t1() - canvas.t0()) * width; };

  // One wheel notch (120) zooms in by 0.8 around the time under the cursor.
  canvas.set_window(0, 100);
  const QPointF at(x_of(50), 100);
  QWheelEvent wheel(at, canvas.mapToGlobal(at), QPoint(), QPoint(0, 120), Qt::NoButton, Qt::NoModifier,
                    Qt::NoScrollPhase, false);
  QApplication::sendEvent(&canvas, &wheel);
  EXPECT_NEAR(canvas.t0(), 10.0, 1e-9);
  EXPECT_NEAR(canvas.t1(), 90.0, 1e-9);

  // Dragging a quarter of the plot's width to the right shows what was a quarter window (20)
  // earlier, and leaves follow-live (which first moved the window to the newest data).
  canvas.set_follow(true);
  const double before0 = canvas.t0(), before1 = canvas.t1();
  EXPECT_NEAR(before1 - before0, 80.0, 1e-9) << "follow-live keeps the zoomed width";
  const QPointF from(left + 100, 100), to(left + 100 + width / 4, 100);
  QMouseEvent press(QEvent::MouseButtonPress, from, canvas.mapToGlobal(from), Qt::LeftButton, Qt::LeftButton,
                    Qt::NoModifier);
  QMouseEvent move(QEvent::MouseMove, to, canvas.mapToGlobal(to), Qt::NoButton, Qt::LeftButton, Qt::NoModifier);
  QMouseEvent release(QEvent::MouseButtonRelease, to, canvas.mapToGlobal(to), Qt::LeftButton, Qt::NoButton,
                      Qt::NoModifier);
  for (QMouseEvent* e : {&press, &move, &release}) QApplication::sendEvent(&canvas, e);
  EXPECT_NEAR(canvas.t0(), before0 - 20.0, 1e-9);
  EXPECT_NEAR(canvas.t1(), before1 - 20.0, 1e-9);
  EXPECT_FALSE(canvas.following()) << "panning leaves follow-live";

  // Follow-live: the newest sample near the right edge, the user's width (80) kept.
  canvas.set_follow(true);
  append(set, 200);
  spin(100);
  EXPECT_NEAR(canvas.t1() - canvas.t0(), 80.0, 1e-9);
  EXPECT_GT(canvas.t1(), 200.0);
  EXPECT_LT(canvas.t1(), 200.0 + 0.05 * 80);

  // Pause: data keeps arriving (and is kept) but the view neither moves nor repaints.
  canvas.set_paused(true);
  spin(50);
  const auto paints = canvas.paint_count();
  const double t1_paused = canvas.t1();
  for (int i = 1; i <= 50; ++i) append(set, 200 + i);
  spin(150);
  EXPECT_EQ(canvas.paint_count(), paints);
  EXPECT_EQ(canvas.t1(), t1_paused);
  {
    auto lock = set.lock();
    EXPECT_EQ(lock.series(0).size(), 152u);
  }
  // Resume catches up with everything received meanwhile.
  canvas.set_paused(false);
  spin(100);
  EXPECT_GT(canvas.paint_count(), paints);
  EXPECT_GT(canvas.t1(), 250.0);

  // Double-click fits all data and leaves follow-live.
  QMouseEvent dbl(QEvent::MouseButtonDblClick, from, canvas.mapToGlobal(from), Qt::LeftButton, Qt::LeftButton,
                  Qt::NoModifier);
  QApplication::sendEvent(&canvas, &dbl);
  EXPECT_FALSE(canvas.following());
  EXPECT_LT(canvas.t0(), 0.0);
  EXPECT_GT(canvas.t1(), 250.0);
}

}  // namespace
}  // namespace kalmanscan::viz
