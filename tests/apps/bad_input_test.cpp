// Every kind of bad input: the run fails with a non-zero status, the error names the file, the
// line (or record) and the field with what was expected against what was found, and no output
// file (complete-looking or temporary) is left behind.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include "kalmanscan/formats/record_file.hpp"
#include "small_log.hpp"
#include "test_util.hpp"

namespace kalmanscan::testing {
namespace {

struct BadLog {
  const char* name;
  std::string csv;
  std::vector<std::string> expect;  ///< substrings of the error message
};

const std::string header = "t,sensor,x,y,vx,vy\n";

std::vector<BadLog> bad_logs() {
  return {
      {"non-numeric", header + "0,gps,1,2,,\n0.5,odo,,,1.5,abc\n", {"log.csv:3:", "field 'vy'", "expected a number", "found 'abc'"}},
      {"malformed number", header + "0,gps,1.2.3,2,,\n", {"log.csv:2:", "field 'x'", "expected a number", "'1.2.3'"}},
      {"too few fields", header + "0,gps,1,2,,\n1,odo,3,4\n", {"log.csv:3:", "expected 6 fields (as in the header)", "found 4"}},
      {"too many fields", header + "0,gps,1,2,,,7\n", {"log.csv:2:", "expected 6 fields", "found 7"}},
      {"infinite value", header + "0,gps,1,2,,\n1,gps,inf,2,,\n", {"log.csv:3:", "field 'x'", "expected a finite number", "'inf'"}},
      {"overflowing value", header + "0,gps,1e999,2,,\n", {"log.csv:2:", "field 'x'", "within double range"}},
      {"time going backwards", header + "0,gps,1,2,,\n2,odo,,,1,1\n1.5,gps,1,2,,\n",
       {"log.csv:4:", "field 't'", "timestamps that never decrease", "found 1.5"}},
      {"missing timestamp", header + "0,gps,1,2,,\n,odo,,,1,1\n", {"log.csv:3:", "field 't'", "expected a timestamp"}},
      {"unknown sensor", header + "0,lidar,1,2,,\n", {"log.csv:2:", "field 'sensor'", "one of the sensors 'gps', 'odo'", "'lidar'"}},
      {"missing column", "t,sensor,x,y,vx\n0,gps,1,2,\n", {"log.csv:1:", "field 'vy'", "a column named 'vy'", "'t', 'sensor', 'x', 'y', 'vx'"}},
      {"repeated header name", "t,sensor,x,y,vx,vy,x\n", {"log.csv:1:", "field 'x'", "column names used once"}},
      {"two values at one time", header + "0,gps,1,2,,\n0,gps,1.5,,,\n", {"log.csv:3:", "field 'x'", "one value per timestamp"}},
      {"empty file", "", {"log.csv", "expected a header line", "an empty file"}},
      {"binary junk", std::string("\x01\x02\x03,\xff\n", 6), {"log.csv:1:", "a column named 't'"}},
  };
}

class BadCsv : public ::testing::TestWithParam<BadLog> {};

TEST_P(BadCsv, FailsNamingLineFieldExpectedAndFoundAndLeavesNoOutput) {
  TempDir dir;
  write_file(dir / "model.json", make_small_log(1, 1).model_json);
  write_file(dir / "log.csv", GetParam().csv);
  const auto r = run_cli({"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.csv").string(), "-o",
                          (dir / "out.csv").string()});
  EXPECT_EQ(r.status, cli::exit_failure);
  EXPECT_NE(r.err.find("kalmanscan smooth: error:"), std::string::npos) << r.err;
  for (const auto& s : GetParam().expect) EXPECT_NE(r.err.find(s), std::string::npos) << "missing '" << s << "' in: " << r.err;
  EXPECT_EQ(dir.files().size(), 2u) << "left: " << ::testing::PrintToString(dir.files());
}

INSTANTIATE_TEST_SUITE_P(Logs, BadCsv, ::testing::ValuesIn(bad_logs()),
                         [](const auto& param_info) {
                           std::string n = param_info.param.name;
                           for (auto& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

struct BadModel {
  const char* name;
  std::string from, to;  ///< replace `from` by `to` in the small log's model
  std::vector<std::string> expect;
};

class BadModelSpec : public ::testing::TestWithParam<BadModel> {};

TEST_P(BadModelSpec, FailsNamingTheField) {
  TempDir dir;
  const SmallLog log = make_small_log(5, 1);
  std::string json = log.model_json;
  const auto at = json.find(GetParam().from);
  ASSERT_NE(at, std::string::npos) << GetParam().from;
  json.replace(at, GetParam().from.size(), GetParam().to);
  write_file(dir / "model.json", json);
  write_file(dir / "log.csv", log.csv);
  const auto r = run_cli({"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.csv").string(), "-o",
                          (dir / "out.csv").string()});
  EXPECT_EQ(r.status, cli::exit_failure);
  for (const auto& s : GetParam().expect) EXPECT_NE(r.err.find(s), std::string::npos) << "missing '" << s << "' in: " << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out.csv"));
  EXPECT_EQ(dir.files().size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(
    Models, BadModelSpec,
    ::testing::Values(
        BadModel{"R_not_positive_definite", "[0.09,0, 0,0.09]", "[0.09,0.5, 0.5,0.09]",
                 {"model.json", "sensors[1].R", "positive definite"}},
        BadModel{"R_not_symmetric", "[4,0, 0,4]", "[4,1, 0,4]", {"sensors[0].R", "symmetric"}},
        BadModel{"H_wrong_shape", R"("rows": 2, "cols": 4, "data": [1,0,0,0, 0,1,0,0])", R"("rows": 2, "cols": 3, "data": [1,0,0, 0,1,0])",
                 {"sensors[0].H", "expected 2x4", "found 2x3"}},
        BadModel{"prior_wrong_size", "[1, 2, 3, -1]", "[1, 2, 3]", {"prior.mean", "expected 4 entries", "found 3"}},
        BadModel{"prior_not_positive_definite", "[25,0,0,0,", "[-25,0,0,0,", {"prior.covariance", "positive definite"}},
        BadModel{"unknown_field", R"("motion")", R"("motoin")", {"model.json", "motoin"}},
        BadModel{"column_not_in_log", R"(["vx", "vy"])", R"(["vx", "speed"])", {"log.csv:1:", "a column named 'speed'"}},
        BadModel{"no_dynamics", R"("motion": {"kind": "CONSTANT_VELOCITY", "dimensions": 2, "noise_density": 0.69999999999999996},)", "",
                 {"dynamics", "'motion' or 'explicit_dynamics'"}}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(BadRecords, UnknownMajorVersionIsRefused) {
  TempDir dir;
  write_file(dir / "model.json", make_small_log(1, 1).model_json);
  // magic, then a FormatVersion{major: 2, minor: 1} as a length-delimited message
  write_file(dir / "log.kslog", std::string("KSCANREC") + std::string("\x04\x08\x02\x10\x01", 5));
  const auto r = run_cli({"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.kslog").string(), "-o",
                          (dir / "out.csv").string()});
  EXPECT_EQ(r.status, cli::exit_failure);
  EXPECT_NE(r.err.find("field 'version': expected format version 1.x, found 2.1"), std::string::npos) << r.err;
  EXPECT_EQ(dir.files().size(), 2u);
}

TEST(BadRecords, BadRecordNamesRecordAndField) {
  TempDir dir;
  write_file(dir / "model.json", make_small_log(1, 1).model_json);
  {
    std::ofstream out(dir / "log.kslog", std::ios::binary);
    formats::RecordWriter w(out, proto::RecordFileHeader::LOG, "test");
    proto::LogRecord r;
    r.set_timestamp(0);
    r.set_sensor("gps");
    r.add_values(1), r.add_values(2);
    w.write(r);
    r.add_values(3);  // gps has two components
    w.write(r);
  }
  const auto r = run_cli({"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.kslog").string(), "-o",
                          (dir / "out.csv").string()});
  EXPECT_EQ(r.status, cli::exit_failure);
  EXPECT_NE(r.err.find("log.kslog:record 2: field 'values': expected 2 values (sensor 'gps'), found 3"), std::string::npos) << r.err;
  EXPECT_EQ(dir.files().size(), 2u);
}

struct BadRecordLog {
  const char* name;
  std::vector<proto::LogRecord> records;
  std::vector<std::string> expect;
};

/// A log record from its protobuf text format (which spells infinities inf and -inf).
proto::LogRecord record(const std::string& text) {
  proto::LogRecord r;
  if (!google::protobuf::TextFormat::ParseFromString(text, &r)) throw std::runtime_error("bad test record: " + text);
  return r;
}

std::vector<BadRecordLog> bad_record_logs() {
  const auto gps = record(R"(timestamp: 0 sensor: "gps" values: [1, 2])");
  return {
      {"time_going_backwards",
       {gps, record(R"(timestamp: 2 sensor: "odo" values: [1, 1])"), record(R"(timestamp: 1.5 sensor: "gps" values: [1, 2])")},
       {"log.kslog:record 3: field 'timestamp'", "timestamps that never decrease", "found 1.5"}},
      {"infinite_timestamp", {gps, record(R"(timestamp: inf sensor: "gps" values: [1, 2])")},
       {"log.kslog:record 2: field 'timestamp'", "expected a finite timestamp", "found inf"}},
      {"infinite_value", {record(R"(timestamp: 0 sensor: "gps" values: [1, nan])"), record(R"(timestamp: 1 sensor: "odo" values: [-inf, 2])")},
       {"log.kslog:record 2: field 'values[0]'", "a finite number or NaN", "found -inf"}},
      {"unknown_sensor", {record(R"(timestamp: 0 sensor: "lidar" values: [1, 2])")},
       {"log.kslog:record 1: field 'sensor'", "one of the sensors 'gps', 'odo'", "'lidar'"}},
      {"controls_the_model_lacks", {record(R"(timestamp: 0 sensor: "gps" values: [1, 2] controls: [0.5])")},
       {"log.kslog:record 1: field 'controls'", "expected 0 controls (or none)", "found 1"}},
  };
}

class BadRecordFile : public ::testing::TestWithParam<BadRecordLog> {};

TEST_P(BadRecordFile, FailsNamingRecordFieldExpectedAndFound) {
  TempDir dir;
  write_file(dir / "model.json", make_small_log(1, 1).model_json);
  {
    std::ofstream out(dir / "log.kslog", std::ios::binary);
    formats::RecordWriter w(out, proto::RecordFileHeader::LOG, "test");
    for (const auto& r : GetParam().records) w.write(r);
  }
  const auto r = run_cli({"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.kslog").string(), "-o",
                          (dir / "out.csv").string()});
  EXPECT_EQ(r.status, cli::exit_failure);
  for (const auto& s : GetParam().expect) EXPECT_NE(r.err.find(s), std::string::npos) << "missing '" << s << "' in: " << r.err;
  EXPECT_EQ(dir.files().size(), 2u) << "left: " << ::testing::PrintToString(dir.files());
}

INSTANTIATE_TEST_SUITE_P(Records, BadRecordFile, ::testing::ValuesIn(bad_record_logs()),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(BadRecords, AnEstimatesFileIsNotALog) {
  TempDir dir;
  write_file(dir / "model.json", make_small_log(1, 1).model_json);
  {
    std::ofstream out(dir / "log.kslog", std::ios::binary);
    formats::RecordWriter w(out, proto::RecordFileHeader::ESTIMATES, "test");
  }
  const auto r = run_cli({"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.kslog").string()});
  EXPECT_EQ(r.status, cli::exit_failure);
  EXPECT_NE(r.err.find("log.kslog: field 'header.content': expected a file of LOG records, found one of ESTIMATES records"),
            std::string::npos) << r.err;
}

TEST(FailedRun, LeavesAnEarlierOutputUntouched) {
  TempDir dir;
  const SmallLog log = make_small_log(40, 1);
  write_file(dir / "model.json", log.model_json);
  write_file(dir / "log.csv", log.csv);
  const std::vector<std::string> args = {"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.csv").string(),
                                         "-o", (dir / "out.csv").string(), "--chunk-steps", "8", "--filter-only"};
  ASSERT_EQ(run_cli(args).status, 0);
  const std::string good = read_file(dir / "out.csv");
  // The same log with a bad cell near its end: the run fails after writing several chunks' estimates.
  std::string bad = log.csv;
  bad.insert(bad.rfind("\n", bad.size() - 2) + 1, "1e400,gps,1,2,,,\n");
  write_file(dir / "log.csv", bad);
  const auto r = run_cli(args);
  EXPECT_EQ(r.status, cli::exit_failure);
  EXPECT_NE(r.err.find("field 't': expected a number within double range, found '1e400'"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(dir / "out.csv"), good);
  EXPECT_EQ(dir.files().size(), 3u) << "left: " << ::testing::PrintToString(dir.files());
}

TEST(TruncatedRecords, ReadUpToLastWholeRecordAndSaySo) {
  TempDir dir;
  const SmallLog log = make_small_log(1, 1);
  write_file(dir / "model.json", log.model_json);
  std::string bytes;
  {
    std::ostringstream out;
    formats::RecordWriter w(out, proto::RecordFileHeader::LOG, "test");
    for (int i = 0; i < 10; ++i) {
      proto::LogRecord r;
      r.set_timestamp(i);
      r.set_sensor("odo");
      r.add_values(i), r.add_values(-i);
      w.write(r);
    }
    bytes = out.str();
  }
  write_file(dir / "log.kslog", bytes.substr(0, bytes.size() - 5));  // cut inside the 10th record
  const auto r = run_cli({"smooth", "-m", (dir / "model.json").string(), "-i", (dir / "log.kslog").string(), "-o",
                          (dir / "out.csv").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("the file ends inside record 10 (cut short?); read the 9 whole records before it"), std::string::npos) << r.err;
  EXPECT_EQ(parse_table(read_file(dir / "out.csv")).rows.size(), 9u);
}

TEST(Cli, UsageErrorsExitWithStatus2AndHelpListsSubcommands) {
  const auto help = run_cli({"--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("smooth"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("demo"), std::string::npos) << help.out;
  const auto sub_help = run_cli({"smooth", "--help"});
  EXPECT_EQ(sub_help.status, 0);
  EXPECT_NE(sub_help.out.find("--chunk-steps"), std::string::npos) << sub_help.out;
  EXPECT_EQ(run_cli({"smooth", "--model"}).status, cli::exit_usage);
  EXPECT_EQ(run_cli({"frobnicate"}).status, cli::exit_usage);
  EXPECT_EQ(run_cli({}).status, cli::exit_usage);
}

TEST(Cli, MissingFilesAndDirectoriesAreNamed) {
  TempDir dir;
  const SmallLog log = make_small_log(30, 1);
  write_file(dir / "model.json", log.model_json);
  write_file(dir / "log.csv", log.csv);
  const std::string model = (dir / "model.json").string(), input = (dir / "log.csv").string();
  const auto no_dir = run_cli({"smooth", "-m", model, "-i", input, "-o", (dir / "missing" / "out.csv").string()});
  EXPECT_EQ(no_dir.status, cli::exit_failure);
  EXPECT_NE(no_dir.err.find("cannot create a temporary file beside " + (dir / "missing" / "out.csv").string()), std::string::npos)
      << no_dir.err;
  const auto no_temp = run_cli({"smooth", "-m", model, "-i", input, "-o", (dir / "out.csv").string(), "--chunk-steps", "10",
                                "--temp-dir", (dir / "missing").string()});
  EXPECT_EQ(no_temp.status, cli::exit_failure);
  EXPECT_NE(no_temp.err.find("cannot create a temporary file in " + (dir / "missing").string()), std::string::npos) << no_temp.err;
  EXPECT_EQ(dir.files().size(), 2u) << "left: " << ::testing::PrintToString(dir.files());
  const auto no_input = run_cli({"smooth", "-m", model, "-i", (dir / "absent.csv").string()});
  EXPECT_EQ(no_input.status, cli::exit_usage);
  EXPECT_NE(no_input.err.find("--input: File does not exist"), std::string::npos) << no_input.err;
}

TEST(Cli, TheExecutableExitsNonZeroOnBadInput) {
  TempDir dir;
  write_file(dir / "model.json", make_small_log(1, 1).model_json);
  write_file(dir / "log.csv", header + "0,gps,1,2,,\n-1,gps,1,2,,\n");
  const std::string cmd = std::string(KALMANSCAN_CLI_PATH) + " smooth -m " + (dir / "model.json").string() + " -i " +
                          (dir / "log.csv").string() + " -o " + (dir / "out.csv").string() + " 2> " + (dir / "err.txt").string();
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(read_file(dir / "err.txt").find("log.csv:3: field 't'"), std::string::npos) << read_file(dir / "err.txt");
  EXPECT_FALSE(std::filesystem::exists(dir / "out.csv"));
}

}  // namespace
}  // namespace kalmanscan::testing
