// KLA scan on the GPU: forward and forward+backward milliseconds (CUDA events, median of
// repeats), tokens/s and peak device memory, at the shapes of issue 5, against the CPU kernel
// (all threads, fp32) measured in the same run on a reduced shape as the baseline.
//
//   kalmanscan_kla_gpu_bench [--quick] [--kernels LIST] [--csv FILE]
//   --quick:   the (8, 2048, 1024, 16) and (1, 65536, 1024, 16) shapes only, fewer repeats;
//   --kernels: comma-separated kla::cuda::Kernels to measure one after the other on each shape
//              (automatic, wide, split, wide_previous; default automatic);
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
  const char* name;
  Kernels kernels;
};
constexpr NamedKernels kernel_names[] = {{"automatic", Kernels::automatic},
                                         {"wide", Kernels::wide},
                                         {"split", Kernels::split},
                                         {"wide_previous", Kernels::wide_previous}};

// "a,b,…" → the named kernels; exits naming a word it does not know.
std::vector<NamedKernels> parse_kernels(const std::string& list) {
  std::vector<NamedKernels> out;
  std::size_t at = 0;
  while (at <= list.size()) {
    const std::size_t end = std::min(list.find(',', at), list.size());
    const std::string word = list.substr(at, end - at);
    const auto it = std::find_if(std::begin(kernel_names), std::end(kernel_names),
                                 [&](const NamedKernels& n) { return word == n.name; });
    if (it == std::end(kernel_names)) {
      std::fprintf(stderr, "--kernels: unknown kernels '%s'\n", word.c_str());
      std::exit(2);
    }
    out.push_back(*it);
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

struct DeviceProblem {
  Shape s;
  std::vector<float*> owned;
  kalmanscan::kla::Inputs<float> in;
  kalmanscan::kla::Outputs<float> out;
  kalmanscan::kla::Cotangents<float> cot;
  kalmanscan::kla::Gradients<float> grad;
  void* scratch = nullptr;
  std::size_t scratch_bytes = 0;

  std::span<float> upload(const std::vector<float>& h) {
    float* d = nullptr;
    KS_BENCH_CHECK_CUDA(cudaMalloc(&d, h.size() * sizeof(float)));
    KS_BENCH_CHECK_CUDA(cudaMemcpy(d, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice));
    owned.push_back(d);
    return {d, h.size()};
  }
  std::span<float> alloc(std::size_t n) { return upload(std::vector<float>(n)); }

  DeviceProblem(const Shape& shape, Kernels kernels) : s(shape) {
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
    scratch_bytes = kalmanscan::kla::cuda::backward_scratch_bytes(s, kernels);
    KS_BENCH_CHECK_CUDA(cudaMalloc(&scratch, std::max<std::size_t>(scratch_bytes, 1)));
  }
  ~DeviceProblem() {
    for (float* p : owned) cudaFree(p);
    cudaFree(scratch);
  }
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
  bool quick = false;
  const char* csv_path = nullptr;
  std::vector<NamedKernels> kinds = {kernel_names[0]};
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
  const int repeats = quick ? 5 : 20;
  std::printf("%-24s %-14s %10s %10s %12s %12s %12s %14s\n", "B,L,M,S", "kernels", "fwd ms", "fwd+bwd ms", "fwd tok/s",
              "f+b tok/s", "peak MiB", "BLMS f32 MiB");
  FILE* csv = csv_path ? std::fopen(csv_path, "w") : nullptr;
  if (csv)
    std::fprintf(csv, "B,L,M,S,kernels,forward_ms,forward_backward_ms,forward_tokens_per_s,forward_backward_tokens_per_s,"
                      "peak_bytes\n");
  for (const Shape& s : shapes) {
    for (const NamedKernels& kind : kinds) {
      KS_BENCH_CHECK_CUDA(cudaDeviceSynchronize());
      const std::size_t before = used_bytes();
      DeviceProblem p(s, kind.kernels);
      const std::size_t peak = used_bytes() - before;  // everything is allocated up front: inputs, outputs, gradients, scratch
      const double f =
          median_gpu_ms(repeats, [&] { check(kalmanscan::kla::cuda::forward(p.in, p.out, nullptr, kind.kernels)); });
      const double fb = median_gpu_ms(repeats, [&] {
        check(kalmanscan::kla::cuda::forward(p.in, p.out, nullptr, kind.kernels));
        check(kalmanscan::kla::cuda::backward(p.in, p.cot, p.grad, p.scratch, p.scratch_bytes, nullptr, kind.kernels));
      });
      const double tokens = double(s.B * s.L);
      char name[64];
      std::snprintf(name, sizeof name, "%zu,%zu,%zu,%zu", s.B, s.L, s.M, s.S);
      std::printf("%-24s %-14s %10.3f %10.3f %12.4g %12.4g %12.1f %14.1f\n", name, kind.name, f, fb, tokens / (f * 1e-3),
                  tokens / (fb * 1e-3), double(peak) / (1 << 20), double(s.B * s.L * s.M * s.S) * 4 / (1 << 20));
      if (csv)
        std::fprintf(csv, "%zu,%zu,%zu,%zu,%s,%.4f,%.4f,%.6g,%.6g,%zu\n", s.B, s.L, s.M, s.S, kind.name, f, fb,
                     tokens / (f * 1e-3), tokens / (fb * 1e-3), peak);
    }
  }
  if (csv) std::fclose(csv);
  cpu_baseline(quick ? Shape{1, 1024, 256, 16} : Shape{8, 1024, 256, 16});
  return 0;
}
