// GPU benchmark of the parallel-in-time filter and smoother (issue 3), against the sequential
// filter and the threaded parallel form on the CPU of the same machine, in the same run.
//
//   kalmanscan_filters_gpu_bench [--quick] [--cpu-cap STEPS] [--max-steps STEPS] [--max-steps-12 STEPS]
//                                [--sizes N,N,...] [--chunks K,K,...] [--group-latency]
//                                [--min-steps STEPS] [--reps R] [--variants V,V,...]
//
// Configurations: state/measurement sizes 2/1, 4/2, 6/3 (constant velocity), 12/6 (random stable
// model; bench_models.hpp), T = 10³ … 10⁷; filter, and filter + smoother; double, float, and
// float with double arithmetic ("mixed"); first state 20 / measurement 10, T = 1000.
// Implementations:
//   seq_cpu       kalman_filter + rts_smooth (one thread): the baseline of `speedup`
//   threaded_cpu  parallel_filter + parallel_smooth on all cores (diagnostics off)
//   cuda_fast / cuda_group  gpu::filter_device + smooth_device on device-resident inputs: leaf inputs
//                 (time-invariant F, Q, Ψ; per-step ψ = Hᵀ R⁻¹ z) uploaded once, outside the timing;
//                 the timing (CUDA events, median of repetitions) covers everything a call does:
//                 scratch allocation (stream-ordered), element construction, scans, output, the
//                 failure flag's read-back and synchronisation.
// --group-latency: ends with the group path's latency for n = 12, 20, 32 at T = 1 … 10⁴, warm, and
// for n = 20 cold (group_latency).
// --sizes: the state sizes to run (default 20,2,4,6,12; 20 runs at T = 1000 only); --chunks:
// the fast paths' steps per thread to time, 0 for the default (default: 0 only; each gets rows
// "cuda_fast/K"). CPU baselines run up to --cpu-cap steps (default 10⁶). --min-steps: the first T
// (default 10³); --reps: GPU repetitions per timing (default 10, 3 at T ≥ 10⁶). --variants: what to
// time one after another in the same run (default "warm" only): warm — the library's workspace
// pool keeps the memory of the previous call (what repeated calls cost); cold — the pool is
// emptied (gpu::release_cached_memory) before every call, so each allocates its workspace afresh
// (rows "+cold"; the release is inside the timing). Accuracy: normwise
// error of the smoothed (and filtered) means against double — the sequential double filter where it ran, else the
// GPU double result — for the float GPU results and the float sequential filter.
#include <cuda_runtime.h>

#include <Eigen/Cholesky>
#include <type_traits>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_timing.hpp"
#include "bench_models.hpp"
#include "gpu.hpp"
#include "kalmanscan/filters/kalman.hpp"
#include "kalmanscan/filters/parallel.hpp"
#include "kalmanscan/filters/rts.hpp"

namespace {

using kalmanscan::bench::median_gpu_ms;

using namespace kalmanscan::filters;
namespace kgpu = kalmanscan::filters::gpu;


/// Throws when a GPU call failed (the configuration's row reports it and the run goes on).
void check(const kalmanscan::scan::Status& s, std::size_t failed, std::size_t steps) {
  if (!s.ok()) throw std::runtime_error(s.message);
  if (failed != steps) throw std::runtime_error("breakdown at step " + std::to_string(failed));
}


/// Empties the library's workspace pool (the `cold` variant); exits when that fails.
void release() {
  if (const kalmanscan::scan::Status s = kgpu::release_cached_memory(); !s.ok()) {
    std::fprintf(stderr, "release_cached_memory: %s\n", s.message.c_str());
    std::exit(1);
  }
}

/// Wall time (ms) of one run of f().
template <class F>
double cpu_ms(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

template <class T>
struct DeviceArray {
  T* p = nullptr;
  explicit DeviceArray(const std::vector<T>& h) : DeviceArray(h.size()) {
    KS_BENCH_CHECK_CUDA(cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  explicit DeviceArray(std::size_t count) { KS_BENCH_CHECK_CUDA(cudaMalloc(&p, count * sizeof(T) + 1)); }
  DeviceArray(const DeviceArray&) = delete;
  ~DeviceArray() { cudaFree(p); }
  std::vector<T> host(std::size_t count) const {
    std::vector<T> h(count);
    KS_BENCH_CHECK_CUDA(cudaMemcpy(h.data(), p, count * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
};

/// The leaf inputs of a log in double (row-major): time-invariant F, Q, c = 0, Ψ = Hᵀ R⁻¹ H,
/// per-step ψ_t = Hᵀ R⁻¹ z_t, and the prior.
struct Inputs {
  int n = 0;
  std::vector<double> F, Q, c, Psi, psi, m0, P0;
};

std::vector<double> row_major(const Eigen::MatrixXd& m) {
  std::vector<double> v(std::size_t(m.size()));
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) v[std::size_t(i * m.cols() + j)] = m(i, j);
  return v;
}

Inputs inputs_of(const Model& model, std::size_t steps) {
  const int n = model.state_dim();
  const Transition tr = model.transition_at(0, bench::step_seconds);
  const SensorModel& s = model.sensors[0].model.table[0];
  const Eigen::MatrixXd RiH = s.R.llt().solve(s.H);  // R⁻¹ H
  Inputs in;
  in.n = n;
  in.F = row_major(tr.F), in.Q = row_major(tr.Q), in.c.assign(n, 0.0);
  in.Psi = row_major(s.H.transpose() * RiH);
  in.m0 = row_major(model.m0), in.P0 = row_major(model.P0);
  in.psi.resize(steps * n);
  const int m = int(s.H.rows());
  Eigen::VectorXd z(m);
  for (std::size_t t = 0; t < steps; ++t) {
    for (int i = 0; i < m; ++i) z[i] = bench::measurement(t, i);
    const Eigen::VectorXd v = RiH.transpose() * z;
    for (int j = 0; j < n; ++j) in.psi[t * n + j] = v[j];
  }
  return in;
}

template <class T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

/// A problem's device arrays and outputs in T; run() times filter (+ smoother).
template <class T>
struct GpuRun {
  std::size_t steps;
  int n;
  DeviceArray<T> F, Q, c, Psi, psi, m0, P0, fm, fc, sm, sc;
  GpuRun(const Inputs& in, std::size_t steps_)
      : steps(steps_), n(in.n), F(cast<T>(in.F)), Q(cast<T>(in.Q)), c(cast<T>(in.c)), Psi(cast<T>(in.Psi)),
        psi(cast<T>(in.psi)), m0(cast<T>(in.m0)), P0(cast<T>(in.P0)), fm(steps * n), fc(steps * n * n),
        sm(steps * n), sc(steps * n * n) {}

  void filter(const kgpu::DeviceOptions& o) {
    kgpu::FilterProblem<T> p{steps, {F.p, Q.p, c.p, true}, Psi.p, psi.p, m0.p, P0.p, false, true};
    std::size_t failed = 0;
    const kalmanscan::scan::Status st = kgpu::filter_device<T>(n, p, fm.p, fc.p, &failed, o);
    check(st, failed, steps);
  }
  void smooth(const kgpu::DeviceOptions& o) {
    const kgpu::SmoothProblem<T> p{steps, {F.p, Q.p, c.p, true}, fm.p, fc.p, nullptr, nullptr};
    std::size_t failed = 0;
    const kalmanscan::scan::Status st = kgpu::smooth_device<T>(n, p, sm.p, sc.p, &failed, o);
    check(st, failed, steps);
  }
};

struct Row {
  int n, m;
  std::size_t steps;
  const char *precision, *mode, *impl;
  double ms, speedup, err_filtered, err_smoothed;  // NaN where not measured
};

const double none = std::nan("");

void print(const Row& r) {
  std::printf("%3d %3d %9zu  %-7s %-16s %-13s %10.3f", r.n, r.m, r.steps, r.precision, r.mode, r.impl, r.ms);
  if (std::isnan(r.speedup))
    std::printf(" %9s", "-");
  else
    std::printf(" %9.1f", r.speedup);
  for (double e : {r.err_filtered, r.err_smoothed}) {
    if (std::isnan(e))
      std::printf(" %10s", "-");
    else
      std::printf(" %10.2e", e);
  }
  std::printf("\n");
  std::fflush(stdout);
}

template <class T, class U>
double normwise(const std::vector<T>& a, const std::vector<U>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = double(a[i]) - double(b[i]);
    num += d * d, den += double(b[i]) * double(b[i]);
  }
  return std::sqrt(num / den);
}

struct Options {
  bool quick = false;
  std::size_t cpu_cap = 1000000, min_steps = 1000, max_steps = 10000000;
  int reps = 0;  ///< GPU repetitions per timing (0: reps_for)
  std::size_t max_steps_12 = 10000000;  ///< state 12 runs on the group path: its own cap
  std::vector<int> sizes{20, 2, 4, 6, 12};
  std::vector<std::size_t> chunks{0};  ///< the fast paths' steps per thread (0: default)
  bool group_latency = false;          ///< end with group_latency()
  std::vector<std::string> variants{"warm"};  ///< warm / cold workspace pool (see the header)
};

/// Whether a --variants name is known (see the header).
bool known_variant(const std::string& v) { return v == "warm" || v == "cold"; }

/// "a,b,c" as numbers.
template <class U>
std::vector<U> list_of(const char* s) {
  std::vector<U> v;
  for (char* end = nullptr; *s; s = *end ? end + 1 : end) v.push_back(U(std::strtoull(s, &end, 10)));
  return v;
}

template <class T>
const char* impl_of(int n, bool mixed) {
  return kgpu::fast_path<T>(n, mixed) ? "cuda_fast" : "cuda_group";
}

int reps_for(std::size_t steps) { return steps >= 1000000 ? 3 : 10; }

/// Everything for one (n, T): CPU baselines (T ≤ cap), GPU double / float / mixed.
void run_config(int n, std::size_t steps, const Options& opt) {
  const Model model = bench::model_of_size(n);
  const int m = model.sensors[0].dim();
  const bool cpu = steps <= opt.cpu_cap;
  const Inputs in = inputs_of(model, steps);
  Measurements meas;
  if (cpu) meas = bench::log_of(steps, model);

  // Double reference and the CPU baselines.
  double seq_ms[2][2] = {{none, none}, {none, none}};  // [float?][smoother?]
  std::vector<double> ref_f, ref_s;
  std::vector<float> seqf_f, seqf_s;
  const ParallelOptions threaded{.backend = kalmanscan::scan::Backend::threaded, .diagnostics = false};
  auto cpu_rows = [&]<class T>(const char* prec, int fi) {
    BasicTrajectory<T> tr;
    const double f_ms = cpu_ms([&] { tr = kalman_filter<T>(model, meas, std::nullopt); });
    const double s_ms = cpu_ms([&] { rts_smooth(model, meas, tr, std::nullopt, false); });
    seq_ms[fi][0] = f_ms, seq_ms[fi][1] = f_ms + s_ms;
    BasicTrajectory<T> pt;
    const double pf_ms = cpu_ms([&] { pt = parallel_filter<T>(model, meas, std::nullopt, nullptr, threaded); });
    const double ps_ms = cpu_ms([&] { parallel_smooth(model, meas, pt, std::nullopt, false, threaded); });
    double ef = none, es = none;
    if constexpr (std::is_same_v<T, double>) {
      ref_f = tr.filtered_mean, ref_s = tr.smoothed_mean;
    } else {
      seqf_f = tr.filtered_mean, seqf_s = tr.smoothed_mean;
      ef = normwise(seqf_f, ref_f), es = normwise(seqf_s, ref_s);
    }
    print({n, m, steps, prec, "filter", "seq_cpu", f_ms, 1.0, ef, none});
    print({n, m, steps, prec, "filter+smoother", "seq_cpu", f_ms + s_ms, 1.0, ef, es});
    print({n, m, steps, prec, "filter", "threaded_cpu", pf_ms, f_ms / pf_ms, none, none});
    print({n, m, steps, prec, "filter+smoother", "threaded_cpu", pf_ms + ps_ms, (f_ms + s_ms) / (pf_ms + ps_ms), none,
           none});
  };
  if (cpu) {
    cpu_rows.template operator()<double>("double", 0);
    cpu_rows.template operator()<float>("float", 1);
  }

  auto gpu_rows = [&]<class T>(const char* prec, std::string impl, bool mixed, int fi, std::size_t chunk,
                                const std::string& variant) {
    GpuRun<T> g(in, steps);
    const kgpu::DeviceOptions o{.mixed = mixed, .fast_chunk = chunk};
    const bool cold = variant == "cold";
    const int reps = opt.reps ? opt.reps : reps_for(steps);
    const double f_ms = median_gpu_ms(reps, [&] {
      if (cold) release();
      g.filter(o);
    });
    const double fs_ms = median_gpu_ms(reps, [&] {
      if (cold) release();
      g.filter(o);
      g.smooth(o);
    });
    const auto f = g.fm.host(steps * n), s = g.sm.host(steps * n);
    double ef = none, es = none;
    if constexpr (std::is_same_v<T, double>) {
      if (!cpu) ref_f = f, ref_s = s;
      else ef = normwise(f, ref_f), es = normwise(s, ref_s);
    } else {
      ef = normwise(f, ref_f), es = normwise(s, ref_s);
    }
    if (chunk) impl.append("/").append(std::to_string(chunk));
    if (cold) impl.append("+cold");
    print({n, m, steps, prec, "filter", impl.c_str(), f_ms, seq_ms[fi][0] / f_ms, ef, none});
    print({n, m, steps, prec, "filter+smoother", impl.c_str(), fs_ms, seq_ms[fi][1] / fs_ms, ef, es});
  };
  auto guarded = [&](auto&& rows, const char* prec) {
    try {
      rows();
    } catch (const std::exception& e) {
      std::printf("%3d %3d %9zu  %-7s FAILED: %s\n", n, m, steps, prec, e.what());
    }
  };
  // The double rows come first: without CPU rows, the first double run is the reference.
  for (const std::string& v : opt.variants)
    for (std::size_t chunk : opt.chunks) {
      if (chunk && !kgpu::fast_path<float>(n, false)) continue;
      guarded([&] { gpu_rows.template operator()<double>("double", impl_of<double>(n, false), false, 0, chunk, v); },
              "double");
      guarded([&] { gpu_rows.template operator()<float>("float", impl_of<float>(n, false), false, 1, chunk, v); },
              "float");
      guarded([&] { gpu_rows.template operator()<float>("mixed", impl_of<float>(n, true), true, 1, chunk, v); },
              "mixed");
    }
}

/// The group path's latency in double: filter and filter + smoother for state sizes 12, 20, 32
/// (measurement n/2) at T = 1 … 10⁴ (what a call costs before it has parallel work, and how it
/// grows), then n = 20 again with the workspace pool emptied before every call (what the call's
/// allocations cost when the pool holds nothing).
void group_latency() {
  std::printf("group path latency, double, ms (median of 20): n, T, filter, filter+smoother\n");
  auto row = [](int n, std::size_t steps, bool cold) {
    GpuRun<double> g(inputs_of(bench::model_of_size(n), steps), steps);
    const double f = median_gpu_ms(20, [&] {
      if (cold) release();
      g.filter({});
    });
    const double fs = median_gpu_ms(20, [&] {
      if (cold) release();
      g.filter({});
      g.smooth({});
    });
    std::printf("%3d %6zu %9.3f %9.3f\n", n, steps, f, fs);
  };
  for (int n : {12, 20, 32})
    for (std::size_t steps : {1, 10, 100, 1000, 10000}) row(n, steps, false);
  std::printf("the same with the workspace pool emptied before every call (cold):\n");
  for (std::size_t steps : {1, 1000}) row(20, steps, true);
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      opt.quick = true, opt.max_steps = 100000, opt.cpu_cap = 100000;
    } else if (!std::strcmp(argv[i], "--cpu-cap") && i + 1 < argc) {
      opt.cpu_cap = std::strtoull(argv[++i], nullptr, 10);
    } else if (!std::strcmp(argv[i], "--min-steps") && i + 1 < argc) {
      opt.min_steps = std::strtoull(argv[++i], nullptr, 10);
    } else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
      opt.reps = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--variants") && i + 1 < argc) {
      opt.variants.clear();
      for (const char* s = argv[++i]; *s;) {
        const char* e = std::strchr(s, ',');
        opt.variants.emplace_back(s, e ? e : s + std::strlen(s));
        s = e ? e + 1 : s + std::strlen(s);
      }
      for (const std::string& v : opt.variants)
        if (!known_variant(v)) {
          std::fprintf(stderr, "unknown variant %s (warm or cold)\n", v.c_str());
          return 2;
        }
    } else if (!std::strcmp(argv[i], "--max-steps") && i + 1 < argc) {
      opt.max_steps = std::strtoull(argv[++i], nullptr, 10);
    } else if (!std::strcmp(argv[i], "--max-steps-12") && i + 1 < argc) {
      opt.max_steps_12 = std::strtoull(argv[++i], nullptr, 10);
    } else if (!std::strcmp(argv[i], "--sizes") && i + 1 < argc) {
      opt.sizes = list_of<int>(argv[++i]);
    } else if (!std::strcmp(argv[i], "--chunks") && i + 1 < argc) {
      opt.chunks = list_of<std::size_t>(argv[++i]);
    } else if (!std::strcmp(argv[i], "--group-latency")) {
      opt.group_latency = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--quick] [--cpu-cap STEPS] [--max-steps STEPS] [--max-steps-12 STEPS] [--sizes N,...]"
                   " [--chunks K,...] [--group-latency] [--min-steps STEPS] [--reps R] [--variants V,...]\n",
                   argv[0]);
      return 2;
    }
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop{};
  KS_BENCH_CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s; CPU baselines up to T = %zu; times in ms (GPU: median, CUDA events; CPU: one run)\n",
              prop.name, opt.cpu_cap);
  std::printf("errors: normwise vs double (filtered means, smoothed means); speedup vs seq_cpu of the same precision\n");
  std::printf("  n   m         T  prec    mode             impl                  ms   speedup   err_filt   err_smooth\n");
  for (int n : opt.sizes) {
    if (n == 20) {
      run_config(20, 1000, opt);  // state 20 / measurement 10: the large-state target, T = 1000 only
      continue;
    }
    for (std::size_t steps = opt.min_steps; steps <= (n == 12 ? opt.max_steps_12 : opt.max_steps); steps *= 10)
      run_config(n, steps, opt);
  }
  if (opt.group_latency) group_latency();
  return 0;
}
