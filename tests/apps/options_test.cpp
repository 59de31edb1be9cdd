// `kalmanscan smooth`'s options one by one: a text-format model with explicit dynamics, controls
// and offsets (against the dense batch solution), covariance outputs, output formats and
// destinations, backends, and the summary.
#include <cmath>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "kalmanscan/config.hpp"
#include "kalmanscan/estimate.pb.h"
#include "kalmanscan/formats/record_file.hpp"
#include "kalmanscan/scan/gpu.hpp"
#include "small_log.hpp"
#include "test_util.hpp"

namespace kalmanscan::testing {
namespace {

const std::filesystem::path examples = KALMANSCAN_EXAMPLES_DIR;

/// A log for apps/examples/thermal_explicit.txtpb (wide columns time,t1,t2,heater; explicit F, Q,
/// B, c; t2 reads with offset d = 0.3) and the same problem in the references' form, written
/// from the model's equations as the example's comment states them.
struct ThermalLog {
  std::string csv;
  Problem problem;
};

ThermalLog make_thermal_log(std::size_t T, std::uint64_t seed) {
  ThermalLog log;
  Problem& p = log.problem;
  Eigen::Matrix2d F, Q;
  F << 0.95, 1.0, 0.0, 1.0;
  Q << 0.01, 0.0, 0.0, 0.0001;
  const Eigen::Vector2d B(0.5, 0.0), c(1.0, 0.0);
  p.m0 = Eigen::Vector2d(20.0, 0.0);
  p.P0 = Eigen::Vector2d(4.0, 0.01).asDiagonal();
  p.H = Eigen::MatrixXd(2, 2);
  p.H << 1, 0, 1, 0;
  p.Rdiag = Eigen::Vector2d(0.25, 1.0);
  p.d = Eigen::Vector2d(0.0, 0.3);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> U(0, 1);
  std::normal_distribution<double> N(0, 1);
  Eigen::Vector2d x(21.0, 0.05);
  double u = 0;  // the heater holds its last value; 0 before the first
  log.csv = "time,t1,t2,heater\n";
  for (std::size_t t = 0; t < T; ++t) {
    Eigen::VectorXd z(2);
    std::string cells[2];
    for (int j = 0; j < 2; ++j) {
      const double r = U(rng);
      if (r < 0.2) {
        z[j] = std::nan("");
        cells[j] = r < 0.1 ? "" : (r < 0.15 ? "nan" : " NaN ");
      } else {
        z[j] = x[0] + p.d[j] + std::sqrt(p.Rdiag[j]) * N(rng);
        cells[j] = num(z[j]);
      }
    }
    std::string heater;  // empty: the last value holds
    if (U(rng) < 0.3) u = U(rng) < 0.5 ? 1.0 : 0.0, heater = num(u);
    p.z.push_back(z);
    log.csv += num(60.0 * double(t)) + "," + cells[0] + "," + cells[1] + "," + heater + "\n";
    if (t + 1 < T) {
      p.F.push_back(F), p.Q.push_back(Q), p.o.push_back(B * u + c);
      x = F * x + B * u + c + Q.llt().matrixL() * Eigen::Vector2d(N(rng), N(rng));
    }
  }
  return log;
}

TEST(SmoothOptions, TextFormatExplicitModelWithControlsMatchesDenseSolution) {
  TempDir dir;
  const ThermalLog log = make_thermal_log(60, 17);
  write_file(dir / "log.csv", log.csv);
  const auto r = run_cli({"smooth", "-m", (examples / "thermal_explicit.txtpb").string(), "-i", (dir / "log.csv").string(),
                          "-o", (dir / "out.csv").string(), "--covariance", "full"});
  ASSERT_EQ(r.status, 0) << r.err;
  const Table out = parse_table(read_file(dir / "out.csv"));
  const Estimates dense = dense_reference(log.problem, log.problem.steps() - 1);
  ASSERT_EQ(out.rows.size(), log.problem.steps());
  double diff = 0, ref = 0;
  for (std::size_t t = 0; t < out.rows.size(); ++t) {
    const Eigen::Vector2d mean(out.at(t, "temperature"), out.at(t, "drift"));
    Eigen::Matrix2d P;
    P << out.at(t, "cov_temperature_temperature"), out.at(t, "cov_temperature_drift"), out.at(t, "cov_temperature_drift"),
        out.at(t, "cov_drift_drift");
    diff += (mean - dense.mean[t]).squaredNorm() + (P - dense.cov[t]).squaredNorm();
    ref += dense.mean[t].squaredNorm() + dense.cov[t].squaredNorm();
    EXPECT_EQ(out.at(t, "t"), 60.0 * double(t));
  }
  EXPECT_LT(std::sqrt(diff / ref), 1e-9);
}

TEST(SmoothOptions, CovarianceOutputsFullDiagonalNoneInCsvAndRecords) {
  TempDir dir;
  const SmallLog log = make_small_log(100, 3);
  write_file(dir / "model.json", log.model_json);
  write_file(dir / "log.csv", log.csv);
  auto run = [&](const std::string& covariance, const std::string& format) {
    const auto out = dir / (covariance + "." + format);
    const auto r = run_cli({"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.csv").string(), "-o",
                            out.string(), "--covariance", covariance, "--format", format});
    EXPECT_EQ(r.status, 0) << r.err;
    return out;
  };
  const std::string stds = "std_x,std_y,std_vx,std_vy", means = "step,t,x,y,vx,vy";
  const std::string covs = "cov_x_x,cov_x_y,cov_x_vx,cov_x_vy,cov_y_y,cov_y_vx,cov_y_vy,cov_vx_vx,cov_vx_vy,cov_vy_vy";
  const std::map<std::string, std::string> headers = {{"full", means + "," + stds + "," + covs + ",nis,nis_dof"},
                                                      {"diagonal", means + "," + stds + ",nis,nis_dof"},
                                                      {"none", means + ",nis,nis_dof"}};
  const Table full = parse_table(read_file(run("full", "csv")));
  for (const auto& [covariance, header] : headers) {
    const std::string text = read_file(run(covariance, "csv"));
    EXPECT_EQ(text.substr(0, text.find('\n')), header);
    const Table t = parse_table(text);
    ASSERT_EQ(t.rows.size(), 100u);
    formats::RecordReader reader(formats::open_file_source(run(covariance, "records")), proto::RecordFileHeader::ESTIMATES);
    proto::EstimateRecord e;
    for (std::size_t s = 0; s < 100; ++s) {
      EXPECT_EQ(t.at(s, "vx"), full.at(s, "vx")) << covariance;
      ASSERT_TRUE(reader.next(e)) << covariance << " record " << s;
      EXPECT_EQ(e.mean(2), full.at(s, "vx"));
      EXPECT_EQ(e.covariance_size(), covariance == "full" ? 16 : 0) << covariance;
      EXPECT_EQ(e.std_dev_size(), covariance == "none" ? 0 : 4) << covariance;
      if (covariance != "none") {
        EXPECT_EQ(e.std_dev(1), full.at(s, "std_y"));
      }
      if (covariance == "full") {
        EXPECT_EQ(e.covariance(1), full.at(s, "cov_x_y"));
      }
    }
    EXPECT_FALSE(reader.next(e)) << covariance;
  }
}

TEST(SmoothOptions, WithoutOutputEstimatesGoToStdoutAndQuietSilencesTheSummary) {
  TempDir dir;
  const SmallLog log = make_small_log(50, 5);
  write_file(dir / "model.json", log.model_json);
  write_file(dir / "log.csv", log.csv);
  const std::vector<std::string> base = {"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.csv").string()};
  auto to_file = base;
  to_file.insert(to_file.end(), {"-o", (dir / "out.csv").string()});
  ASSERT_EQ(run_cli(to_file).status, 0);
  const auto r = run_cli(base);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, read_file(dir / "out.csv"));
  EXPECT_NE(r.err.find("50 steps"), std::string::npos) << r.err;
  auto quiet = base;
  quiet.push_back("-q");
  const auto q = run_cli(quiet);
  ASSERT_EQ(q.status, 0);
  EXPECT_EQ(q.err, "");
  EXPECT_EQ(q.out, r.out);
}

TEST(SmoothOptions, EveryCpuBackendGivesTheSameEstimatesAndTheSummaryNamesIt) {
  TempDir dir;
  const SmallLog log = make_small_log(300, 8);
  write_file(dir / "model.json", log.model_json);
  write_file(dir / "log.csv", log.csv);
  std::map<std::string, Table> out;
  for (const std::string backend : {"sequential", "threaded", "cpu", "auto"}) {
    const auto r = run_cli({"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.csv").string(), "-o",
                            (dir / (backend + ".csv")).string(), "--backend", backend, "--summary-json",
                            (dir / (backend + ".json")).string()});
    ASSERT_EQ(r.status, 0) << r.err;
    out[backend] = parse_table(read_file(dir / (backend + ".csv")));
    proto::SmoothSummary s;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(read_file(dir / (backend + ".json")), &s).ok());
    // cpu is the threaded backend; auto runs short logs sequentially (below the engine's crossover).
    const std::string expected = backend == "cpu" ? "threaded" : backend == "auto" ? "sequential" : backend;
    EXPECT_EQ(s.backend(), expected);
    EXPECT_GE(s.timing().total_s(), s.timing().read_s() + s.timing().compute_s());
  }
  for (const auto& [backend, t] : out) {
    ASSERT_EQ(t.rows.size(), 300u);
    double diff = 0, ref = 0;
    for (std::size_t s = 0; s < 300; ++s)
      for (const char* c : {"x", "y", "vx", "vy", "std_x", "std_vy"}) {
        diff += std::pow(t.at(s, c) - out["sequential"].at(s, c), 2);
        ref += std::pow(out["sequential"].at(s, c), 2);
      }
    EXPECT_LT(std::sqrt(diff / ref), 1e-10) << backend;
  }
}

TEST(SmoothOptions, CudaBackendWithoutAGpuIsRefusedBeforeReading) {
  if (scan::gpu::device_count() > 0) GTEST_SKIP() << "a GPU is present (the GPU machine runs this path)";
  TempDir dir;
  const SmallLog log = make_small_log(10, 2);
  write_file(dir / "model.json", log.model_json);
  write_file(dir / "log.csv", log.csv);
  const auto r = run_cli({"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.csv").string(), "-o",
                          (dir / "out.csv").string(), "--backend", "cuda"});
  EXPECT_EQ(r.status, cli::exit_failure);
  EXPECT_NE(r.err.find(KALMANSCAN_HAS_CUDA ? "--backend cuda: no CUDA device" : "--backend cuda: this kalmanscan was built without CUDA"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out.csv"));
}

}  // namespace
}  // namespace kalmanscan::testing
