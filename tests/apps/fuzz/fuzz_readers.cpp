// libFuzzer harness for the log readers (CSV and record files), built and run by
// scripts/fuzz-readers. The first byte picks the model (and so the columns the CSV reader
// looks for) and the chunk size; the rest is the log. Bad input must end in a FormatError;
// anything else (a crash, a sanitizer report, another exception) is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <google/protobuf/stubs/logging.h>

#include "kalmanscan/formats/error.hpp"
#include "kalmanscan/formats/log_reader.hpp"
#include "kalmanscan/formats/model.hpp"

namespace {

using namespace kalmanscan;

const char* const vehicle_spec = R"(
  motion { kind: CONSTANT_VELOCITY dimensions: 2 noise_density: 0.5 }
  sensors { name: "gps" columns: ["x", "y"] H { rows: 2 cols: 4 data: [1,0,0,0, 0,1,0,0] } R { rows: 2 cols: 2 data: [9,0,0,9] } }
  sensors { name: "odo" columns: ["vx", "vy"] H { rows: 2 cols: 4 data: [0,0,1,0, 0,0,0,1] } R { rows: 2 cols: 2 data: [1,0,0,1] } }
  prior { mean: [0,0,0,0] covariance { rows: 4 cols: 4 data: [1,0,0,0, 0,1,0,0, 0,0,1,0, 0,0,0,1] } }
  options { sensor_column: "sensor" })";

const char* const thermal_spec = R"(
  explicit_dynamics { F { rows: 1 cols: 1 data: [1] } Q { rows: 1 cols: 1 data: [1] } B { rows: 1 cols: 1 data: [1] } }
  sensors { name: "a" columns: "a" H { rows: 1 cols: 1 data: [1] } R { rows: 1 cols: 1 data: [1] } }
  sensors { name: "b" columns: "b" H { rows: 1 cols: 1 data: [1] } R { rows: 1 cols: 1 data: [1] } }
  prior { mean: [0] covariance { rows: 1 cols: 1 data: [1] } }
  options { time_column: "t" control_columns: "u" })";

const formats::Model& model(int which) {
  static const formats::Model vehicle(formats::parse_model_spec(vehicle_spec, formats::SpecSyntax::text, "vehicle"), "vehicle");
  static const formats::Model thermal(formats::parse_model_spec(thermal_spec, formats::SpecSyntax::text, "thermal"), "thermal");
  return which ? thermal : vehicle;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // parse failures are reported as FormatError; no log lines
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const std::string_view log(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    auto reader = formats::open_log(formats::memory_source(log, "fuzz"), model(control & 1));
    formats::StepBlock block;
    const std::size_t chunk = 1 + (control >> 1);
    std::size_t steps = 0;
    while (reader->read(block, chunk)) {
      if (block.size() > chunk || block.z.size() != block.size() * block.m || block.u.size() != block.size() * block.k)
        __builtin_trap();  // a reader broke its own contract
      steps += block.size();
    }
    if (steps != reader->stats().steps) __builtin_trap();
  } catch (const formats::FormatError&) {
    // bad input, reported as such
  }
  return 0;
}
