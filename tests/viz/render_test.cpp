// Offscreen rendering of a known synthetic estimate, checked pixel by pixel: at a sample's
// column the pixel at its mean has the mean colour, pixels inside ±1σ (away from the mean line)
// the ±1σ band colour, between 1σ and 2σ the ±2σ band colour, beyond 2σ the background (or a grid
// line); a measurement's pixel has the measurement colour. Expected positions come from the
// sample values and the documented axis mapping, not from the painter's internals.
#include <gtest/gtest.h>

#include <QApplication>
#include <QImage>
#include <QPainter>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "kalmanscan/viz/frame.hpp"
#include "kalmanscan/viz/widgets/plot_painter.hpp"
#include "kalmanscan/viz/widgets/plot_style.hpp"

namespace kalmanscan::viz {
namespace {

// One QApplication for the whole binary, created before the first test and destroyed before
// main() returns (a function-local static would be destroyed after Qt's own statics and crash).
class QtEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    app_ = std::make_unique<QApplication>(argc_, argv_);
  }
  void TearDown() override { app_.reset(); }

 private:
  int argc_ = 1;
  char name_[21] = "kalmanscan_viz_tests";
  char* argv_[2] = {name_, nullptr};
  std::unique_ptr<QApplication> app_;
};

[[maybe_unused]] ::testing::Environment* const qt_environment = ::testing::AddGlobalTestEnvironment(new QtEnvironment);

struct Truth {
  double t, mean, sigma;
};

std::vector<Truth> synthetic(int n) {
  std::vector<Truth> out;
  for (int i = 0; i < n; ++i) {
    const double t = 0.01 * i;
    out.push_back({t, std::sin(2 * t), 0.3 + 0.1 * std::cos(3 * t)});
  }
  return out;
}

std::string rgb(QRgb c) { return QString("(%1,%2,%3)").arg(qRed(c)).arg(qGreen(c)).arg(qBlue(c)).toStdString(); }

TEST(Render, BandsMeanAndMeasurementsLandOnTheirPixels) {
  const auto truth = synthetic(1000);
  SeriesSet set;
  {
    auto lock = set.lock();
    const auto f = lock.get_or_add("position", Role::filtered);
    const auto m = lock.get_or_add("position", Role::measured);
    for (const auto& x : truth) lock.series(f).append(x.t, x.mean, x.sigma);
    lock.series(m).append(truth[500].t, truth[500].mean + 3 * truth[500].sigma);  // one outlier measurement
  }
  const PlotStyle style;
  const QRect area(0, 0, 900, 520);
  const double t0 = -0.5, t1 = 10.5;
  std::vector<PanelFrame> frames;
  {
    auto lock = set.lock();
    frames = build_frames(lock, t0, t1, static_cast<std::size_t>(plot_columns(area, style)));
  }
  QImage image(area.size(), QImage::Format_RGB32);
  {
    QPainter painter(&image);
    paint_panels(painter, area, frames, t0, t1, style);
  }
  const auto geometry = layout_panels(area, frames, t0, t1, style);
  ASSERT_EQ(geometry.size(), 1u);
  const PanelGeometry& g = geometry[0];
  // The value axis spans every ±2σ edge in view (the outlier point included), padded by 5%.
  double lo = 1e300, hi = -1e300;
  for (const auto& x : truth) {
    lo = std::min(lo, x.mean - 2 * x.sigma);
    hi = std::max(hi, x.mean + 2 * x.sigma);
  }
  hi = std::max(hi, truth[500].mean + 3 * truth[500].sigma);
  EXPECT_NEAR(g.y_min, lo - 0.05 * (hi - lo), 1e-12);
  EXPECT_NEAR(g.y_max, hi + 0.05 * (hi - lo), 1e-12);

  const auto pixel = [&](double t, double v) {
    const int px = static_cast<int>(std::floor(g.plot.left() + (t - t0) / (t1 - t0) * g.plot.width()));
    const int py = static_cast<int>(std::floor(g.plot.top() + (g.y_max - v) / (g.y_max - g.y_min) * g.plot.height()));
    return QPoint(px, py);
  };
  const QRgb background = style.background.rgb(), grid = style.grid.rgb();
  int outside_checked = 0;
  for (int i = 20; i < 1000; i += 37) {
    const Truth& x = truth[i];
    const std::string at = "sample " + std::to_string(i) + " t=" + std::to_string(x.t);
    const QPoint on_mean = pixel(x.t, x.mean);
    EXPECT_EQ(rgb(image.pixel(on_mean)), rgb(style.filtered.mean.rgb())) << at << " mean";
    for (double k : {-0.6, 0.6}) {
      EXPECT_EQ(rgb(image.pixel(pixel(x.t, x.mean + k * x.sigma))), rgb(style.filtered.band1.rgb())) << at << " k=" << k;
    }
    for (double k : {-1.5, 1.5}) {
      EXPECT_EQ(rgb(image.pixel(pixel(x.t, x.mean + k * x.sigma))), rgb(style.filtered.band2.rgb())) << at << " k=" << k;
    }
    for (double k : {-2.6, 2.6}) {
      const QPoint p = pixel(x.t, x.mean + k * x.sigma);
      if (!g.plot.contains(p) || i == 500) continue;
      const QRgb c = image.pixel(p);
      EXPECT_TRUE(c == background || c == grid) << at << " k=" << k << " found " << rgb(c);
      ++outside_checked;
    }
  }
  EXPECT_GT(outside_checked, 20);
  EXPECT_EQ(rgb(image.pixel(pixel(truth[500].t, truth[500].mean + 3 * truth[500].sigma))), rgb(style.measurement.rgb()));
  // Left of the first sample there is no data: background.
  const QRgb before = image.pixel(pixel(-0.3, 0.37));
  EXPECT_TRUE(before == background || before == grid) << rgb(before);
}

}  // namespace
}  // namespace kalmanscan::viz
