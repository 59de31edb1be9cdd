// `kalmanscan smooth --with-filtered`: the filtered estimates written beside the smoothed ones.
// References are the tool's own other modes on the same log and backend: the filt_ columns must
// equal a --filter-only run's columns exactly, every other column a run without the flag (the
// filtered results are those the backward pass starts from, so nothing is recomputed); an
// out-of-core chunked run must write the same bytes as a whole one.
#include <gtest/gtest.h>

#include "kalmanscan/estimate.pb.h"
#include "kalmanscan/formats/record_file.hpp"
#include "small_log.hpp"
#include "test_util.hpp"

namespace kalmanscan::testing {
namespace {

const std::string filt = "filt_";

struct Runs {
  TempDir dir;
  SmallLog log;
  Runs(std::size_t steps, std::uint64_t seed) : log(make_small_log(steps, seed)) {
    write_file(dir / "model.json", log.model_json);
    write_file(dir / "log.csv", log.csv);
  }
  /// Runs smooth on the log into `out` with `extra` options; returns the output's path.
  std::filesystem::path run(const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> args = {"smooth", "-q", "-m", (dir / "model.json").string(), "-i", (dir / "log.csv").string(),
                                     "-o", (dir / out).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = run_cli(args);
    EXPECT_EQ(r.status, 0) << r.err;
    return dir / out;
  }
};

class WithFilteredCsv : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};  // backend, covariance

TEST_P(WithFilteredCsv, FiltColumnsEqualFilterOnlyAndTheRestEqualsPlainSmoothing) {
  const auto& [backend, covariance] = GetParam();
  Runs runs(3001, 17);
  const std::vector<std::string> common = {"--backend", backend, "--covariance", covariance};
  auto with = common, filter_only = common;
  with.push_back("--with-filtered");
  filter_only.push_back("--filter-only");
  const Table both = parse_table(read_file(runs.run("both.csv", with)));
  const Table plain = parse_table(read_file(runs.run("plain.csv", common)));
  const Table filtered = parse_table(read_file(runs.run("filtered.csv", filter_only)));

  // Header: step, t, the smoothed block, the same block prefixed filt_, nis, nis_dof.
  const std::size_t block_end = plain.header.size() - 2;
  std::vector<std::string> expected(plain.header.begin(), plain.header.begin() + std::ptrdiff_t(block_end));
  for (std::size_t c = 2; c < block_end; ++c) expected.push_back(filt + plain.header[c]);
  expected.insert(expected.end(), {"nis", "nis_dof"});
  ASSERT_EQ(both.header, expected);
  ASSERT_EQ(both.rows.size(), 3001u);
  ASSERT_EQ(plain.rows.size(), both.rows.size());
  ASSERT_EQ(filtered.rows.size(), both.rows.size());

  std::size_t differ = 0;  // steps where a filtered mean differs from the smoothed one
  for (std::size_t t = 0; t < both.rows.size(); ++t) {
    for (const auto& name : both.header) {
      const bool is_filtered = name.starts_with(filt);
      const double want = is_filtered ? filtered.at(t, name.substr(filt.size())) : plain.at(t, name);
      ASSERT_EQ(both.at(t, name), want) << "row " << t << ", column " << name;
    }
    differ += both.at(t, "filt_x") != both.at(t, "x");
  }
  // Smoothing moves almost every step's mean; a writer that wrote one trajectory twice fails here.
  EXPECT_GT(differ, both.rows.size() / 2);
}

INSTANTIATE_TEST_SUITE_P(BackendsAndCovariance, WithFilteredCsv,
                         ::testing::Combine(::testing::Values("sequential", "threaded"),
                                            ::testing::Values("full", "diagonal", "none")));

TEST(WithFilteredChunked, OutOfCoreRunWritesTheSameFileAsAWholeRun) {
  Runs runs(3001, 29);
  for (const std::string format : {"csv", "records"}) {
    const std::vector<std::string> common = {"--with-filtered", "--covariance", "full", "--backend", "sequential",
                                             "--format", format};
    auto chunked = common;
    chunked.insert(chunked.end(), {"--chunk-steps", "256", "--temp-dir", runs.dir.path.string()});
    const std::string whole = read_file(runs.run("whole." + format, common));
    EXPECT_GT(whole.size(), 3001u * 36 * 2) << format;  // 36 numbers a step
    EXPECT_TRUE(whole == read_file(runs.run("chunked." + format, chunked))) << format;
  }
}

std::vector<proto::EstimateRecord> read_records(const std::filesystem::path& file) {
  formats::RecordReader reader(formats::open_file_source(file), proto::RecordFileHeader::ESTIMATES);
  std::vector<proto::EstimateRecord> v;
  for (proto::EstimateRecord e; reader.next(e);) v.push_back(e);
  EXPECT_FALSE(reader.truncated());
  return v;
}

TEST(WithFilteredRecords, RecordFieldsRoundTripTheCsvColumns) {
  Runs runs(400, 23);
  const Table csv = parse_table(read_file(runs.run("both.csv", {"--covariance", "full", "--with-filtered"})));
  const auto records =
      read_records(runs.run("both.kse", {"--covariance", "full", "--with-filtered", "--format", "records"}));
  const char* names[] = {"x", "y", "vx", "vy"};
  ASSERT_EQ(records.size(), csv.rows.size());
  for (std::size_t t = 0; t < records.size(); ++t) {
    const auto& e = records[t];
    EXPECT_EQ(e.kind(), proto::EstimateRecord::SMOOTHED);
    ASSERT_EQ(e.filtered_mean_size(), 4);
    ASSERT_EQ(e.filtered_std_dev_size(), 4);
    ASSERT_EQ(e.filtered_covariance_size(), 16);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(e.mean(i), csv.at(t, names[i]));
      EXPECT_EQ(e.filtered_mean(i), csv.at(t, filt + names[i]));
      EXPECT_EQ(e.filtered_std_dev(i), csv.at(t, filt + "std_" + names[i]));
      for (int j = 0; j < 4; ++j) {
        const std::string cov = filt + "cov_" + names[std::min(i, j)] + "_" + names[std::max(i, j)];
        EXPECT_EQ(e.filtered_covariance(4 * i + j), csv.at(t, cov)) << "step " << t << " " << cov;
      }
    }
  }
  // "diagonal" gives standard deviations only, and without the flag the fields stay empty.
  const auto diagonal = read_records(runs.run("diag.kse", {"--with-filtered", "--format", "records"}));
  ASSERT_FALSE(diagonal.empty());
  EXPECT_EQ(diagonal[0].filtered_std_dev_size(), 4);
  EXPECT_EQ(diagonal[0].filtered_covariance_size(), 0);
  for (const auto& e : read_records(runs.run("plain.kse", {"--format", "records"})))
    ASSERT_TRUE(e.filtered_mean().empty() && e.filtered_std_dev().empty() && e.filtered_covariance().empty());
}

TEST(WithFilteredOptions, TogetherWithFilterOnlyIsAUsageError) {
  Runs runs(10, 1);
  const auto r = run_cli({"smooth", "-m", (runs.dir / "model.json").string(), "-i", (runs.dir / "log.csv").string(), "-o",
                          (runs.dir / "out.csv").string(), "--filter-only", "--with-filtered"});
  EXPECT_EQ(r.status, cli::exit_usage);
  EXPECT_NE(r.err.find("--with-filtered"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--filter-only"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(runs.dir / "out.csv"));
}

}  // namespace
}  // namespace kalmanscan::testing
