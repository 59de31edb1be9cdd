// Files into series: estimates (CSV and record files) and a log's measurements mapped through H,
// with expected values worked out by hand from the files written here.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kalmanscan/estimate.pb.h"
#include "kalmanscan/formats/record_file.hpp"
#include "kalmanscan/viz/error.hpp"
#include "kalmanscan/viz/loaders.hpp"

namespace kalmanscan::viz {
namespace {

namespace fs = std::filesystem;

struct Row {
  double t, value, sigma;
};

std::vector<Row> rows(SeriesSet& set, const std::string& panel, Role role) {
  auto lock = set.lock();
  const auto id = lock.find(panel, role);
  if (!id) return {};
  std::vector<Row> out;
  lock.series(*id).visit(
      -1e300, 1e300, [&](double t, double v, double s) { out.push_back({t, v, s}); }, [](const Aggregate&) {});
  return out;
}

class Loaders : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kalmanscan_viz_loaders_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  fs::path dir_;
};

// Two states (pos, vel); the sensor reads z0 = 2·pos + 1 and z1 = pos + vel (which mixes states).
constexpr const char* model_json = R"({
  "name": "test",
  "explicitDynamics": {
    "F": {"rows": 2, "cols": 2, "data": [1, 1, 0, 1]},
    "Q": {"rows": 2, "cols": 2, "data": [0.1, 0, 0, 0.1]},
    "stateNames": ["pos", "vel"]
  },
  "sensors": [{"name": "s", "columns": ["z0", "z1"],
               "H": {"rows": 2, "cols": 2, "data": [2, 0, 1, 1]}, "d": [1, 0],
               "R": {"rows": 2, "cols": 2, "data": [1, 0, 0, 1]}}],
  "prior": {"mean": [0, 0], "covariance": {"rows": 2, "cols": 2, "data": [1, 0, 0, 1]}},
  "options": {"timeColumn": "t"}
})";

TEST_F(Loaders, MeasurementsLandOnTheComponentTheyObserveAlone) {
  const auto model = write("model.json", model_json);
  const auto log = write("log.csv", "t,z0,z1\n0,3,5\n1,,2\n2.5,5,1\n");
  SeriesSet set;
  const LoadReport r = load_measurements(log, model, set);
  EXPECT_EQ(r.records, 3u);
  EXPECT_EQ(r.points, 2u);
  EXPECT_EQ(r.skipped, 4u) << "z1 mixes pos and vel (3 steps), z0 is missing once";
  const auto pos = rows(set, "pos", Role::measured);
  ASSERT_EQ(pos.size(), 2u);
  EXPECT_EQ(pos[0].t, 0);
  EXPECT_EQ(pos[0].value, (3.0 - 1) / 2);
  EXPECT_EQ(pos[1].t, 2.5);
  EXPECT_EQ(pos[1].value, (5.0 - 1) / 2);
  EXPECT_TRUE(rows(set, "vel", Role::measured).empty());
  EXPECT_EQ(model_state_names(model), (std::vector<std::string>{"pos", "vel"}));
}

TEST_F(Loaders, CsvEstimatesGiveBandsAndTheNisOfObservedSteps) {
  const auto path = write("est.csv",
                          "step,t,pos,vel,std_pos,std_vel,nis,nis_dof\n"
                          "0,0,1,2,0.5,0.25,1.5,1\n"
                          "1,1,1.25,2,0.4,0.2,0,0\n"
                          "2,2,1.5,2.5,0.3,0.1,0.75,2\n");
  SeriesSet set;
  const LoadReport r = load_estimates(path, set, {.csv_role = Role::filtered});
  EXPECT_EQ(r.records, 3u);
  const auto pos = rows(set, "pos", Role::filtered);
  ASSERT_EQ(pos.size(), 3u);
  EXPECT_EQ(pos[1].t, 1);
  EXPECT_EQ(pos[1].value, 1.25);
  EXPECT_EQ(pos[1].sigma, 0.4);
  const auto vel = rows(set, "vel", Role::filtered);
  ASSERT_EQ(vel.size(), 3u);
  EXPECT_EQ(vel[2].value, 2.5);
  EXPECT_EQ(vel[2].sigma, 0.1);
  const auto nis = rows(set, "NIS", Role::nis);
  ASSERT_EQ(nis.size(), 2u) << "step 1 observed nothing";
  EXPECT_EQ(nis[0].value, 1.5);
  EXPECT_EQ(nis[1].t, 2);
  EXPECT_EQ(nis[1].value, 0.75);
  // Smoothed estimates carry no NIS panel.
  SeriesSet smoothed;
  load_estimates(path, smoothed, {.csv_role = Role::smoothed, .state_names = {"a", "b"}});
  EXPECT_EQ(rows(smoothed, "a", Role::smoothed).size(), 3u);
  EXPECT_TRUE(rows(smoothed, "NIS", Role::nis).empty());
}

TEST_F(Loaders, RecordEstimatesTakeTheirKindAndSigmaFromTheCovariance) {
  const fs::path path = dir_ / "est.ksr";
  {
    std::ofstream out(path, std::ios::binary);
    formats::RecordWriter w(out, proto::RecordFileHeader::ESTIMATES, "test");
    for (int i = 0; i < 4; ++i) {
      proto::EstimateRecord r;
      r.set_step(i);
      r.set_timestamp(0.5 * i);
      r.set_kind(proto::EstimateRecord::SMOOTHED);
      r.add_mean(i);
      r.add_mean(-i);
      for (double c : {4.0 + i, 0.5, 0.5, 9.0}) r.add_covariance(c);
      w.write(r);
    }
  }
  SeriesSet set;
  const LoadReport r = load_estimates(path, set, {});
  EXPECT_EQ(r.records, 4u);
  EXPECT_TRUE(r.warning.empty());
  const auto x0 = rows(set, "x0", Role::smoothed);
  ASSERT_EQ(x0.size(), 4u);
  EXPECT_EQ(x0[3].t, 1.5);
  EXPECT_EQ(x0[3].value, 3);
  EXPECT_EQ(x0[3].sigma, std::sqrt(7.0));
  // A record's own kind wins over the role meant for CSV files.
  SeriesSet other;
  load_estimates(path, other, {.csv_role = Role::filtered});
  EXPECT_EQ(rows(other, "x0", Role::smoothed).size(), 4u);
  EXPECT_TRUE(rows(other, "x0", Role::filtered).empty());
  const auto x1 = rows(set, "x1", Role::smoothed);
  ASSERT_EQ(x1.size(), 4u);
  EXPECT_EQ(x1[2].sigma, 3.0);
  // A file cut inside its last record reads the whole records and says so.
  const auto size = fs::file_size(path);
  fs::resize_file(path, size - 3);
  SeriesSet cut;
  const LoadReport rc = load_estimates(path, cut, {});
  EXPECT_EQ(rc.records, 3u);
  EXPECT_NE(rc.warning.find("ends inside a record"), std::string::npos) << rc.warning;
}

TEST_F(Loaders, BadFilesAreRefusedNamingFileLineAndField) {
  SeriesSet set;
  const auto ok = write("ok.csv", "step,t,x,nis,nis_dof\n0,0,1,0,0\n");
  const auto message = [&](const fs::path& p, EstimateLoadOptions o) {
    try {
      load_estimates(p, set, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  EXPECT_NE(message(ok, {}).find("does not say whether they are filtered or smoothed"), std::string::npos);
  const auto short_row = write("short.csv", "step,t,x,nis,nis_dof\n0,0,1,0,0\n1,1,2,0\n");
  EXPECT_NE(message(short_row, {.csv_role = Role::smoothed}).find("short.csv:3: expected 5 cells, found 4"), std::string::npos);
  const auto bad_number = write("bad.csv", "step,t,x,nis,nis_dof\n0,0,abc,0,0\n");
  EXPECT_NE(message(bad_number, {.csv_role = Role::smoothed}).find("bad.csv:2: field 'x': expected a number, found 'abc'"),
            std::string::npos);
  const auto backwards = write("back.csv", "step,t,x,nis,nis_dof\n0,5,1,0,0\n1,4,1,0,0\n");
  EXPECT_NE(message(backwards, {.csv_role = Role::smoothed}).find("back.csv:3: "), std::string::npos);
  const auto header = write("header.csv", "t,x\n0,1\n");
  EXPECT_NE(message(header, {.csv_role = Role::smoothed}).find("header: expected step,t"), std::string::npos);
}

}  // namespace
}  // namespace kalmanscan::viz
