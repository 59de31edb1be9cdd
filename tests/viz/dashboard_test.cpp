// The dashboard's headless mode end to end: the real program opens a model, a log and two
// estimate files, saves a screenshot and the visible range as CSV, and exits 0; live, it follows
// a real `kalmanscan serve` (a separate process on loopback) fed by `kalmanscan send`, and shows
// exactly the estimates `send` received and the measurements it sent; bad input makes it exit 1
// naming the problem.
#include <gtest/gtest.h>

#include <QImage>
#include <QElapsedTimer>
#include <QProcess>
#include <QRegularExpression>
#include <QSet>
#include <QStringList>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "kalmanscan/kla_export.pb.h"
#include "kalmanscan/viz/widgets/heatmap_view.hpp"

namespace {

namespace fs = std::filesystem;

struct Outcome {
  int code;
  std::string err;
};

Outcome dashboard(const QStringList& args) {
  QProcess p;
  auto env = QProcessEnvironment::systemEnvironment();
  env.insert("QT_QPA_PLATFORM", "offscreen");
  p.setProcessEnvironment(env);
  p.start(QStringLiteral(KALMANSCAN_DASHBOARD), args);
  if (!p.waitForFinished(60000)) return {-1, "did not finish"};
  return {p.exitCode(), p.readAllStandardError().toStdString()};
}

// Waits until the process's current read channel has produced text matching `pattern`; returns
// the first capture group, or an empty string after `ms` milliseconds (`seen` keeps what was read).
QString wait_for_line(QProcess& p, const QRegularExpression& pattern, QByteArray& seen, int ms = 20000) {
  QElapsedTimer t;
  t.start();
  while (t.elapsed() < ms) {
    p.waitForReadyRead(100);
    seen += p.readAll();
    if (const auto m = pattern.match(QString::fromUtf8(seen)); m.hasMatch()) return m.captured(1);
    if (p.state() == QProcess::NotRunning) break;
  }
  return {};
}

std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  for (std::string c; std::getline(ss, c, ',');) out.push_back(c);
  return out;
}

class Dashboard : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kalmanscan_dashboard_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "model.json") << R"({"name": "m",
      "explicitDynamics": {"F": {"rows": 1, "cols": 1, "data": [1]}, "Q": {"rows": 1, "cols": 1, "data": [0.01]},
                           "stateNames": ["level"]},
      "sensors": [{"name": "s", "columns": ["z"], "H": {"rows": 1, "cols": 1, "data": [1]},
                   "R": {"rows": 1, "cols": 1, "data": [0.04]}}],
      "prior": {"mean": [0], "covariance": {"rows": 1, "cols": 1, "data": [1]}},
      "options": {"timeColumn": "t"}})";
    std::ofstream log(dir_ / "log.csv"), filtered(dir_ / "filtered.csv"), smoothed(dir_ / "smoothed.csv");
    log << "t,z\n";
    filtered << "step,t,level,std_level,nis,nis_dof\n";
    smoothed << "step,t,level,std_level,nis,nis_dof\n";
    for (int i = 0; i < 500; ++i) {
      log << i * 0.1 << ',' << (i % 10) * 0.1 << '\n';
      filtered << i << ',' << i * 0.1 << ',' << 0.45 << ',' << 0.3 << ',' << 1.0 << ",1\n";
      smoothed << i << ',' << i * 0.1 << ',' << 0.45 << ',' << 0.2 << ',' << 0.0 << ",0\n";
    }
  }
  void TearDown() override { fs::remove_all(dir_); }
  QString path(const char* name) const { return QString::fromStdString((dir_ / name).string()); }

  // Starts `kalmanscan serve` on a free loopback port with the model, then the headless dashboard
  // following it (800×600, live.csv and live.png in the test's folder, `args` added), and waits
  // until the dashboard's subscription stands. Returns "127.0.0.1:port", or empty with a failure.
  QString start_live(QProcess& serve, QProcess& dash, const QStringList& args) {
    serve.setReadChannel(QProcess::StandardError);
    serve.start(QStringLiteral(KALMANSCAN_CLI), {"serve", "--listen", "127.0.0.1:0", "--model", path("model.json")});
    QByteArray said;
    const QString port = wait_for_line(serve, QRegularExpression("listening on 127\\.0\\.0\\.1:(\\d+)"), said);
    EXPECT_FALSE(port.isEmpty()) << said.toStdString();
    if (port.isEmpty()) return {};
    const QString endpoint = "127.0.0.1:" + port;
    auto env = QProcessEnvironment::systemEnvironment();
    env.insert("QT_QPA_PLATFORM", "offscreen");
    dash.setProcessEnvironment(env);
    dash.start(QStringLiteral(KALMANSCAN_DASHBOARD),
               QStringList{"--connect", endpoint, "--live-seconds", "60", "--size", "800x600", "--export-csv",
                           path("live.csv"), "--screenshot", path("live.png")} +
                   args);
    said.clear();
    const bool up = !wait_for_line(dash, QRegularExpression("(live: connected)"), said).isEmpty();
    EXPECT_TRUE(up) << said.toStdString() << dash.readAllStandardError().toStdString();
    return up ? endpoint : QString();
  }

  // Streams log.csv as `stream` with `kalmanscan send`; `csv` gets the estimates it printed.
  bool send_log(const QString& endpoint, const QString& stream, std::string& csv) {
    QProcess send;
    send.start(QStringLiteral(KALMANSCAN_CLI), {"send", "--connect", endpoint, "--model", path("model.json"), "--input",
                                               path("log.csv"), "--stream", stream, "--quiet"});
    const bool ok = send.waitForFinished(60000) && send.exitCode() == 0;
    EXPECT_TRUE(ok) << send.readAllStandardError().toStdString();
    csv = send.readAllStandardOutput().toStdString();
    return ok;
  }

  fs::path dir_;
};

TEST_F(Dashboard, HeadlessScreenshotAndCsvOfTheOfflineView) {
  const Outcome r = dashboard({"--model", path("model.json"), "--open-log", path("log.csv"), "--open-estimates",
                           path("filtered.csv"), "--estimates-kind", "filtered", "--size", "800x600", "--window", "10:20",
                           "--export-csv", path("view.csv"), "--screenshot", path("shot.png")});
  ASSERT_EQ(r.code, 0) << r.err;
  const QImage shot(path("shot.png"));
  ASSERT_FALSE(shot.isNull());
  EXPECT_EQ(shot.size(), QSize(800, 600));
  // The filtered ±1σ band colour (plot_style.hpp) covers a good part of the picture.
  int band = 0;
  for (int y = 0; y < shot.height(); ++y)
    for (int x = 0; x < shot.width(); ++x) band += shot.pixel(x, y) == qRgb(140, 175, 235);
  EXPECT_GT(band, 5000);
  // The CSV holds the samples with t in [10, 20): 100 estimates, 100 NIS values, 100 measurements.
  std::ifstream csv(dir_ / "view.csv");
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "panel,role,t,value,sigma,count,t_last,value_min,value_max,lower2_min,upper2_max");
  int filtered = 0, measured = 0, nis = 0;
  while (std::getline(csv, line)) {
    filtered += line.rfind("level,filtered,", 0) == 0;
    measured += line.rfind("level,measured,", 0) == 0;
    nis += line.rfind("NIS,nis,", 0) == 0;
  }
  EXPECT_EQ(filtered, 100);
  EXPECT_EQ(measured, 100);
  EXPECT_EQ(nis, 100);
}

TEST_F(Dashboard, SmoothRunAsASubprocessIsOverlaidWithTheLog) {
  // The dashboard runs `kalmanscan smooth` twice (filter only, then smoothing) and loads both; its
  // rows must hold what the same program writes when run here directly.
  const Outcome r = dashboard({"--model", path("model.json"), "--open-log", path("log.csv"), "--smooth", "--kalmanscan",
                               QStringLiteral(KALMANSCAN_CLI), "--export-csv", path("view.csv"), "--screenshot",
                               path("shot.png")});
  ASSERT_EQ(r.code, 0) << r.err;
  std::map<std::string, std::vector<std::vector<std::string>>> direct;
  for (const bool filter_only : {true, false}) {
    QProcess smooth;
    QStringList args{"smooth", "--model", path("model.json"), "--input", path("log.csv"), "--quiet"};
    if (filter_only) args << "--filter-only";
    smooth.start(QStringLiteral(KALMANSCAN_CLI), args);
    ASSERT_TRUE(smooth.waitForFinished(60000));
    ASSERT_EQ(smooth.exitCode(), 0) << smooth.readAllStandardError().toStdString();
    std::stringstream out(smooth.readAllStandardOutput().toStdString());
    std::string line;
    std::getline(out, line);  // step,t,level,std_level,nis,nis_dof
    while (std::getline(out, line)) direct[filter_only ? "filtered" : "smoothed"].push_back(cells(line));
  }
  std::ifstream csv(dir_ / "view.csv");
  std::string line;
  std::getline(csv, line);
  std::map<std::string, std::vector<std::vector<std::string>>> shown;  // by role, panel "level"
  while (std::getline(csv, line))
    if (const auto c = cells(line); c.at(0) == "level") shown[c.at(1)].push_back(c);
  EXPECT_EQ(shown["measured"].size(), 500u);
  for (const char* role : {"filtered", "smoothed"}) {
    ASSERT_EQ(direct[role].size(), 500u) << role;
    ASSERT_EQ(shown[role].size(), 500u) << role;
    for (std::size_t i = 0; i < 500; ++i)
      for (std::size_t k : {1u, 2u, 3u})  // t, mean, σ (the view's columns 2, 3, 4)
        EXPECT_EQ(std::stod(shown[role][i][k + 1]), std::stod(direct[role][i][k])) << role << " row " << i << " cell " << k;
  }
  // The smoothed band lies over the filtered one in the picture: both overlays are painted.
  const QImage shot(path("shot.png"));
  ASSERT_FALSE(shot.isNull());
  QSet<QRgb> colours;
  for (int y = 0; y < shot.height(); ++y)
    for (int x = 0; x < shot.width(); ++x) colours.insert(shot.pixel(x, y));
  EXPECT_TRUE(colours.contains(qRgb(140, 175, 235))) << "filtered ±1σ band";
  EXPECT_TRUE(colours.contains(qRgb(200, 80, 0))) << "smoothed mean";
}

TEST_F(Dashboard, LiveViewOfARealServeShowsItsEstimatesAndMeasurements) {
  QProcess serve, dash;
  const QString endpoint = start_live(serve, dash, {"--live-estimates", "500"});
  ASSERT_FALSE(endpoint.isEmpty());

  // The subscription stands: stream the log, keeping the estimates `send` gets back.
  std::string send_csv;
  ASSERT_TRUE(send_log(endpoint, "tank", send_csv));
  std::stringstream sent(send_csv);
  ASSERT_TRUE(dash.waitForFinished(60000));
  ASSERT_EQ(dash.exitCode(), 0) << dash.readAllStandardError().toStdString();

  // send's CSV: step,t,level,std_level,nis,nis_dof. The dashboard's rows of the same stream must
  // hold the same numbers (both write the shortest text that reads back to the same double).
  std::string line;
  std::getline(sent, line);
  ASSERT_EQ(line, "step,t,level,std_level,nis,nis_dof");
  std::vector<std::vector<std::string>> expected;
  while (std::getline(sent, line)) expected.push_back(cells(line));
  ASSERT_EQ(expected.size(), 500u);
  std::ifstream log(dir_ / "log.csv");
  std::getline(log, line);
  std::vector<double> z;
  while (std::getline(log, line)) z.push_back(std::stod(cells(line)[1]));

  std::ifstream csv(dir_ / "live.csv");
  std::getline(csv, line);
  std::map<std::string, std::vector<std::vector<std::string>>> rows;  // by panel,role
  while (std::getline(csv, line)) {
    const auto c = cells(line);
    rows[c.at(0) + "," + c.at(1)].push_back(c);
  }
  const auto& filtered = rows["tank/level,filtered"];
  const auto& measured = rows["tank/level,measured"];
  const auto& nis = rows["tank/NIS,nis"];
  ASSERT_EQ(filtered.size(), 500u);
  ASSERT_EQ(measured.size(), 500u);
  ASSERT_EQ(nis.size(), 500u);
  for (std::size_t i = 0; i < 500; ++i) {
    EXPECT_EQ(std::stod(filtered[i][2]), std::stod(expected[i][1])) << "t of estimate " << i;
    EXPECT_EQ(std::stod(filtered[i][3]), std::stod(expected[i][2])) << "mean of estimate " << i;
    EXPECT_EQ(std::stod(filtered[i][4]), std::stod(expected[i][3])) << "sigma of estimate " << i;
    EXPECT_EQ(std::stod(nis[i][3]), std::stod(expected[i][4])) << "NIS of estimate " << i;
    EXPECT_EQ(std::stod(measured[i][2]), std::stod(expected[i][1])) << "t of measurement " << i;
    EXPECT_EQ(std::stod(measured[i][3]), z[i]) << "measurement " << i;  // H = 1: drawn at z
  }

  // The picture shows the filtered ±1σ band and the measurement points (plot_style.hpp).
  const QImage shot(path("live.png"));
  ASSERT_FALSE(shot.isNull());
  int band = 0, points = 0;
  for (int y = 0; y < shot.height(); ++y)
    for (int x = 0; x < shot.width(); ++x) {
      band += shot.pixel(x, y) == qRgb(140, 175, 235);
      points += shot.pixel(x, y) == qRgb(70, 70, 70);
    }
  EXPECT_GT(band, 5000);
  EXPECT_GT(points, 500);
  serve.terminate();
  EXPECT_TRUE(serve.waitForFinished(10000));
}

TEST_F(Dashboard, AStreamUncheckedInTheStreamsListIsReceivedButNotDrawn) {
  // Two streams; "tank" starts unchecked (--hide-streams): the visible-range CSV holds only
  // "pump"'s rows, and the picture still shows pump's band. (stream_list_test.cpp checks the
  // list's rows, toggling both ways and closed streams against an in-process server.)
  QProcess serve, dash;
  const QString endpoint = start_live(serve, dash, {"--hide-streams", "tank", "--live-estimates", "1000"});
  ASSERT_FALSE(endpoint.isEmpty());
  std::string csv;
  ASSERT_TRUE(send_log(endpoint, "tank", csv));
  ASSERT_TRUE(send_log(endpoint, "pump", csv));
  ASSERT_TRUE(dash.waitForFinished(60000));
  ASSERT_EQ(dash.exitCode(), 0) << dash.readAllStandardError().toStdString();

  std::ifstream view(dir_ / "live.csv");
  std::string line;
  std::getline(view, line);
  std::map<std::string, int> rows;  // by stream
  while (std::getline(view, line)) ++rows[line.substr(0, line.find('/'))];
  EXPECT_EQ(rows.count("tank"), 0u) << "tank is hidden";
  EXPECT_EQ(rows["pump"], 1500) << "pump: 500 filtered estimates, 500 NIS values, 500 measurements";
  const QImage shot(path("live.png"));
  ASSERT_FALSE(shot.isNull());
  int band = 0;
  for (int y = 0; y < shot.height(); ++y)
    for (int x = 0; x < shot.width(); ++x) band += shot.pixel(x, y) == qRgb(140, 175, 235);
  EXPECT_GT(band, 5000);
  serve.terminate();
  EXPECT_TRUE(serve.waitForFinished(10000));
}

TEST_F(Dashboard, HeadlessKlaHeatmapOfThePickedSequence) {
  // Two sequences of 40 tokens × 8 channels; y_var spans 10^-3 … 10^1 in sequence 1.
  kalmanscan::proto::KlaUncertaintyExport e;
  e.mutable_version()->set_major(1);
  e.set_task("t");
  e.set_mixer("kla");
  e.set_channels(8);
  for (int s = 0; s < 2; ++s) {
    auto* layer = e.add_sequences()->add_layers();
    for (int t = 0; t < 40; ++t)
      for (int m = 0; m < 8; ++m) layer->add_y_var(static_cast<float>(std::pow(10.0, -3.0 + 4.0 * (t * 8 + m) / 319.0)));
  }
  {
    std::ofstream out(dir_ / "kla.pb", std::ios::binary);
    ASSERT_TRUE(e.SerializeToOstream(&out));
  }
  const Outcome r =
      dashboard({"--open-kla", path("kla.pb"), "--kla-sequence", "1:0", "--size", "800x600", "--screenshot", path("kla.png")});
  ASSERT_EQ(r.code, 0) << r.err;
  const QImage shot(path("kla.png"));
  ASSERT_FALSE(shot.isNull());
  // Both ends of the colour scale are painted (the smallest and the largest variance).
  QSet<QRgb> colours;
  for (int y = 0; y < shot.height(); ++y)
    for (int x = 0; x < shot.width(); ++x) colours.insert(shot.pixel(x, y));
  EXPECT_TRUE(colours.contains(kalmanscan::viz::heat_colour(0.0).rgb()));
  EXPECT_TRUE(colours.contains(kalmanscan::viz::heat_colour(1.0).rgb()));
  // A sequence the export does not have is an error naming it, not a silent other picture.
  const Outcome missing = dashboard({"--open-kla", path("kla.pb"), "--kla-sequence", "2:0", "--screenshot", path("kla.png")});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("sequence 2"), std::string::npos) << missing.err;
}

TEST_F(Dashboard, BadInputExitsWithTheReason) {
  const Outcome r = dashboard({"--open-estimates", path("missing.csv"), "--screenshot", path("shot.png")});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing.csv"), std::string::npos) << r.err;
  const Outcome k = dashboard({"--estimates-kind", "both", "--screenshot", path("shot.png")});
  EXPECT_EQ(k.code, 1);
  EXPECT_NE(k.err.find("--estimates-kind"), std::string::npos) << k.err;
  // Each malformed option is named; none runs the window.
  for (const auto& [option, value] : std::vector<std::pair<QString, QString>>{{"--size", "wide"},
                                                                             {"--window", "5:1"},
                                                                             {"--window", "a:b"},
                                                                             {"--connect", "localhost"},
                                                                             {"--connect", "localhost:99999"},
                                                                             {"--kla-sequence", "x"},
                                                                             {"--view", "side"},
                                                                             {"--live-seconds", "-1"},
                                                                             {"--live-estimates", "0"}}) {
    const Outcome o = dashboard({option + "=" + value, "--screenshot", path("shot.png")});
    EXPECT_EQ(o.code, 1) << option.toStdString() << " " << value.toStdString();
    EXPECT_NE(o.err.find(option.toStdString()), std::string::npos) << o.err;
  }
  // Nothing listens on port 1: the live view reports it instead of saving an empty picture.
  const Outcome u = dashboard({"--connect", "127.0.0.1:1", "--screenshot", path("shot.png")});
  EXPECT_EQ(u.code, 1);
  EXPECT_NE(u.err.find("live:"), std::string::npos) << u.err;
}

}  // namespace
