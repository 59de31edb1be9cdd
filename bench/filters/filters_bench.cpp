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
//   dyn_1thread   the dynamic-size path (same elements on Eigen heap matrices of size n) on one thread
//   dyn_threaded  the dynamic-size path on all cores
// The dynamic set (BM_dynamic): n = 8, 20 (compiled path padded to 24), 65 (no compiled path),
// filter + smoother, T = 10⁴ and 10⁵ (n = 65: 10⁴, to keep a run within minutes).
// Each reports steps/s and `speedup` = (baseline time) / (its time), the baseline measured in the
// same run for the same configuration, and `allocs_per_step`: heap allocations per step of a
// run (malloc is counted by this executable's own malloc, forwarding to glibc's). NIS and
// log-likelihood are off in every implementation (the sequential filter computes them as a
// by-product, so its time includes them).
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <tuple>

#include "kalmanscan/filters/kalman.hpp"
#include "kalmanscan/filters/parallel.hpp"
#include "kalmanscan/filters/rts.hpp"
#include "bench_models.hpp"

std::atomic<std::size_t> heap_allocations{0};

// Every malloc of this process (Eigen's matrices, operator new) passes here; glibc allows an
// executable to replace malloc, and __libc_malloc is its own.
extern "C" void* __libc_malloc(std::size_t);
extern "C" void* malloc(std::size_t bytes) {
  heap_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(bytes);
}

namespace {

using namespace kalmanscan::filters;

enum Impl { seq_kf, scan_1thread, scan_threaded, dyn_1thread, dyn_threaded };
const char* impl_name[] = {"seq_kf", "scan_1thread", "scan_threaded", "dyn_1thread", "dyn_threaded"};

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
  const bool one_thread = impl == scan_1thread || impl == dyn_1thread;
  const ParallelOptions o{.backend = one_thread ? kalmanscan::scan::Backend::sequential : kalmanscan::scan::Backend::threaded,
                          .diagnostics = false,
                          .dynamic_size = impl == dyn_1thread || impl == dyn_threaded};
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
  const std::size_t allocations_before = heap_allocations.load();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    run_once<T>(impl, model, meas, smooth);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const double per_run = seconds / double(state.iterations());
  state.counters["allocs_per_step"] =
      double(heap_allocations.load() - allocations_before) / double(state.iterations()) / double(steps);
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

/// The dynamic-size path against the sequential filter and the compiled path (where one exists).
void dynamic_configurations(benchmark::internal::Benchmark* b) {
  for (long n : {8L, 20L, 65L})
    for (long steps : {10000L, 100000L}) {
      if (n == 65 && steps > 10000) continue;
      for (long impl : {long(seq_kf), long(scan_threaded), long(dyn_1thread), long(dyn_threaded)})
        if (impl != scan_threaded || n <= parallel_state_sizes.back()) b->Args({steps, n, 1, impl});
    }
  b->ArgNames({"T", "n", "smooth", "impl"})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
}

BENCHMARK(BM_filters<double>)->Apply(configurations);
BENCHMARK(BM_filters<float>)->Apply(configurations);
BENCHMARK(BM_filters<double>)->Name("BM_dynamic<double>")->Apply(dynamic_configurations);
BENCHMARK(BM_filters<float>)->Name("BM_dynamic<float>")->Apply(dynamic_configurations);

}  // namespace

BENCHMARK_MAIN();
