// The block building blocks (kalmanscan/scan/cuda/tile_scan.cuh) on the GPU against plain host
// loops: every lane's prefixes through TileScan::run, forward and reverse, with and without a
// carry-in, the lane totals, and the cross-lane hook lane_sum summing a value over the lanes at
// every step — as KLA's readout sums over the slots of a channel. The exact affine maps modulo
// 2³² make the comparison bit for bit whatever the grouping. Skips, saying so, without a device.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kalmanscan/scan/cuda/tile_scan.cuh"
#include "kalmanscan/scan/gpu.hpp"
#include "kalmanscan/scan/operators/exact.hpp"

namespace kalmanscan::scan::test {
namespace {

using Op = AffineMod32Op;
using E = Op::element;

/// One block per channel: lanes × n leaves laid out [channel][t][lane]; writes every prefix, the
/// per-step sum over lanes of the prefixes' offsets, and each lane's total.
template <int Lanes, int Chunks>
__global__ void tile_scan_kernel(const E* leaves, std::size_t n, Direction dir, const E* carry_in, E* prefixes,
                                 std::uint32_t* lane_sums, E* totals) {
  using Tile = cuda::TileScan<Op, Lanes, Chunks>;
  __shared__ typename Tile::TempStorage storage;
  const std::size_t c = blockIdx.x;
  const E* mine = leaves + c * n * Lanes;
  auto leaf = [&](int lane, std::size_t t) { return mine[t * Lanes + lane]; };
  auto step = [&](int lane, std::size_t t, const E& prefix) {
    prefixes[(c * n + t) * Lanes + lane] = prefix;
    const std::uint32_t sum = Tile::lane_sum(prefix.b);
    if (lane == 0) lane_sums[c * n + t] = sum;
  };
  Tile::run(storage, n, dir, leaf, step, carry_in ? carry_in + c * Lanes : nullptr, totals + c * Lanes);
}

template <class T>
struct DeviceArray {
  T* ptr = nullptr;
  explicit DeviceArray(const std::vector<T>& host) {
    if (cudaMalloc(&ptr, host.size() * sizeof(T) + 1) == cudaSuccess && !host.empty())
      cudaMemcpy(ptr, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice);
  }
  explicit DeviceArray(std::size_t n) { cudaMalloc(&ptr, n * sizeof(T) + 1); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { cudaFree(ptr); }
  std::vector<T> to_host(std::size_t n) const {
    std::vector<T> host(n);
    if (n) cudaMemcpy(host.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost);
    return host;
  }
};

template <int Lanes, int Chunks>
void check_tile_scan(std::size_t channels, std::size_t n, Direction dir, bool with_carry) {
  SCOPED_TRACE("lanes " + std::to_string(Lanes) + " chunks " + std::to_string(Chunks) + " n " + std::to_string(n) +
               (dir == Direction::forward ? " forward" : " reverse") + (with_carry ? " with carry" : ""));
  std::mt19937 engine(unsigned(n * 31 + Lanes));
  auto rng = [&] { return std::uint32_t(engine()); };
  std::vector<E> leaves(channels * n * Lanes), carries(channels * Lanes);
  for (E& e : leaves) e = {rng() | 1u, rng()};
  for (E& e : carries) e = {rng() | 1u, rng()};

  // Host reference: each (channel, lane) scanned on its own, in time order.
  std::vector<E> want_prefix(leaves.size()), want_total(channels * Lanes);
  std::vector<std::uint32_t> want_sum(channels * n, 0u);
  for (std::size_t c = 0; c < channels; ++c)
    for (int l = 0; l < Lanes; ++l) {
      E acc = with_carry ? carries[c * Lanes + l] : Op::identity();
      for (std::size_t s = 0; s < n; ++s) {
        const std::size_t t = dir == Direction::forward ? s : n - 1 - s;
        const E x = leaves[(c * n + t) * Lanes + l];
        acc = dir == Direction::forward ? Op::combine(acc, x) : Op::combine(x, acc);
        want_prefix[(c * n + t) * Lanes + l] = acc;
        want_sum[c * n + t] += acc.b;
      }
      want_total[c * Lanes + l] = acc;
    }

  DeviceArray<E> d_leaves(leaves), d_carries(carries), d_prefix(leaves.size()), d_total(want_total.size());
  DeviceArray<std::uint32_t> d_sums(want_sum.size());
  tile_scan_kernel<Lanes, Chunks><<<unsigned(channels), Lanes * Chunks>>>(
      d_leaves.ptr, n, dir, with_carry ? d_carries.ptr : nullptr, d_prefix.ptr, d_sums.ptr, d_total.ptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << cudaGetErrorString(cudaGetLastError());
  const std::vector<E> got_prefix = d_prefix.to_host(leaves.size()), got_total = d_total.to_host(want_total.size());
  const std::vector<std::uint32_t> got_sum = d_sums.to_host(want_sum.size());
  for (std::size_t k = 0; k < leaves.size(); ++k)
    ASSERT_TRUE(got_prefix[k] == want_prefix[k]) << "prefix " << k << " (step " << k / Lanes % n << ")";
  for (std::size_t k = 0; k < want_sum.size(); ++k) ASSERT_EQ(got_sum[k], want_sum[k]) << "lane sum at " << k;
  for (std::size_t k = 0; k < want_total.size(); ++k) ASSERT_TRUE(got_total[k] == want_total[k]) << "total " << k;
}

TEST(TileScan, RunPrefixesLaneSumsAndTotalsMatchHostLoops) {
  if (gpu::device_count() == 0) GTEST_SKIP() << "no CUDA device: GPU test skipped";
  for (Direction dir : {Direction::forward, Direction::reverse})
    for (bool carry : {false, true})
      for (std::size_t n : {0, 1, 2, 7, 8, 9, 63, 1009, 4096}) {
        check_tile_scan<16, 8>(3, n, dir, carry);
        check_tile_scan<32, 4>(2, n, dir, carry);
        check_tile_scan<4, 16>(5, n, dir, carry);
        check_tile_scan<1, 32>(2, n, dir, carry);
      }
}

}  // namespace
}  // namespace kalmanscan::scan::test
