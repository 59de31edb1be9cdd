// End-to-end tests of `kalmanscan smooth` on generated logs, against the dense batch solution
// (small logs) and a sequential filter/smoother written in the test (long logs); chunked
// (out-of-core) runs against whole ones; CSV and record logs and outputs against each other.
#include <cmath>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "kalmanscan/estimate.pb.h"
#include "kalmanscan/formats/record_file.hpp"
#include "small_log.hpp"
#include "test_util.hpp"

namespace kalmanscan::testing {
namespace {

/// ‖a − b‖ / ‖b‖ over the whole trajectory.
struct Normwise {
  double diff = 0, ref = 0;
  void add(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
    diff += (a - b).squaredNorm();
    ref += b.squaredNorm();
  }
  double relative() const { return std::sqrt(diff / ref); }
};

Eigen::Vector4d mean_of(const Table& t, std::size_t r) {
  return {t.at(r, "x"), t.at(r, "y"), t.at(r, "vx"), t.at(r, "vy")};
}

Eigen::Matrix4d cov_of(const Table& t, std::size_t r) {
  static const char* names[] = {"x", "y", "vx", "vy"};
  Eigen::Matrix4d P;
  for (int i = 0; i < 4; ++i)
    for (int j = i; j < 4; ++j) P(i, j) = P(j, i) = t.at(r, std::string("cov_") + names[i] + "_" + names[j]);
  return P;
}

class Smooth : public ::testing::TestWithParam<std::string> {};  // parameter: backend

TEST_P(Smooth, SmallLogMatchesDenseBatchSolution) {
  TempDir dir;
  const SmallLog log = make_small_log(30, 7);
  write_file(dir / "model.json", log.model_json);
  write_file(dir / "log.csv", log.csv);
  const auto r = run_cli({"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.csv").string(), "-o",
                          (dir / "out.csv").string(), "--covariance", "full", "--backend", GetParam()});
  ASSERT_EQ(r.status, 0) << r.err;
  const Table out = parse_table(read_file(dir / "out.csv"));
  const Estimates dense = dense_reference(log.problem, log.problem.steps() - 1);
  ASSERT_EQ(out.rows.size(), log.problem.steps());
  Normwise mean, cov;
  for (std::size_t t = 0; t < out.rows.size(); ++t) {
    EXPECT_EQ(out.at(t, "step"), double(t));
    mean.add(mean_of(out, t), dense.mean[t]);
    cov.add(cov_of(out, t), dense.cov[t]);
    EXPECT_NEAR(out.at(t, "std_vx"), std::sqrt(dense.cov[t](2, 2)), 1e-8 * std::sqrt(dense.cov[t](2, 2)));
  }
  EXPECT_LT(mean.relative(), 1e-9);
  EXPECT_LT(cov.relative(), 1e-9);
}

TEST_P(Smooth, FilterOnlyMatchesDenseSolutionOfEachPrefix) {
  TempDir dir;
  const SmallLog log = make_small_log(20, 11);
  write_file(dir / "model.json", log.model_json);
  write_file(dir / "log.csv", log.csv);
  const auto r = run_cli({"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.csv").string(), "-o",
                          (dir / "out.csv").string(), "--covariance", "full", "--filter-only", "--backend", GetParam()});
  ASSERT_EQ(r.status, 0) << r.err;
  const Table out = parse_table(read_file(dir / "out.csv"));
  ASSERT_EQ(out.rows.size(), log.problem.steps());
  Normwise mean, cov;
  for (std::size_t t = 0; t < out.rows.size(); ++t) {
    const Estimates prefix = dense_reference(log.problem, t);  // p(x_t | z_0..t): the last marginal
    mean.add(mean_of(out, t), prefix.mean[t]);
    cov.add(cov_of(out, t), prefix.cov[t]);
  }
  EXPECT_LT(mean.relative(), 1e-9);
  EXPECT_LT(cov.relative(), 1e-9);
}

TEST_P(Smooth, LongLogMatchesSequentialReferenceWithSummary) {
  TempDir dir;
  const std::size_t T = 20000;  // above the engine's threaded crossover
  const SmallLog log = make_small_log(T, 3);
  write_file(dir / "model.json", log.model_json);
  write_file(dir / "log.csv", log.csv);
  const auto r = run_cli({"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.csv").string(), "-o",
                          (dir / "out.csv").string(), "--covariance", "diagonal", "--backend", GetParam(),
                          "--summary-json", (dir / "summary.json").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const SequentialResult ref = sequential_reference(log.problem);
  const Table out = parse_table(read_file(dir / "out.csv"));
  ASSERT_EQ(out.rows.size(), T);
  Normwise mean, sd, nis;
  for (std::size_t t = 0; t < T; ++t) {
    mean.add(mean_of(out, t), ref.smoothed.mean[t]);
    const Eigen::Vector4d ref_sd = ref.smoothed.cov[t].diagonal().cwiseSqrt();
    sd.add(Eigen::Vector4d(out.at(t, "std_x"), out.at(t, "std_y"), out.at(t, "std_vx"), out.at(t, "std_vy")), ref_sd);
    nis.add(Eigen::Matrix<double, 1, 1>(out.at(t, "nis")), Eigen::Matrix<double, 1, 1>(ref.nis[t]));
    ASSERT_EQ(out.at(t, "nis_dof"), ref.dof[t]) << "step " << t;
  }
  EXPECT_LT(mean.relative(), 1e-7);
  EXPECT_LT(sd.relative(), 1e-7);
  EXPECT_LT(nis.relative(), 1e-7);

  proto::SmoothSummary s;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(read_file(dir / "summary.json"), &s).ok());
  EXPECT_EQ(s.steps(), T);
  EXPECT_EQ(s.rows(), log.rows);
  EXPECT_EQ(s.measured_values(), log.values);
  EXPECT_EQ(s.missing_values(), log.missing);
  EXPECT_NEAR(s.log_likelihood(), ref.log_likelihood, 1e-8 * std::abs(ref.log_likelihood));
  double sum = 0, dof = 0;
  for (std::size_t t = 0; t < T; ++t) sum += ref.nis[t], dof += ref.dof[t];
  EXPECT_NEAR(s.nis().normalized(), sum / dof, 1e-8);
  EXPECT_TRUE(s.nis().consistent()) << "the data follow the model, so the NIS test should pass";
  EXPECT_NE(r.err.find("20000 steps"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Backends, Smooth, ::testing::Values("sequential", "threaded"));

TEST(SmoothChunked, OutOfCoreRunEqualsWholeRun) {
  TempDir dir;
  const SmallLog log = make_small_log(3001, 5);
  write_file(dir / "model.json", log.model_json);
  write_file(dir / "log.csv", log.csv);
  for (const char* mode : {"", "--filter-only", "--with-filtered"}) {
    std::vector<std::string> base = {"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.csv").string(),
                                     "--covariance", "full", "--backend", "sequential"};
    if (*mode) base.push_back(mode);
    auto whole = base, chunked = base;
    whole.insert(whole.end(), {"-o", (dir / "whole.csv").string()});
    chunked.insert(chunked.end(), {"-o", (dir / "chunked.csv").string(), "--chunk-steps", "256", "--summary-json",
                                   (dir / "chunked.json").string(), "--temp-dir", dir.path.string()});
    ASSERT_EQ(run_cli(whole).status, 0);
    const auto r = run_cli(chunked);
    ASSERT_EQ(r.status, 0) << r.err;
    const Table a = parse_table(read_file(dir / "whole.csv")), b = parse_table(read_file(dir / "chunked.csv"));
    ASSERT_EQ(a.rows.size(), 3001u);
    ASSERT_EQ(b.rows.size(), a.rows.size());
    Normwise diff;
    for (std::size_t t = 0; t < a.rows.size(); ++t) {
      ASSERT_EQ(a.rows[t][0], b.rows[t][0]) << "steps out of order at row " << t;
      diff.add(Eigen::Map<const Eigen::VectorXd>(b.rows[t].data(), Eigen::Index(b.rows[t].size())),
               Eigen::Map<const Eigen::VectorXd>(a.rows[t].data(), Eigen::Index(a.rows[t].size())));
    }
    EXPECT_LT(diff.relative(), 1e-10) << mode;
    proto::SmoothSummary s;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(read_file(dir / "chunked.json"), &s).ok());
    EXPECT_EQ(s.chunks(), (3001u + 255) / 256);
    // Spill files are unnamed: nothing but our files is left in the directory.
    EXPECT_EQ(dir.files().size(), 5u) << "left: " << ::testing::PrintToString(dir.files());
  }
}

TEST(SmoothFormats, RecordLogAndRecordOutputMatchCsv) {
  TempDir dir;
  const SmallLog log = make_small_log(200, 9);
  write_file(dir / "model.json", log.model_json);
  write_file(dir / "log.csv", log.csv);
  // The same log as a record file, written row by row from the CSV text.
  {
    std::ofstream out(dir / "log.kslog", std::ios::binary);
    formats::RecordWriter w(out, proto::RecordFileHeader::LOG, "test");
    const Table t = parse_table(log.csv.substr(0, log.csv.size()));
    std::istringstream lines(log.csv);
    std::string line;
    std::getline(lines, line);
    for (std::size_t i = 0; std::getline(lines, line); ++i) {
      proto::LogRecord rec;
      rec.set_timestamp(t.rows[i][0]);
      const bool gps = line.find(",gps,") != std::string::npos;
      rec.set_sensor(gps ? "gps" : "odo");
      rec.add_values(t.rows[i][gps ? 2 : 4]);
      rec.add_values(t.rows[i][gps ? 3 : 5]);
      w.write(rec);
    }
  }
  const std::vector<std::string> common = {"smooth", "-m", (dir / "model.json").string(), "--covariance", "full"};
  auto csv_run = common, rec_run = common;
  csv_run.insert(csv_run.end(), {"-i", (dir / "log.csv").string(), "-o", (dir / "a.csv").string()});
  rec_run.insert(rec_run.end(), {"-i", (dir / "log.kslog").string(), "-o", (dir / "b.csv").string()});
  ASSERT_EQ(run_cli(csv_run).status, 0);
  const auto r = run_cli(rec_run);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(dir / "a.csv"), read_file(dir / "b.csv")) << "the same log in two formats gives the same estimates";

  auto rec_out = csv_run;
  rec_out.back() = (dir / "c.kse").string();
  rec_out.insert(rec_out.end(), {"--format", "records"});
  ASSERT_EQ(run_cli(rec_out).status, 0);
  formats::RecordReader reader(formats::open_file_source(dir / "c.kse"), proto::RecordFileHeader::ESTIMATES);
  const Table a = parse_table(read_file(dir / "a.csv"));
  proto::EstimateRecord e;
  std::size_t n = 0;
  for (; reader.next(e); ++n) {
    ASSERT_LT(n, a.rows.size());
    EXPECT_EQ(e.kind(), proto::EstimateRecord::SMOOTHED);
    EXPECT_EQ(double(e.step()), a.at(n, "step"));
    EXPECT_EQ(e.timestamp(), a.at(n, "t"));
    EXPECT_EQ(e.mean(0), a.at(n, "x"));
    EXPECT_EQ(e.mean(3), a.at(n, "vy"));
    ASSERT_EQ(e.covariance_size(), 16);
    EXPECT_EQ(e.covariance(1), a.at(n, "cov_x_y"));
    EXPECT_EQ(e.covariance(4), a.at(n, "cov_x_y"));
    EXPECT_EQ(e.std_dev(2), a.at(n, "std_vx"));
    EXPECT_EQ(e.nis(), a.at(n, "nis"));
  }
  EXPECT_EQ(n, a.rows.size());
  EXPECT_FALSE(reader.truncated());
}

TEST(SmoothPrecision, Float32IsCloseToFloat64) {
  TempDir dir;
  const SmallLog log = make_small_log(500, 13);
  write_file(dir / "model.json", log.model_json);
  write_file(dir / "log.csv", log.csv);
  const std::vector<std::string> common = {"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.csv").string()};
  auto f64 = common, f32 = common;
  f64.insert(f64.end(), {"-o", (dir / "a.csv").string()});
  f32.insert(f32.end(), {"-o", (dir / "b.csv").string(), "--precision", "f32"});
  ASSERT_EQ(run_cli(f64).status, 0);
  ASSERT_EQ(run_cli(f32).status, 0);
  const Table a = parse_table(read_file(dir / "a.csv")), b = parse_table(read_file(dir / "b.csv"));
  ASSERT_EQ(a.rows.size(), b.rows.size());
  Normwise diff;
  for (std::size_t t = 0; t < a.rows.size(); ++t) diff.add(mean_of(b, t), mean_of(a, t));
  EXPECT_LT(diff.relative(), 1e-3);
  EXPECT_GT(diff.relative(), 0.0) << "f32 should round differently from f64";
}

}  // namespace
}  // namespace kalmanscan::testing
