// Sequential vs parallel-in-time Kalman filtering and smoothing on the CPU.
//
//   kalmanscan_filters_bench [--benchmark_filter=...]
//
// Configurations: T = 10³ … 10⁶ steps; state/measurement sizes 2/1, 4/2, 6/3 (constant velocity
// in 1, 2, 3 axes with position sensors) and 12/6 (a random stable model); filter only or
// filter + smoother; float and double. Implementations, in the order they run for each
// configuration:
//   seq_kf        the sequential covariance Kalman filter (Joseph form) + RTS smoother: the baseline
//   scan_1thread  the parallel elements scanned on one thread (the cost of the parallel form)
//   scan_threaded the parallel elements on all cores (blocked reduce–scan–apply)
// Each reports steps/s and `speedup` = (baseline time) / (its time), the baseline measured in the
// same run for the same configuration. NIS and log-likelihood are off in every implementation
// (the sequential filter computes them as a by-product, so its time includes them).
#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <tuple>

#include "kalmanscan/filters/kalman.hpp"
#include "kalmanscan/filters/parallel.hpp"
#include "kalmanscan/filters/rts.hpp"
#include "bench_models.hpp"

namespace {

using namespace kalmanscan::filters;

enum Impl { seq_kf, scan_1thread, scan_threaded };
const char* impl_name[] = {"seq_kf", "scan_1thread", "scan_threaded"};

const Measurements& log_of(std::size_t steps, int n) {
  static std::map<std::pair<std::size_t, int>, Measurements> cache;
  auto it = cache.find({steps, n});
  if (it != cache.end()) return it->second;
  return cache.emplace(std::make_pair(steps, n), bench::log_of(steps, bench::model_of_size(n))).first->second;
}

template <class T>
void run_once(Impl impl, const Model& model, const Measurements& meas, bool smooth) {
  if (impl == seq_kf) {
    BasicTrajectory<T> tr = kalman_filter<T>(model, meas, std::nullopt);
    if (smooth) rts_smooth(model, meas, tr, std::nullopt, false);
    benchmark::DoNotOptimize(tr.filtered_mean.data());
    return;
  }
  const ParallelOptions o{.backend = impl == scan_1thread ? kalmanscan::scan::Backend::sequential
                                                          : kalmanscan::scan::Backend::threaded,
                          .diagnostics = false};
  BasicTrajectory<T> tr = parallel_filter<T>(model, meas, std::nullopt, nullptr, o);
  if (smooth) parallel_smooth(model, meas, tr, std::nullopt, false, o);
  benchmark::DoNotOptimize(tr.filtered_mean.data());
}

/// Seconds per run of the baseline, per (T, n, smooth, precision), filled by seq_kf.
std::map<std::tuple<std::size_t, int, bool, bool>, double>& baseline() {
  static std::map<std::tuple<std::size_t, int, bool, bool>, double> b;
  return b;
}

template <class T>
void BM_filters(benchmark::State& state) {
  const std::size_t steps = std::size_t(state.range(0));
  const int n = int(state.range(1));
  const bool smooth = state.range(2) != 0;
  const Impl impl = Impl(state.range(3));
  const Model model = bench::model_of_size(n);
  const Measurements& meas = log_of(steps, n);
  double seconds = 0.0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    run_once<T>(impl, model, meas, smooth);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const double per_run = seconds / double(state.iterations());
  const auto key = std::make_tuple(steps, n, smooth, std::is_same_v<T, float>);
  if (impl == seq_kf) baseline()[key] = per_run;
  state.counters["steps_per_s"] = double(steps) / per_run;
  if (baseline().count(key)) state.counters["speedup"] = baseline()[key] / per_run;
  state.SetLabel(std::string(impl_name[impl]) + (smooth ? " filter+smoother" : " filter") +
                 (std::is_same_v<T, float> ? " float" : " double"));
}

void configurations(benchmark::internal::Benchmark* b) {
  for (long steps : {1000L, 10000L, 100000L, 1000000L})
    for (long n : {2L, 4L, 6L, 12L})
      for (long smooth : {0L, 1L})
        for (long impl : {long(seq_kf), long(scan_1thread), long(scan_threaded)}) b->Args({steps, n, smooth, impl});
  b->ArgNames({"T", "n", "smooth", "impl"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_filters<double>)->Apply(configurations);
BENCHMARK(BM_filters<float>)->Apply(configurations);

}  // namespace

BENCHMARK_MAIN();
