// The stream service's benchmark (issue 7): throughput and p50/p99 latency with 1, 100, 1 000 and 10 000
// streams (state 4, measurement 2: 2-D constant velocity, position measured), recording off and
// on, the load generator beside the server on loopback (one process, two threads).
//
//   net_bench [--quick] [--seconds S] [--rate R] [--streams N] [--record on|off]
//
// --streams and --record run only the rows with that stream count / recording setting (for
// profiling one shape).
//
// For each stream count: a closed-loop run (each connection keeps a window of measurements in
// flight: the throughput) and an open-loop run at --rate updates/s (the latency). One update =
// one measurement frame in, one estimate frame out. The baseline, measured in the same run, is
// the per-stream filter alone (StreamFilter::update in a loop, no network): the table reports the
// service's throughput as a fraction of it, and the mean number of updates per micro-batch (the
// size a batched filter path, CPU or GPU, would get: docs/BENCHMARKS.md).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <unistd.h>

#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/net/load.hpp"
#include "kalmanscan/net/server.hpp"
#include "kalmanscan/net/stream_filter.hpp"

using namespace kalmanscan;

namespace {

proto::ModelSpec cv_spec() {
  proto::ModelSpec spec;
  spec.set_name("cv2d");
  auto* mm = spec.mutable_motion();
  mm->set_kind(proto::MotionModel::CONSTANT_VELOCITY);
  mm->set_dimensions(2);
  mm->set_noise_density(0.5);
  auto* s = spec.add_sensors();
  s->set_name("pos");
  s->add_columns("px");
  s->add_columns("py");
  auto* H = s->mutable_h();
  H->set_rows(2);
  H->set_cols(4);
  for (int v : {1, 0, 0, 0, 0, 1, 0, 0}) H->add_data(v);
  auto* R = s->mutable_r();
  R->set_rows(2);
  R->set_cols(2);
  for (double v : {0.1, 0.0, 0.0, 0.1}) R->add_data(v);
  for (int i = 0; i < 4; ++i) spec.mutable_prior()->add_mean(0);
  auto* P = spec.mutable_prior()->mutable_covariance();
  P->set_rows(4);
  P->set_cols(4);
  for (int i = 0; i < 16; ++i) P->add_data(i % 5 == 0 ? 10.0 : 0.0);
  return spec;
}

/// Updates per second of the per-stream filter alone (the same measurements as the load
/// generator's, into a reused output as the server does).
double baseline_rate(const std::shared_ptr<const formats::Model>& model) {
  net::StreamFilter f(model, {});
  net::StreamFilter::Output out;
  proto::LogRecord r;
  r.add_values(0);
  r.add_values(0);
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int n = 200000;
  for (int k = 0; k < n; ++k) {
    const double t = k / 128.0;
    r.set_timestamp(t);
    r.set_values(0, std::cos(t) + 0.1 * std::sin(37.0 * t));
    r.set_values(1, std::sin(t) + 0.1 * std::cos(53.0 * t));
    f.update(r, out);
  }
  return n / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Shape {
  unsigned streams, connections;
};

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3, rate = 50000;
  bool quick = false;
  unsigned only_streams = 0;  // 0 = every shape
  std::string only_record;    // "" = both
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true, seconds = 0.5;
    else if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (a == "--rate" && i + 1 < argc) rate = std::atof(argv[++i]);
    else if (a == "--streams" && i + 1 < argc) only_streams = static_cast<unsigned>(std::atoi(argv[++i]));
    else if (a == "--record" && i + 1 < argc && (std::string(argv[i + 1]) == "on" || std::string(argv[i + 1]) == "off"))
      only_record = argv[++i];
    else {
      std::cerr << "usage: net_bench [--quick] [--seconds S] [--rate R] [--streams N] [--record on|off]\n";
      return 2;
    }
  }
  const auto model = std::make_shared<const formats::Model>(cv_spec(), "cv2d");
  const double base = baseline_rate(model);
  std::printf("baseline: StreamFilter::update alone, state 4, measurement 2: %.0f updates/s\n\n", base);
  std::printf("%-9s %-7s %-6s %-12s %14s %8s %10s %10s %10s\n", "streams", "conns", "record", "mode", "updates/s",
              "of base", "p50 us", "p99 us", "upd/batch");

  const Shape shapes[] = {{1, 1}, {100, 4}, {1000, 10}, {10000, 10}};
  for (bool record : {false, true}) {
    if (!only_record.empty() && record != (only_record == "on")) continue;
    for (const Shape& shape : shapes) {
      if (only_streams ? shape.streams != only_streams : quick && shape.streams == 10000) continue;
      const auto dir = std::filesystem::temp_directory_path() / ("net_bench_" + std::to_string(::getpid()));
      std::filesystem::remove_all(dir);
      std::filesystem::create_directories(dir);
      net::ServerOptions so;
      so.default_model = model;
      so.max_streams_per_connection = 100000;
      if (record) so.record_dir = dir;
      for (bool closed_loop : {true, false}) {
        net::Server server(so);
        server.start();
        net::LoadOptions lo;
        lo.port = server.port();
        lo.connections = shape.connections;
        lo.streams_per_connection = shape.streams / shape.connections;
        lo.rate = closed_loop ? 0 : rate;
        lo.window = 256;
        lo.duration = std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
        lo.warmup = std::chrono::milliseconds(static_cast<long long>(seconds * 200));
        lo.stream_prefix = closed_loop ? "closed" : "open";
        const net::LoadResult r = net::run_load(lo);
        server.stop();
        server.join();
        const net::ServerStats st = server.stats();
        std::printf("%-9u %-7u %-6s %-12s %14.0f %7.1f%% %10.1f %10.1f %10.1f\n", shape.streams, shape.connections,
                    record ? "on" : "off", closed_loop ? "closed-loop" : ("open " + std::to_string(int(rate))).c_str(),
                    r.throughput, 100.0 * r.throughput / base, r.p50_us, r.p99_us,
                    st.batches ? double(st.measurements_accepted) / double(st.batches) : 0.0);
        std::fflush(stdout);
      }
      std::filesystem::remove_all(dir);
    }
  }
  return 0;
}
