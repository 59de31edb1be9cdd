// The live view's stream picker against a real stream service on loopback (kalmanscan::net::Server,
// the code `kalmanscan serve` runs): the list shows every stream the server announced, unchecking a
// stream removes its panels from the picture (pixels and the canvas's painted panels) while its
// estimates keep arriving in the set, checking shows it again, and a stream the server closes stays
// listed, marked closed. The list and canvas are wired as the dashboard's window wires them.
// (The QApplication comes from render_test.cpp's environment.)
#include <gtest/gtest.h>

#include <QApplication>
#include <QElapsedTimer>
#include <QImage>
#include <algorithm>
#include <chrono>
#include <thread>

#include "live_server.hpp"
#include "kalmanscan/net/client.hpp"
#include "kalmanscan/viz/live_source.hpp"
#include "kalmanscan/viz/widgets/plot_canvas.hpp"
#include "kalmanscan/viz/widgets/stream_list.hpp"

namespace kalmanscan::viz {
namespace {

using namespace std::chrono_literals;

// Spins the event loop until `done` or 10 s.
template <class F>
bool wait_for(F&& done) {
  QElapsedTimer t;
  t.start();
  while (!done()) {
    if (t.elapsed() > 10000) return false;
    QApplication::processEvents(QEventLoop::AllEvents, 5);
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// Pixels of the filtered ±1σ band colour (plot_style.hpp).
int band_pixels(PlotCanvas& canvas) {
  const QImage image = canvas.render_image();
  int n = 0;
  for (int y = 0; y < image.height(); ++y)
    for (int x = 0; x < image.width(); ++x) n += image.pixel(x, y) == qRgb(140, 175, 235);
  return n;
}

std::vector<std::string> streams_painted(const PlotCanvas& canvas) {
  std::vector<std::string> out;
  for (const std::string& panel : canvas.painted_panels()) out.push_back(stream_of_panel(panel));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

TEST(StreamList, StreamOfAPanelIsTheTextBeforeItsLastSlash) {
  EXPECT_EQ(stream_of_panel("tank/level"), "tank");
  EXPECT_EQ(stream_of_panel("site/a/NIS"), "site/a");
  EXPECT_EQ(stream_of_panel("plain"), "plain");
}

TEST(StreamList, PicksTheStreamsOfARealServer) {
  const auto server = start_cv_server();

  SeriesSet set;
  PlotCanvas canvas(set);
  StreamList list;
  canvas.set_panel_filter([&list](const std::string& panel) { return list.panel_shown(panel); });
  QObject::connect(&list, &StreamList::shown_changed, &canvas, qOverload<>(&QWidget::update));
  canvas.resize(640, 600);
  LiveSource source({.host = "127.0.0.1", .port = server->port(), .poll = 20ms}, set);
  ASSERT_TRUE(wait_for([&] { return source.status().connected || source.status().finished; }));
  ASSERT_TRUE(source.status().connected) << source.status().error;

  net::ClientOptions co;
  co.port = server->port();
  net::Client sender(co);
  const auto alpha = sender.open("alpha"), beta = sender.open("beta");
  std::uint64_t seq = 0;
  const auto feed = [&](std::uint64_t stream_id, int n) {
    for (int i = 0; i < n; ++i, ++seq) {
      proto::LogRecord r;
      r.set_timestamp(0.01 * double(seq));
      r.set_sensor("gps");
      r.add_values(std::sin(0.05 * double(seq)));
      sender.update(stream_id, seq, r);
    }
  };
  feed(alpha.stream_id(), 50);
  feed(beta.stream_id(), 50);
  ASSERT_TRUE(wait_for([&] { return source.status().estimates >= 100; })) << source.status().error;

  // Both announced streams are listed, checked, open; the canvas draws both.
  list.update_streams(source.status().streams, source.status().closed);
  ASSERT_EQ(list.count(), 2);
  EXPECT_EQ(list.item(0)->text(), "alpha");
  EXPECT_EQ(list.item(1)->text(), "beta");
  for (int i = 0; i < 2; ++i) EXPECT_EQ(list.item(i)->checkState(), Qt::Checked);
  canvas.fit_all();
  const int both = band_pixels(canvas);
  EXPECT_GT(both, 2000);
  EXPECT_EQ(canvas.painted_panels().size(), 6u);  // per stream: position, velocity, NIS
  EXPECT_EQ(streams_painted(canvas), (std::vector<std::string>{"alpha", "beta"}));

  // Unchecking alpha (its check box, as a click sets it) leaves only beta's panels.
  list.item(0)->setCheckState(Qt::Unchecked);
  EXPECT_GT(band_pixels(canvas), 2000);
  EXPECT_EQ(canvas.painted_panels().size(), 3u);
  EXPECT_EQ(streams_painted(canvas), std::vector<std::string>{"beta"});
  // Nothing shown: no band anywhere.
  ASSERT_TRUE(list.set_shown("beta", false));
  EXPECT_EQ(band_pixels(canvas), 0);
  EXPECT_TRUE(canvas.painted_panels().empty());

  // A hidden stream keeps being ingested: alpha's 50 more estimates land in the set.
  feed(alpha.stream_id(), 50);
  ASSERT_TRUE(wait_for([&] { return source.status().estimates >= 150; })) << source.status().error;
  {
    auto lock = set.lock();
    const auto id = lock.find("alpha/" + alpha.state_names(0), Role::filtered);
    ASSERT_TRUE(id);
    EXPECT_EQ(lock.series(*id).size(), 100u);
  }
  ASSERT_TRUE(list.set_shown("alpha", true));
  canvas.fit_all();
  EXPECT_GT(band_pixels(canvas), 2000);
  EXPECT_EQ(streams_painted(canvas), std::vector<std::string>{"alpha"});
  EXPECT_FALSE(list.set_shown("gamma", true)) << "not announced";

  // The server closes alpha: it stays listed (marked closed, still shown), beta stays open and hidden.
  sender.close(alpha.stream_id());
  ASSERT_TRUE(wait_for([&] { return !source.status().closed.empty(); })) << source.status().error;
  list.update_streams(source.status().streams, source.status().closed);
  ASSERT_EQ(list.count(), 2);
  EXPECT_TRUE(list.closed("alpha"));
  EXPECT_FALSE(list.closed("beta"));
  EXPECT_EQ(list.item(0)->text(), "alpha (closed)");
  EXPECT_EQ(list.item(0)->checkState(), Qt::Checked);
  EXPECT_EQ(list.item(1)->checkState(), Qt::Unchecked);
  band_pixels(canvas);
  EXPECT_EQ(streams_painted(canvas), std::vector<std::string>{"alpha"});
}

}  // namespace
}  // namespace kalmanscan::viz
