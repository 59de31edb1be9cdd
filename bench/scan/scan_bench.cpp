// CPU throughput of the scan engine (issue 2, item 6), Google Benchmark:
//   scan/<operator>/<backend>/batch:B/length:L   array scan through the engine, out of place
//   memcpy/bytes:N                               a copy of the same bytes: the ceiling
//   inline/<operator>/length:L                   a hand-written sequential loop over Op::combine,
//                                                the baseline the threaded backend must beat
// for every operator × {sequential, threaded}, lengths 10^3 … 10^7, batch 1 and 1024 (at most
// 10^8 elements and --max_gib of buffers per run). Counters: items_per_second (elements/s) and
// bytes_rw (bytes read + written per second = 2 · elements · sizeof(element) / time, "G/s" = GB/s). After the runs a summary prints each scan's time as a
// fraction of the copy's, and the threaded backend's speedup over the inlined loop on long inputs
// of the compute-bound operators (Mobius2Op<double>, AffineMapOp<double,4>).
//   kalmanscan_scan_bench [--quick] [--max_gib=G] [Google Benchmark flags]
// --quick: lengths 10^3 … 10^5 only. Times are wall-clock (UseRealTime: the threaded backend's
// workers are not the benchmark thread).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "kalmanscan/scan/gpu_instantiations.hpp"
#include "kalmanscan/scan/scan.hpp"

namespace {

using namespace kalmanscan::scan;

// ---------------------------------------------------------------------------------------------
// Inputs: valid, non-degenerate elements whose prefixes neither decay nor grow over 10^7 steps
// (floating maps of determinant ±1 on average, exact units), so no run is sped up or slowed
// down by zeros, denormals (100× slower on x86) or overflow.

template <class Op>
struct Input;

template <class T>
struct Input<AffineOp<T>> {
  static constexpr const char* name = sizeof(T) == 4 ? "AffineOp<float>" : "AffineOp<double>";
  /// |f| in [0.999, 1.001] with a random sign: log|F| is a random walk (about ±2 over 10^7).
  static Affine<T> make(std::mt19937_64& g) {
    std::uniform_real_distribution<double> f(0.999, 1.001), b(-1, 1);
    return {T(g() % 2 ? f(g) : -f(g)), T(b(g))};
  }
};
template <class T>
struct Input<Mobius2Op<T>> {
  static constexpr const char* name = sizeof(T) == 4 ? "Mobius2Op<float>" : "Mobius2Op<double>";
  /// The KLA precision step [[1 + p̄φ, ā²φ], [p̄, ā²]].
  static Mobius2<T> make(std::mt19937_64& g) {
    std::uniform_real_distribution<double> a(0.5, 1.0), p(0.01, 1.0), phi(0.0, 2.0);
    const double a2 = a(g) * a(g), pb = p(g), ph = phi(g);
    return {T(1 + pb * ph), T(a2 * ph), T(pb), T(a2)};
  }
};
template <class T, int N>
struct Input<AffineMapOp<T, N>> {
  static constexpr const char* name = N == 2 ? (sizeof(T) == 4 ? "AffineMapOp<float,2>" : "AffineMapOp<double,2>")
                                             : (sizeof(T) == 4 ? "AffineMapOp<float,4>" : "AffineMapOp<double,4>");
  /// A Householder reflection I − 2 v vᵀ / vᵀv (orthogonal: prefixes keep their norm up to
  /// rounding) and a random offset.
  static AffineMap<T, N> make(std::mt19937_64& g) {
    std::uniform_real_distribution<double> u(-1, 1);
    double v[N], vv = 0;
    for (int k = 0; k < N; ++k) {
      v[k] = u(g);
      vv += v[k] * v[k];
    }
    AffineMap<T, N> e;
    for (int r = 0; r < N; ++r)
      for (int c = 0; c < N; ++c) e.A(r, c) = T((r == c ? 1.0 : 0.0) - 2.0 * v[r] * v[c] / vv);
    for (int k = 0; k < N; ++k) e.b[k] = T(u(g));
    return e;
  }
};
template <>
struct Input<ModMatrix2M31Op> {
  static constexpr const char* name = "ModMatrix2M31Op";
  static ModMatrix2M31Op::element make(std::mt19937_64& g) {
    auto r = [&] { return std::uint32_t(g() % mersenne31); };
    return {r(), r(), r(), r()};
  }
};
template <>
struct Input<AffineMod32Op> {
  static constexpr const char* name = "AffineMod32Op";
  static AffineMod32Op::element make(std::mt19937_64& g) { return {std::uint32_t(g()) | 1u, std::uint32_t(g())}; }
};

template <class Op>
std::vector<element_t<Op>> make_input(std::size_t n) {
  std::mt19937_64 g(n);
  std::vector<element_t<Op>> v(n);
  for (auto& e : v) e = Input<Op>::make(g);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Benchmarks.

/// items_per_second = elements/s; bytes_rw = bytes read + written per second (shown as G/s).
void set_counters(benchmark::State& state, std::size_t elements, std::size_t element_bytes) {
  state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(elements));
  state.counters["bytes_rw"] = benchmark::Counter(2.0 * double(elements) * double(element_bytes),
                                                  benchmark::Counter::kIsIterationInvariantRate,
                                                  benchmark::Counter::OneK::kIs1000);
}

template <class Op>
void bm_scan(benchmark::State& state, Backend backend, std::size_t batch, std::size_t length) {
  using E = element_t<Op>;
  const std::size_t n = batch * length;
  const std::vector<E> in = make_input<Op>(n);
  std::vector<E> out(n);
  const Options options{.backend = backend};
  for (auto _ : state) {
    scan<Op>(std::span<const E>(in), std::span<E>(out), Layout::uniform(batch, length), options);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, n, sizeof(E));
}

/// The inlined sequential loop: the scan written out over Op::combine, no engine in between.
template <class Op>
void bm_inline(benchmark::State& state, std::size_t length) {
  using E = element_t<Op>;
  const std::vector<E> in = make_input<Op>(length);
  std::vector<E> out(length);
  for (auto _ : state) {
    E acc = in[0];
    out[0] = acc;
    for (std::size_t i = 1; i < length; ++i) {
      acc = Op::combine(acc, in[i]);
      out[i] = acc;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, length, sizeof(E));
}

void bm_memcpy(benchmark::State& state, std::size_t bytes) {
  std::vector<unsigned char> in(bytes, 1), out(bytes, 0);
  for (auto _ : state) {
    std::memcpy(out.data(), in.data(), bytes);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.counters["bytes_rw"] = benchmark::Counter(2.0 * double(bytes), benchmark::Counter::kIsIterationInvariantRate,
                                                  benchmark::Counter::OneK::kIs1000);
}

// ---------------------------------------------------------------------------------------------
// Registration and the summary.

struct Config {
  bool quick = false;
  double max_gib = 4.0;
};

std::string scan_name(const char* op, Backend b, std::size_t batch, std::size_t length) {
  return std::string("scan/") + op + "/" + to_string(b) + "/batch:" + std::to_string(batch) +
         "/length:" + std::to_string(length);
}
std::string memcpy_name(std::size_t bytes) { return "memcpy/bytes:" + std::to_string(bytes); }
std::string inline_name(const char* op, std::size_t length) {
  return std::string("inline/") + op + "/length:" + std::to_string(length);
}

/// What the summary compares: scan run → its copy, threaded run → its inlined loop.
struct Pairs {
  std::map<std::string, std::string> copy_of;
  std::map<std::string, std::string> inline_of;
};

template <class Op>
void register_op(const Config& cfg, std::set<std::size_t>& copies, Pairs& pairs) {
  const char* name = Input<Op>::name;
  const std::size_t max_len = cfg.quick ? 100000 : 10000000;
  for (std::size_t batch : {std::size_t(1), std::size_t(1024)})
    for (std::size_t length = 1000; length <= max_len; length *= 10) {
      const std::size_t n = batch * length, bytes = n * sizeof(element_t<Op>);
      if (n > 100000000 || 2.0 * double(bytes) > cfg.max_gib * double(1u << 30)) continue;
      for (Backend b : {Backend::sequential, Backend::threaded}) {
        const std::string s = scan_name(name, b, batch, length);
        benchmark::RegisterBenchmark(s.c_str(), [=](benchmark::State& st) { bm_scan<Op>(st, b, batch, length); })
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
        pairs.copy_of[s] = memcpy_name(bytes);
      }
      copies.insert(bytes);
    }
}

/// Threaded vs the inlined loop on long single sequences of a compute-bound operator.
template <class Op>
void register_inline(const Config& cfg, Pairs& pairs) {
  const char* name = Input<Op>::name;
  const std::size_t max_len = cfg.quick ? 100000 : 10000000;
  for (std::size_t length = 100000; length <= max_len; length *= 10) {
    if (2.0 * double(length * sizeof(element_t<Op>)) > cfg.max_gib * double(1u << 30)) continue;
    const std::string s = inline_name(name, length);
    benchmark::RegisterBenchmark(s.c_str(), [=](benchmark::State& st) { bm_inline<Op>(st, length); })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    pairs.inline_of[scan_name(name, Backend::threaded, 1, length)] = s;
  }
}

/// Console output as usual, then the summary from the fastest repetition of each run.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  explicit SummaryReporter(const Pairs& pairs) : pairs_(pairs) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.error_occurred) continue;
      const std::string& name = r.run_name.function_name;
      const double t = r.GetAdjustedRealTime();
      auto it = best_.find(name);
      if (it == best_.end() || t < it->second) best_[name] = t;
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::FILE* out = stdout;
    std::fprintf(out, "\nscan time / copy time of the same bytes (1 = at the memcpy ceiling):\n");
    for (const auto& [scan, copy] : pairs_.copy_of)
      if (best_.count(scan) && best_.count(copy))
        std::fprintf(out, "  %-64s %8.2f\n", scan.c_str(), best_[scan] / best_[copy]);
    std::fprintf(out, "\nthreaded backend (%u threads) speedup over the inlined sequential loop:\n", default_threads());
    for (const auto& [threaded, inl] : pairs_.inline_of)
      if (best_.count(threaded) && best_.count(inl))
        std::fprintf(out, "  %-64s %6.2fx\n", threaded.c_str(), best_[inl] / best_[threaded]);
  }

 private:
  const Pairs& pairs_;
  std::map<std::string, double> best_;
};

/// Removes our flags from argv (Google Benchmark rejects unknown ones).
Config parse_own_flags(int& argc, char** argv) {
  Config cfg;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      cfg.quick = true;
    } else if (a.rfind("--max_gib=", 0) == 0) {
      cfg.max_gib = std::atof(a.c_str() + 10);
      if (!(cfg.max_gib > 0)) {
        std::fprintf(stderr, "--max_gib: expected a positive number of GiB, found '%s'\n", a.c_str() + 10);
        std::exit(2);
      }
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  const Config cfg = parse_own_flags(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

  std::set<std::size_t> copies;
  Pairs pairs;
  register_op<AffineOp<float>>(cfg, copies, pairs);
  register_op<AffineOp<double>>(cfg, copies, pairs);
  register_op<Mobius2Op<float>>(cfg, copies, pairs);
  register_op<Mobius2Op<double>>(cfg, copies, pairs);
  register_op<AffineMapOp<float, 2>>(cfg, copies, pairs);
  register_op<AffineMapOp<double, 2>>(cfg, copies, pairs);
  register_op<AffineMapOp<float, 4>>(cfg, copies, pairs);
  register_op<AffineMapOp<double, 4>>(cfg, copies, pairs);
  register_op<ModMatrix2M31Op>(cfg, copies, pairs);
  register_op<AffineMod32Op>(cfg, copies, pairs);
  register_inline<Mobius2Op<double>>(cfg, pairs);
  register_inline<AffineMapOp<double, 4>>(cfg, pairs);
  for (std::size_t bytes : copies)
    benchmark::RegisterBenchmark(memcpy_name(bytes).c_str(), [bytes](benchmark::State& st) { bm_memcpy(st, bytes); })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);

  SummaryReporter reporter(pairs);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
