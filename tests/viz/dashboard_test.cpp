// The dashboard's headless mode end to end: the real program opens a model, a log and two
// estimate files, saves a screenshot and the visible range as CSV, and exits 0; bad input makes
// it exit 1 naming the problem.
#include <gtest/gtest.h>

#include <QImage>
#include <QProcess>
#include <QStringList>
#include <filesystem>
#include <fstream>
#include <string>

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

TEST_F(Dashboard, BadInputExitsWithTheReason) {
  const Outcome r = dashboard({"--open-estimates", path("missing.csv"), "--screenshot", path("shot.png")});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing.csv"), std::string::npos) << r.err;
  const Outcome k = dashboard({"--estimates-kind", "both", "--screenshot", path("shot.png")});
  EXPECT_EQ(k.code, 1);
  EXPECT_NE(k.err.find("--estimates-kind"), std::string::npos) << k.err;
}

}  // namespace
