// The formats library on its own: model specs in both syntaxes, CSV parsing rules (hand-worked
// expected steps), block boundaries, and CSV ↔ record-file round trips of a generated log.
#include <cmath>

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "kalmanscan/cli/vehicle_sim.hpp"
#include "kalmanscan/formats/csv_reader.hpp"
#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/formats/record_file.hpp"
#include "kalmanscan/formats/writers.hpp"
#include "test_util.hpp"

namespace kalmanscan::testing {
namespace {

using formats::StepBlock;

StepBlock read_all(formats::LogReader& reader, std::size_t chunk = 1000000) {
  StepBlock all, part;
  while (reader.read(part, chunk)) {
    all.m = part.m, all.k = part.k;
    all.time.insert(all.time.end(), part.time.begin(), part.time.end());
    all.z.insert(all.z.end(), part.z.begin(), part.z.end());
    all.u.insert(all.u.end(), part.u.begin(), part.u.end());
    all.line.insert(all.line.end(), part.line.begin(), part.line.end());
  }
  return all;
}

/// Equal element by element, NaN equal to NaN.
void expect_same(const std::vector<double>& a, const std::vector<double>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(std::isnan(a[i]) && std::isnan(b[i]))) {
      ASSERT_EQ(a[i], b[i]) << what << "[" << i << "]";
    }
}

TEST(ModelSpec, ExamplesParseInBothSyntaxesAndAgree) {
  for (const char* name : {"vehicle_cv2d.json", "thermal_explicit.txtpb"}) {
    const auto path = std::filesystem::path(KALMANSCAN_EXAMPLES_DIR) / name;
    const proto::ModelSpec spec = formats::read_model_spec(path);
    const formats::Model model(spec, path.string());  // validates
    for (auto syntax : {formats::SpecSyntax::json, formats::SpecSyntax::text}) {
      const std::string text = formats::format_model_spec(spec, syntax);
      EXPECT_EQ(formats::detect_spec_syntax("model", text), syntax) << text;
      const proto::ModelSpec back = formats::parse_model_spec(text, syntax, "roundtrip");
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(spec, back)) << text;
    }
  }
  const formats::Model thermal(formats::read_model_spec(std::filesystem::path(KALMANSCAN_EXAMPLES_DIR) / "thermal_explicit.txtpb"), "t");
  EXPECT_EQ(thermal.state_dim(), 2u);
  EXPECT_EQ(thermal.measurement_dim(), 2u);
  EXPECT_EQ(thermal.control_dim(), 1u);
  EXPECT_EQ(thermal.state_names(), (std::vector<std::string>{"temperature", "drift"}));
  EXPECT_EQ(thermal.d()[1], 0.3);
  EXPECT_EQ(thermal.R()(1, 1), 1.0);
  EXPECT_EQ(thermal.R()(0, 1), 0.0);
}

TEST(ModelSpec, TextFormatErrorsNameLineAndColumn) {
  try {
    formats::parse_model_spec("name: \"x\"\nmotion { kind: WARP_DRIVE }\n", formats::SpecSyntax::text, "m.txtpb");
    FAIL() << "expected a FormatError";
  } catch (const formats::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("m.txtpb: expected a ModelSpec in protobuf text format, found line 2 column"),
              std::string::npos) << e.what();
  }
}

TEST(CsvReader, ThermalExampleStepsAsWorkedByHand) {
  const auto dir = std::filesystem::path(KALMANSCAN_EXAMPLES_DIR);
  const formats::Model model(formats::read_model_spec(dir / "thermal_explicit.txtpb"), "thermal");
  formats::CsvReader reader(formats::open_file_source(dir / "thermal.csv"), model);
  const StepBlock b = read_all(reader);
  const double nan = std::nan("");
  // time,t1,t2,heater: six rows, six distinct times; empty and nan cells missing; the empty
  // heater cell holds the previous value (1).
  expect_same(b.time, {0, 60, 120, 180, 240, 300}, "time");
  expect_same(b.z, {20.1, 20.6, 19.9, nan, nan, 20.1, 20.6, 21.0, nan, 21.2, 20.9, 21.1}, "z");
  expect_same(b.u, {0, 0, 1, 1, 0, 0}, "u");
  EXPECT_EQ(b.line, (std::vector<std::uint64_t>{2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(reader.stats().rows, 6u);
  EXPECT_EQ(reader.stats().values, 12u);
  EXPECT_EQ(reader.stats().missing_values, 3u);
}

TEST(CsvReader, MergesEqualTimestampsAndAcceptsCrlfBlanksAndSpaces) {
  const formats::Model model(cli::VehicleSim::model_spec({}), "vehicle");
  const std::string csv =
      "extra, t ,sensor,x,y,vx,vy\r\n"
      "a,0,odo,,,1,2\r\n"
      "\r\n"
      "b,0,gps, 10 ,+11,,\r\n"
      "c, 0.5 ,odo,,,NaN,3e0\n"
      "d,0.5,gps,,-1.5e-1,,";  // no final newline
  formats::CsvReader reader(formats::memory_source(csv, "mem.csv"), model, 64);
  const StepBlock b = read_all(reader);
  const double nan = std::nan("");
  expect_same(b.time, {0, 0.5}, "time");
  expect_same(b.z, {10, 11, 1, 2, nan, -0.15, nan, 3}, "z");
  EXPECT_EQ(b.line, (std::vector<std::uint64_t>{2, 5}));
  EXPECT_EQ(reader.stats().rows, 4u);
  EXPECT_EQ(reader.stats().steps, 2u);
  EXPECT_EQ(reader.stats().missing_values, 2u);
}

TEST(LogRoundTrip, CsvAndRecordFilesOfAGeneratedLogReadBackIdentically) {
  cli::VehicleSimOptions o;
  o.steps = 3000;
  o.gps_period_s = 0.1;
  o.outage_period_s = 20;
  o.outage_s = 3;
  const proto::ModelSpec spec = cli::VehicleSim::model_spec(o);
  const formats::Model model(spec, "vehicle");
  std::ostringstream csv_out, rec_out;
  formats::CsvLogWriter csv_writer(csv_out, model);
  formats::RecordWriter rec_writer(rec_out, proto::RecordFileHeader::LOG, "test");
  cli::VehicleSim sim(o);
  std::vector<proto::LogRecord> rows;
  Eigen::Vector4d truth;
  // The expected steps, built from the records directly.
  StepBlock expected;
  while (sim.next(rows, truth)) {
    expected.time.push_back(rows.front().timestamp());
    std::vector<double> z(4, std::nan(""));
    for (const auto& r : rows) {
      csv_writer.write(r);
      rec_writer.write(r);
      const int o0 = r.sensor() == "gps" ? 0 : 2;
      z[o0] = r.values(0), z[o0 + 1] = r.values(1);
    }
    expected.z.insert(expected.z.end(), z.begin(), z.end());
  }
  const std::string csv = csv_out.str(), rec = rec_out.str();
  for (std::size_t block : {std::size_t(64), std::size_t(4096), std::size_t(1) << 20}) {
    formats::CsvReader csv_reader(formats::memory_source(csv, "log.csv"), model, block);
    const StepBlock a = read_all(csv_reader, 777);
    expect_same(a.time, expected.time, "csv time");
    expect_same(a.z, expected.z, "csv z");
  }
  auto rec_reader = formats::open_log(formats::memory_source(rec, "log.kslog"), model);
  const StepBlock b = read_all(*rec_reader, 1000);
  expect_same(b.time, expected.time, "record time");
  expect_same(b.z, expected.z, "record z");
  EXPECT_TRUE(rec_reader->warning().empty());
  EXPECT_EQ(rec_reader->stats().missing_values, 2 * sim.gps_lost());
}

}  // namespace
}  // namespace kalmanscan::testing
