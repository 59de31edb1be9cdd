// Throughput of the log readers and of `kalmanscan smooth` end to end, on the demo's vehicle
// log (two sensors, long-form CSV with a sensor column; ~35 bytes a row).
//   BM_ParseCsv/<rows>:     CsvReader over an in-memory log: bytes/s (MB/s) and rows/s per CPU second.
//                           The baseline in the same run is BM_ScanLines: memchr over the
//                           same bytes, the least any line-based parser must do.
//   BM_ParseRecords/<rows>: RecordLogReader over the same log as a record file.
//   BM_Smooth/<rows>/<backend>: run_smooth from a CSV file on disk to an output CSV: steps/s.
// Default sizes are 10^5 and 10^6 rows; pass --benchmark_filter to choose, and set
// KALMANSCAN_BENCH_ROWS (e.g. 10000000) to add a size.
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <benchmark/benchmark.h>

#include "kalmanscan/config.hpp"
#include "kalmanscan/cli/smooth.hpp"
#include "kalmanscan/cli/vehicle_sim.hpp"
#include "kalmanscan/formats/csv_reader.hpp"
#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/formats/record_file.hpp"
#include "kalmanscan/formats/writers.hpp"

namespace {

using namespace kalmanscan;

struct Logs {
  std::string csv, records;
};

cli::VehicleSimOptions options(std::size_t rows) {
  cli::VehicleSimOptions o;
  o.steps = rows * 50 / 51;  // one gps row per 50 odo rows
  return o;
}

const formats::Model& model() {
  static const formats::Model m(cli::VehicleSim::model_spec({}), "vehicle");
  return m;
}

const Logs& logs(std::size_t rows) {
  static std::map<std::size_t, Logs> cache;
  auto it = cache.find(rows);
  if (it != cache.end()) return it->second;
  std::ostringstream csv, rec;
  formats::CsvLogWriter cw(csv, model());
  formats::RecordWriter rw(rec, proto::RecordFileHeader::LOG, "bench");
  cli::VehicleSim sim(options(rows));
  std::vector<proto::LogRecord> step;
  Eigen::Vector4d truth;
  while (sim.next(step, truth))
    for (const auto& r : step) cw.write(r), rw.write(r);
  return cache[rows] = {csv.str(), rec.str()};
}

void BM_ScanLines(benchmark::State& state) {
  const std::string& text = logs(state.range(0)).csv;
  for (auto _ : state) {
    std::size_t lines = 0;
    for (const char* p = text.data(); (p = static_cast<const char*>(std::memchr(p, '\n', text.data() + text.size() - p))); ++p)
      ++lines;
    benchmark::DoNotOptimize(lines);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}

void BM_ParseCsv(benchmark::State& state) {
  const std::string& text = logs(state.range(0)).csv;
  formats::StepBlock block;
  std::uint64_t rows = 0;
  for (auto _ : state) {
    formats::CsvReader reader(formats::memory_source(text, "bench.csv"), model());
    while (reader.read(block, 1 << 16)) benchmark::DoNotOptimize(block.z.data());
    rows += reader.stats().rows;
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
  state.counters["rows/s"] = benchmark::Counter(double(rows), benchmark::Counter::kIsRate);
}

void BM_ParseRecords(benchmark::State& state) {
  const std::string& bytes = logs(state.range(0)).records;
  formats::StepBlock block;
  std::uint64_t rows = 0;
  for (auto _ : state) {
    auto reader = formats::open_log(formats::memory_source(bytes, "bench.kslog"), model());
    while (reader->read(block, 1 << 16)) benchmark::DoNotOptimize(block.z.data());
    rows += reader->stats().rows;
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes.size()));
  state.counters["rows/s"] = benchmark::Counter(double(rows), benchmark::Counter::kIsRate);
}

void BM_Smooth(benchmark::State& state, const char* backend) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto model_path = dir / "kalmanscan-bench-model.json", log_path = dir / "kalmanscan-bench-log.csv",
             out_path = dir / "kalmanscan-bench-out.csv";
  std::ofstream(model_path) << formats::format_model_spec(cli::VehicleSim::model_spec({}), formats::SpecSyntax::json);
  std::ofstream(log_path, std::ios::binary) << logs(state.range(0)).csv;
  cli::SmoothJob job;
  job.model = model_path;
  job.input = log_path;
  job.output = out_path;
  job.backend = backend;
  std::uint64_t steps = 0;
  proto::SmoothSummary s;
  for (auto _ : state) {
    s = cli::run_smooth(job);
    steps += s.steps();
  }
  state.counters["steps/s"] = benchmark::Counter(double(steps), benchmark::Counter::kIsRate);
  state.counters["read_s"] = s.timing().read_s();
  state.counters["compute_s"] = s.timing().compute_s();
  state.counters["write_s"] = s.timing().write_s();
  std::filesystem::remove(model_path), std::filesystem::remove(log_path), std::filesystem::remove(out_path);
}

void sizes(benchmark::internal::Benchmark* b) {
  b->Arg(100000)->Arg(1000000);
  if (const char* extra = std::getenv("KALMANSCAN_BENCH_ROWS")) b->Arg(std::atoll(extra));
  b->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_ScanLines)->Apply(sizes);
BENCHMARK(BM_ParseCsv)->Apply(sizes);
BENCHMARK(BM_ParseRecords)->Apply(sizes);
// Parsing runs on one thread: its rates are per CPU second (per core, even on a busy machine).
// Smoothing uses every core: its rates are per wall-clock second.
BENCHMARK_CAPTURE(BM_Smooth, sequential, "sequential")->Apply(sizes)->Iterations(1)->UseRealTime();
BENCHMARK_CAPTURE(BM_Smooth, threaded, "threaded")->Apply(sizes)->Iterations(1)->UseRealTime();
#if KALMANSCAN_HAS_CUDA
BENCHMARK_CAPTURE(BM_Smooth, cuda, "cuda")->Apply(sizes)->Iterations(1)->UseRealTime();
#endif

}  // namespace

BENCHMARK_MAIN();
