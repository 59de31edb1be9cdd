// KLA scan on the GPU: forward and forward+backward milliseconds (CUDA events, median of
// repeats), tokens/s and peak device memory, at the shapes of issue 5, against the CPU kernel
// (all threads, fp32) measured in the same run on a reduced shape as the baseline.
//
//   kalmanscan_kla_gpu_bench [--quick] [--kernels LIST] [--csv FILE]
//   --quick:   the (8, 2048, 1024, 16) and (1, 65536, 1024, 16) shapes only, fewer repeats;
//   --kernels: comma-separated kla::cuda::Kernels to measure one after the other on each shape
//              (automatic, wide, split), each optionally followed by +saved (the forward saves
//              states for the backward at the default spacing) or +savedN (every N tokens).
//              Default: wide,automatic+saved — what the LibTorch op runs against the wide kernels
//              without saved states. With saved states the forward column times the forward that
//              saves them, and "peak" counts them;
//   --csv:     also write one row per shape and kernels to FILE.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cuda_timing.hpp"
#include "kalmanscan/kla/cuda.hpp"
#include "kalmanscan/kla/kla.hpp"
#include "kalmanscan/scan/gpu.hpp"
#include "kalmanscan/scan/parallel.hpp"

namespace {

using kalmanscan::bench::median_gpu_ms;

using kalmanscan::kla::Shape;
using kalmanscan::kla::cuda::Kernels;

struct NamedKernels {
  std::string name;
  Kernels kernels;
  int spacing = -1;  ///< ≥ 0: the forward saves states every `spacing` tokens (0: default) for the backward
};
constexpr struct {
  const char* name;
  Kernels kernels;
} kernel_names[] = {{"automatic", Kernels::automatic}, {"wide", Kernels::wide}, {"split", Kernels::split}};

// "a,b+saved,c+saved32,…" → the named kernels; exits naming a word it does not know.
std::vector<NamedKernels> parse_kernels(const std::string& list) {
  std::vector<NamedKernels> out;
  std::size_t at = 0;
  while (at <= list.size()) {
    const std::size_t end = std::min(list.find(',', at), list.size());
    const std::string word = list.substr(at, end - at);
    const std::size_t plus = word.find("+saved");
    const std::string kernels = word.substr(0, plus), spacing = plus == std::string::npos ? "" : word.substr(plus + 6);
    const auto it = std::find_if(std::begin(kernel_names), std::end(kernel_names),
                                 [&](const auto& n) { return kernels == n.name; });
    if (it == std::end(kernel_names) || spacing.find_first_not_of("0123456789") != std::string::npos) {
      std::fprintf(stderr, "--kernels: unknown kernels '%s'\n", word.c_str());
      std::exit(2);
    }
    out.push_back({word, it->kernels, plus == std::string::npos ? -1 : spacing.empty() ? 0 : std::stoi(spacing)});
    at = end + 1;
  }
  return out;
}

void check(const kalmanscan::scan::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.message.c_str());
    std::exit(1);
  }
}

std::vector<float> random_vector(std::size_t n, float lo, float hi, std::mt19937& gen) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> x(n);
  for (float& e : x) e = u(gen);
  return x;
}

// One shape's tensors on the device (inputs, outputs, cotangents, gradients), made once and shared
// by every kind of kernels measured on it.
struct DeviceProblem {
  Shape s;
  std::vector<float*> owned;
  kalmanscan::kla::Inputs<float> in;
  kalmanscan::kla::Outputs<float> out;
  kalmanscan::kla::Cotangents<float> cot;
  kalmanscan::kla::Gradients<float> grad;

  std::span<float> upload(const std::vector<float>& h) {
    std::span<float> d = alloc(h.size());
    KS_BENCH_CHECK_CUDA(cudaMemcpy(d.data(), h.data(), d.size_bytes(), cudaMemcpyHostToDevice));
    return d;
  }
  std::span<float> alloc(std::size_t n) {
    float* d = nullptr;
    KS_BENCH_CHECK_CUDA(cudaMalloc(&d, n * sizeof(float)));
    KS_BENCH_CHECK_CUDA(cudaMemset(d, 0, n * sizeof(float)));
    owned.push_back(d);
    return {d, n};
  }

  explicit DeviceProblem(const Shape& shape) : s(shape) {
    std::mt19937 gen(1);
    const float ks = 1.f / std::sqrt(float(s.S));
    in = {s,
          upload(random_vector(s.sequence_size(), -1.f, 1.f, gen)),
          upload(random_vector(s.sequence_size(), 0.5f, 1.5f, gen)),
          upload(random_vector(s.key_size(), -ks, ks, gen)),
          upload(random_vector(s.key_size(), -ks, ks, gen)),
          upload(random_vector(s.param_size(), 0.6f, 0.99f, gen)),
          upload(random_vector(s.param_size(), 0.02f, 0.2f, gen))};
    out = {alloc(s.sequence_size()), alloc(s.sequence_size()), alloc(s.state_size()), alloc(s.state_size())};
    cot = {upload(random_vector(s.sequence_size(), -1.f, 1.f, gen)), upload(random_vector(s.sequence_size(), -1.f, 1.f, gen))};
    grad = {alloc(s.sequence_size()), alloc(s.sequence_size()), alloc(s.key_size()), alloc(s.key_size()),
            alloc(s.param_size()),    alloc(s.param_size()),    alloc(s.state_size()), alloc(s.state_size())};
  }
  ~DeviceProblem() {
    for (float* p : owned) cudaFree(p);
  }
};

// What one kind of kernels needs besides the tensors: the backward's scratch and the saved states.
struct KindBuffers {
  void* scratch = nullptr;
  std::size_t scratch_bytes = 0;
  kalmanscan::kla::cuda::SavedStates saved;  ///< data null: the backward sweeps its own checkpoints

  KindBuffers(const Shape& s, const NamedKernels& kind) {
    if (kind.spacing >= 0) {
      saved.spacing = kind.spacing;
      saved.bytes = kalmanscan::kla::cuda::saved_states_bytes(s, kind.kernels, kind.spacing);
      if (saved.bytes > 0) KS_BENCH_CHECK_CUDA(cudaMalloc(&saved.data, saved.bytes));
    }
    scratch_bytes = kalmanscan::kla::cuda::backward_scratch_bytes(s, kind.kernels, saved.data != nullptr, saved.spacing);
    KS_BENCH_CHECK_CUDA(cudaMalloc(&scratch, std::max<std::size_t>(scratch_bytes, 1)));
  }
  ~KindBuffers() {
    cudaFree(scratch);
    cudaFree(saved.data);
  }
  KindBuffers(const KindBuffers&) = delete;
  KindBuffers& operator=(const KindBuffers&) = delete;
};

std::size_t used_bytes() {
  std::size_t free_b = 0, total_b = 0;
  KS_BENCH_CHECK_CUDA(cudaMemGetInfo(&free_b, &total_b));
  return total_b - free_b;
}

// CPU kernel (fp32, all threads) forward and forward+backward milliseconds on host arrays.
void cpu_baseline(const Shape& s) {
  std::mt19937 gen(2);
  const float ks = 1.f / std::sqrt(float(s.S));
  const auto v = random_vector(s.sequence_size(), -1.f, 1.f, gen), lv = random_vector(s.sequence_size(), 0.5f, 1.5f, gen);
  const auto k = random_vector(s.key_size(), -ks, ks, gen), q = random_vector(s.key_size(), -ks, ks, gen);
  const auto a = random_vector(s.param_size(), 0.6f, 0.99f, gen), p = random_vector(s.param_size(), 0.02f, 0.2f, gen);
  const auto cy = random_vector(s.sequence_size(), -1.f, 1.f, gen);
  std::vector<float> y(s.sequence_size()), yv(s.sequence_size()), gv(y.size()), glv(y.size()), gk(k.size()),
      gq(q.size()), ga(a.size()), gp(p.size());
  const kalmanscan::kla::Inputs<float> in{s, v, lv, k, q, a, p};
  auto now = [] { return std::chrono::steady_clock::now(); };
  const auto t0 = now();
  kalmanscan::kla::forward(in, {y, yv});
  const auto t1 = now();
  kalmanscan::kla::backward(in, {cy, {}}, {gv, glv, gk, gq, ga, gp});
  const auto t2 = now();
  const double f = std::chrono::duration<double, std::milli>(t1 - t0).count();
  const double b = std::chrono::duration<double, std::milli>(t2 - t1).count();
  std::printf("cpu baseline (%u threads) B=%zu L=%zu M=%zu S=%zu: forward %.1f ms, forward+backward %.1f ms, %.3g tokens/s\n",
              kalmanscan::scan::default_threads(), s.B, s.L, s.M, s.S, f, f + b, double(s.B * s.L) / (f * 1e-3));
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // every row printed at once, even if a caller's timeout cuts the run
  bool quick = false;
  const char* csv_path = nullptr;
  std::vector<NamedKernels> kinds = parse_kernels("wide,automatic+saved");
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--kernels") == 0 && i + 1 < argc) {
      kinds = parse_kernels(argv[++i]);
    } else if (std::strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
      csv_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--kernels LIST] [--csv FILE]\n", argv[0]);
      return 2;
    }
  }
  if (kalmanscan::scan::gpu::device_count() == 0) {
    std::printf("no CUDA device: nothing to measure\n");
    return 0;
  }
  cudaDeviceProp prop{};
  KS_BENCH_CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s\n", prop.name);
  std::vector<Shape> shapes = {{8, 1024, 1024, 16}, {8, 2048, 1024, 16}, {8, 2048, 2048, 16},
                               {8, 4096, 1024, 16}, {8, 2048, 1024, 64}, {1, 65536, 1024, 16}};
  if (quick) shapes = {shapes[1], shapes[5]};
  // Repeats: 20 (5 with --quick), 10 for the largest shapes (2^30 slot-tokens and more: S = 64, the
  // long sequence), whose runs take 7–60 ms each, so that the whole run stays within about a minute.
  auto repeats_for = [&](const Shape& s) {
    const bool large = double(s.B) * double(s.L) * double(s.M) * double(s.S) >= double(1ull << 30);
    return quick ? 5 : large ? 10 : 20;
  };
  std::printf("%-24s %-18s %10s %10s %12s %12s %12s %14s\n", "B,L,M,S", "kernels", "fwd ms", "fwd+bwd ms", "fwd tok/s",
              "f+b tok/s", "peak MiB", "BLMS f32 MiB");
  FILE* csv = csv_path ? std::fopen(csv_path, "w") : nullptr;
  if (csv)
    std::fprintf(csv, "B,L,M,S,kernels,forward_ms,forward_backward_ms,forward_tokens_per_s,forward_backward_tokens_per_s,"
                      "peak_bytes\n");
  for (const Shape& s : shapes) {
    const int repeats = repeats_for(s);
    KS_BENCH_CHECK_CUDA(cudaDeviceSynchronize());
    const std::size_t before = used_bytes();
    const DeviceProblem p(s);
    const std::size_t tensors = used_bytes() - before;
    for (const NamedKernels& kind : kinds) {
      const std::size_t before_kind = used_bytes();
      const KindBuffers kb(s, kind);
      // Everything is allocated up front: inputs, outputs, cotangents, gradients, scratch, saved states.
      const std::size_t peak = tensors + (used_bytes() - before_kind);
      const double f = median_gpu_ms(
          repeats, [&] { check(kalmanscan::kla::cuda::forward(p.in, p.out, nullptr, kind.kernels, kb.saved)); });
      const double fb = median_gpu_ms(repeats, [&] {
        check(kalmanscan::kla::cuda::forward(p.in, p.out, nullptr, kind.kernels, kb.saved));
        check(kalmanscan::kla::cuda::backward(p.in, p.cot, p.grad, kb.scratch, kb.scratch_bytes, nullptr, kind.kernels,
                                              kb.saved));
      });
      const double tokens = double(s.B * s.L);
      char name[64];
      std::snprintf(name, sizeof name, "%zu,%zu,%zu,%zu", s.B, s.L, s.M, s.S);
      std::printf("%-24s %-18s %10.3f %10.3f %12.4g %12.4g %12.1f %14.1f\n", name, kind.name.c_str(), f, fb, tokens / (f * 1e-3),
                  tokens / (fb * 1e-3), double(peak) / (1 << 20), double(s.B * s.L * s.M * s.S) * 4 / (1 << 20));
      if (csv)
        std::fprintf(csv, "%zu,%zu,%zu,%zu,%s,%.4f,%.4f,%.6g,%.6g,%zu\n", s.B, s.L, s.M, s.S, kind.name.c_str(), f, fb,
                     tokens / (f * 1e-3), tokens / (fb * 1e-3), peak);
    }
  }
  if (csv) std::fclose(csv);
  cpu_baseline(quick ? Shape{1, 1024, 256, 16} : Shape{8, 1024, 256, 16});
  return 0;
}
