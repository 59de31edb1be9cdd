// Throughput of the log readers and of `kalmanscan smooth` end to end, on the demo's vehicle
// log (two sensors, long-form CSV with a sensor column; ~50 bytes a row).
//   BM_ScanLines/<rows>:    memchr over the CSV bytes, the least any line-based parser must do
//                           (the parsers' baseline in the same run).
//   BM_ParseCsv/<rows>:     CsvReader over the in-memory log: MB/s and rows/s per CPU second.
//   BM_ParseRecords/<rows>: RecordLogReader over the same log as a record file.
//   BM_Smooth/<backend>/<rows>: run_smooth from a CSV file on disk to an estimates CSV file (default
//                           chunking, so long logs run out of core): steps/s per wall-clock second.
//                           The sequential backend always runs too, as the baseline; a table at the
//                           end gives each backend's steps/s, its speed-up over it and the MB/s parsed.
// Options (besides Google Benchmark's):
//   --rows N[,N…]        log sizes (default 100000,1000000)
//   --backend B[,B…]     smoothing backends: sequential, threaded, cuda (default: threaded, and
//                        cuda when built with CUDA and a GPU is present)
//   --precision P        arithmetic of every smoothing run: f64 (default) or f32
// The issue-4 run:  kalmanscan_apps_bench --rows 1000000,10000000 [--backend threaded,cuda]
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "kalmanscan/cli/smooth.hpp"
#include "kalmanscan/cli/vehicle_sim.hpp"
#include "kalmanscan/config.hpp"
#include "kalmanscan/formats/csv_reader.hpp"
#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/formats/record_file.hpp"
#include "kalmanscan/formats/writers.hpp"
#include "kalmanscan/scan/gpu.hpp"

namespace {

using namespace kalmanscan;

struct Logs {
  std::string csv, records;
};

const formats::Model& model() {
  static const formats::Model m(cli::VehicleSim::model_spec({}), "vehicle");
  return m;
}

/// The vehicle log of about `rows` rows (one gps row per 50 odo rows), generated once per size.
const Logs& logs(std::size_t rows) {
  static std::map<std::size_t, Logs> cache;
  auto it = cache.find(rows);
  if (it != cache.end()) return it->second;
  cli::VehicleSimOptions o;
  o.steps = rows * 50 / 51;
  std::ostringstream csv, rec;
  formats::CsvLogWriter cw(csv, model());
  formats::RecordWriter rw(rec, proto::RecordFileHeader::LOG, "bench");
  cli::VehicleSim::for_each_row(o, [&](const proto::LogRecord& r) { cw.write(r), rw.write(r); });
  return cache[rows] = {std::move(csv).str(), std::move(rec).str()};
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

std::string& precision() {
  static std::string p = "f64";
  return p;
}

/// Summaries of the smoothing runs, by (rows, backend), for the table at the end.
std::map<std::pair<long, std::string>, proto::SmoothSummary>& smooth_results() {
  static std::map<std::pair<long, std::string>, proto::SmoothSummary> r;
  return r;
}

void BM_Smooth(benchmark::State& state, std::string backend) {
  const auto dir = std::filesystem::temp_directory_path();
  const std::string tag = std::to_string(::getpid());
  const auto model_path = dir / ("kalmanscan-bench-model-" + tag + ".json"),
             log_path = dir / ("kalmanscan-bench-log-" + tag + ".csv"), out_path = dir / ("kalmanscan-bench-out-" + tag + ".csv");
  std::ofstream(model_path) << formats::format_model_spec(cli::VehicleSim::model_spec({}), formats::SpecSyntax::json);
  std::ofstream(log_path, std::ios::binary) << logs(state.range(0)).csv;
  cli::SmoothJob job;
  job.model = model_path;
  job.input = log_path;
  job.output = out_path;
  job.backend = backend;
  job.precision = precision();
  std::uint64_t steps = 0;
  proto::SmoothSummary s;
  for (auto _ : state) {
    s = cli::run_smooth(job);
    steps += s.steps();
  }
  const auto& t = s.timing();
  state.counters["steps/s"] = benchmark::Counter(double(steps), benchmark::Counter::kIsRate);
  state.counters["parse_MB/s"] = t.read_s() > 0 ? double(s.input_bytes()) / 1e6 / t.read_s() : 0.0;
  state.counters["chunks"] = double(s.chunks());
  smooth_results()[{state.range(0), backend}] = s;
  std::filesystem::remove(model_path), std::filesystem::remove(log_path), std::filesystem::remove(out_path);
}

void print_smooth_table() {
  if (smooth_results().empty()) return;
  std::printf("\nsmooth end to end (CSV file -> estimates CSV file, std devs), %s, %s:\n", precision().c_str(),
              KALMANSCAN_HAS_CUDA ? "built with CUDA" : "CPU-only build");
  std::printf("%10s %-10s %7s %12s %14s %12s %9s %10s %8s %8s\n", "rows", "backend", "chunks", "steps/s", "vs sequential",
              "parse MB/s", "read s", "compute s", "write s", "total s");
  for (const auto& [key, s] : smooth_results()) {
    const auto base = smooth_results().find({key.first, "sequential"});
    const double speedup = base == smooth_results().end() ? 0.0 : s.steps_per_second() / base->second.steps_per_second();
    const auto& t = s.timing();
    std::printf("%10llu %-10s %7llu %12.4g %13.2fx %12.1f %9.2f %10.2f %8.2f %8.2f\n", (unsigned long long)s.rows(),
                key.second.c_str(), (unsigned long long)s.chunks(), s.steps_per_second(), speedup,
                t.read_s() > 0 ? double(s.input_bytes()) / 1e6 / t.read_s() : 0.0, t.read_s(), t.compute_s(), t.write_s(),
                t.total_s());
  }
}

/// "a,b,c" → {"a", "b", "c"}.
std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

/// Takes --rows, --backend and --precision (as "--x v" or "--x=v") out of argv; returns their values, or "".
std::map<std::string, std::string> take_options(int& argc, char** argv) {
  std::map<std::string, std::string> found;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    bool taken = false;
    for (const char* name : {"--rows", "--backend", "--precision"}) {
      if (a == name && i + 1 < argc) found[name] = argv[++i], taken = true;
      else if (a.rfind(std::string(name) + "=", 0) == 0) found[name] = a.substr(std::strlen(name) + 1), taken = true;
    }
    if (!taken) argv[kept++] = argv[i];
  }
  argc = kept;
  return found;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = take_options(argc, argv);
  std::vector<long> rows;
  for (const auto& r : split_list(options.count("--rows") ? options["--rows"] : "100000,1000000")) rows.push_back(std::atol(r.c_str()));
  if (options.count("--precision")) precision() = options["--precision"];
  if (precision() != "f64" && precision() != "f32") {
    std::fprintf(stderr, "kalmanscan_apps_bench: --precision: expected f64 or f32, found '%s'\n", precision().c_str());
    return 2;
  }
  const bool gpu = KALMANSCAN_HAS_CUDA && scan::gpu::device_count() > 0;
  std::vector<std::string> backends = options.count("--backend") ? split_list(options["--backend"])
                                      : gpu ? std::vector<std::string>{"threaded", "cuda"}
                                            : std::vector<std::string>{"threaded"};
  for (const auto& b : backends) {
    if (b != "sequential" && b != "threaded" && b != "cuda") {
      std::fprintf(stderr, "kalmanscan_apps_bench: --backend: expected sequential, threaded or cuda, found '%s'\n", b.c_str());
      return 2;
    }
    if (b == "cuda" && !gpu) {
      std::fprintf(stderr, "kalmanscan_apps_bench: --backend cuda: %s\n",
                   KALMANSCAN_HAS_CUDA ? "no CUDA device found" : "this build has no CUDA");
      return 2;
    }
  }
  if (std::find(backends.begin(), backends.end(), "sequential") == backends.end()) backends.insert(backends.begin(), "sequential");
  for (long r : rows) {
    if (r <= 0) {
      std::fprintf(stderr, "kalmanscan_apps_bench: --rows: expected positive row counts\n");
      return 2;
    }
    benchmark::RegisterBenchmark("BM_ScanLines", BM_ScanLines)->Arg(r)->Unit(benchmark::kMillisecond);
    // Parsing runs on one thread: its rates are per CPU second (per core, even on a busy machine).
    benchmark::RegisterBenchmark("BM_ParseCsv", BM_ParseCsv)->Arg(r)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("BM_ParseRecords", BM_ParseRecords)->Arg(r)->Unit(benchmark::kMillisecond);
    // Smoothing uses every core (or the GPU): its rates are per wall-clock second.
    for (const auto& b : backends)
      benchmark::RegisterBenchmark(("BM_Smooth/" + b).c_str(), BM_Smooth, b)->Arg(r)->Iterations(1)->UseRealTime()->Unit(
          benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  print_smooth_table();
  benchmark::Shutdown();
  return 0;
}
