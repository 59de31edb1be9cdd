// GPU throughput of the scan engine (issue 2): for each operator compiled for the GPU, lengths
// 10^3 … 10^8, batch 1 and 1024 (at most 2^30 elements, and what fits in device memory), the
// median time of gpu::scan (device pointers, preallocated scratch, out of place) against a
// device-to-device copy of the same bytes timed in the same run, the ceiling. Reports elements/s,
// GB/s (bytes read + written) and scan time / copy time.
//   kalmanscan_scan_gpu_bench [--quick] [--csv FILE]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cuda_timing.hpp"
#include "kalmanscan/scan/gpu.hpp"

namespace {

using namespace kalmanscan::scan;
using kalmanscan::bench::median_gpu_ms;

struct Options {
  bool quick = false;
  std::string csv;
};



/// Fills n elements with bytes that make valid, non-trivial elements for every operator
/// (small positive floats: |f| < 1 keeps affine prefixes bounded; exact operators take any bits).
__global__ void fill_kernel(unsigned char* p, std::size_t bytes, bool floating) {
  for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i * 4 < bytes;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const unsigned h = unsigned(i) * 2654435761u ^ 0x9e3779b9u;
    if (floating)
      reinterpret_cast<float*>(p)[i] = 0.02f + float(h % 1000u) * 1e-4f;
    else
      reinterpret_cast<unsigned*>(p)[i] = (h % 2147483647u) | 1u;
  }
}

struct Row {
  std::string op;
  std::size_t batch, length;
  double scan_ms, copy_ms, elems_per_s, gbps, ratio;
};

template <class Op>
void run_op(const char* name, bool floating, bool is_double, const Options& opt, std::vector<Row>& rows) {
  using E = element_t<Op>;
  if (is_double) {  // fill_kernel writes floats; doubles get bit patterns of moderate values
    floating = false;
  }
  std::vector<std::size_t> lengths;
  for (std::size_t n = 1000; n <= 100000000; n *= 10) lengths.push_back(n);
  for (std::size_t batch : {std::size_t(1), std::size_t(1024)}) {
    for (std::size_t length : lengths) {
      const std::size_t n = batch * length;
      if (n > (std::size_t(1) << 30)) continue;
      if (opt.quick && !(length == 1000 || length == 100000 || (batch == 1 && length >= 10000000))) continue;
      std::size_t free_b = 0, total_b = 0;
      KS_BENCH_CHECK_CUDA(cudaMemGetInfo(&free_b, &total_b));
      std::size_t scratch = 0;
      if (!gpu::scan_scratch_bytes<Op>(batch, length, scratch).ok()) continue;
      const std::size_t bytes = n * sizeof(E);
      if (2 * bytes + scratch > free_b * 6 / 10) continue;
      void *d_in, *d_out, *d_scratch;
      KS_BENCH_CHECK_CUDA(cudaMalloc(&d_in, bytes));
      KS_BENCH_CHECK_CUDA(cudaMalloc(&d_out, bytes));
      KS_BENCH_CHECK_CUDA(cudaMalloc(&d_scratch, scratch));
      fill_kernel<<<1024, 256>>>(static_cast<unsigned char*>(d_in), bytes, floating);
      if (is_double) {  // make every double a small positive number: take each 8-byte word's low bits
        std::vector<double> h(std::min<std::size_t>(n * sizeof(E) / 8, 1 << 20));
        for (std::size_t i = 0; i < h.size(); ++i) h[i] = 0.02 + double(i % 1000) * 1e-4;
        for (std::size_t off = 0; off < bytes; off += h.size() * 8)
          KS_BENCH_CHECK_CUDA(cudaMemcpy(static_cast<char*>(d_in) + off, h.data(), std::min(h.size() * 8, bytes - off),
                                cudaMemcpyHostToDevice));
      }
      KS_BENCH_CHECK_CUDA(cudaGetLastError());
      const int reps = n >= 100000000 ? 5 : 20;
      Status status;
      const double scan_ms = median_gpu_ms(reps, [&] {
        status = gpu::scan<Op>(static_cast<const E*>(d_in), static_cast<E*>(d_out), batch, length, Direction::forward,
                               nullptr, nullptr, d_scratch, scratch, nullptr);
      });
      if (!status.ok()) {
        std::fprintf(stderr, "%s: %s\n", name, status.message.c_str());
        std::exit(1);
      }
      const double copy_ms = median_gpu_ms(reps, [&] { KS_BENCH_CHECK_CUDA(cudaMemcpyAsync(d_out, d_in, bytes, cudaMemcpyDeviceToDevice)); });
      cudaFree(d_in), cudaFree(d_out), cudaFree(d_scratch);
      rows.push_back({name, batch, length, scan_ms, copy_ms, double(n) / (scan_ms * 1e-3),
                      2.0 * double(bytes) / (scan_ms * 1e-3) / 1e9, scan_ms / copy_ms});
      const Row& r = rows.back();
      std::printf("%-22s %6zu %10zu %10.4f %10.4f %10.3f %9.1f %7.2f\n", r.op.c_str(), r.batch, r.length, r.scan_ms,
                  r.copy_ms, r.elems_per_s / 1e9, r.gbps, r.ratio);
      std::fflush(stdout);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick"))
      opt.quick = true;
    else if (!std::strcmp(argv[i], "--csv") && i + 1 < argc)
      opt.csv = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--quick] [--csv FILE]\n", argv[0]);
      return 2;
    }
  }
  if (gpu::device_count() == 0) {
    std::printf("no CUDA device: GPU benchmark skipped\n");
    return 0;
  }
  cudaDeviceProp prop{};
  KS_BENCH_CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
  std::printf("%-22s %6s %10s %10s %10s %10s %9s %7s\n", "operator", "batch", "length", "scan ms", "copy ms", "Gelem/s",
              "GB/s", "x copy");
  std::vector<Row> rows;
  run_op<Mobius2Op<float>>("Mobius2Op<float>", true, false, opt, rows);
  run_op<AffineOp<float>>("AffineOp<float>", true, false, opt, rows);
  run_op<AffineMapOp<float, 2>>("AffineMapOp<float,2>", true, false, opt, rows);
  run_op<AffineMapOp<float, 4>>("AffineMapOp<float,4>", true, false, opt, rows);
  run_op<ModMatrix2M31Op>("ModMatrix2M31Op", false, false, opt, rows);
  run_op<AffineMod32Op>("AffineMod32Op", false, false, opt, rows);
#if KALMANSCAN_CUDA_FULL_INSTANTIATIONS
  run_op<Mobius2Op<double>>("Mobius2Op<double>", false, true, opt, rows);
  run_op<AffineOp<double>>("AffineOp<double>", false, true, opt, rows);
  run_op<AffineMapOp<double, 4>>("AffineMapOp<double,4>", false, true, opt, rows);
#endif
  if (!opt.csv.empty()) {
    FILE* f = std::fopen(opt.csv.c_str(), "w");
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", opt.csv.c_str());
      return 1;
    }
    std::fprintf(f, "operator,batch,length,scan_ms,copy_ms,elements_per_s,gb_per_s,ratio_to_copy\n");
    for (const Row& r : rows)
      std::fprintf(f, "%s,%zu,%zu,%.6f,%.6f,%.6g,%.3f,%.3f\n", r.op.c_str(), r.batch, r.length, r.scan_ms, r.copy_ms,
                   r.elems_per_s, r.gbps, r.ratio);
    std::fclose(f);
  }
  return 0;
}
