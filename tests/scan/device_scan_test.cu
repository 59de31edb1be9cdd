// The engine's device-functor scan (kalmanscan/scan/cuda/device_scan.cuh) against the reference
// loop: leaves produced on the device by a functor, prefixes handed to a device sink that counts
// its calls, for operators on both of its strategies (CUB for elements up to 32 bytes, the
// chunked kernel above), including the order trap, forward and reverse, batch 1 and many, with
// and without carries. A KLA-style case builds leaves from two compact arrays and keeps only one
// number per prefix. Every test skips, saying so, without a CUDA device.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "kalmanscan/config.hpp"
#include "kalmanscan/scan/cuda/device_scan.cuh"
#include "kalmanscan/scan/gpu.hpp"
#include "scan_test_support.hpp"

namespace kalmanscan::scan::test {
namespace {

#define KS_SKIP_WITHOUT_GPU() \
  if (gpu::device_count() == 0) GTEST_SKIP() << "no CUDA device: GPU test skipped"

#define KS_ASSERT_CUDA(expr)                                                   \
  do {                                                                         \
    const cudaError_t ks_e = (expr);                                           \
    ASSERT_EQ(ks_e, cudaSuccess) << #expr << ": " << cudaGetErrorString(ks_e); \
  } while (0)

/// Device memory for n elements of T, freed on scope exit.
template <class T>
struct DeviceBuffer {
  T* ptr = nullptr;
  explicit DeviceBuffer(std::size_t n) {
    if (cudaMalloc(&ptr, n ? n * sizeof(T) : 1) != cudaSuccess) ptr = nullptr;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(ptr); }
};

/// Leaf x_i of sequence b read from a device array laid out [b][i].
template <class E>
struct ArrayLeaf {
  const E* d_in;
  std::size_t length;
  __device__ E operator()(std::size_t b, std::size_t i) const { return d_in[b * length + i]; }
};

/// Sink storing each prefix and counting how often (b, i) was delivered.
template <class E>
struct CountingSink {
  E* d_out;
  unsigned* d_calls;
  std::size_t length;
  __device__ void operator()(std::size_t b, std::size_t i, const E& prefix) const {
    d_out[b * length + i] = prefix;
    atomicAdd(d_calls + b * length + i, 1u);
  }
};

template <class Op>
class DeviceScan : public ::testing::Test {};

// Through CUB (elements of 8–32 B): the affine, Möbius, exact and 2×2 maps and the order trap;
// through the chunked kernel: the 4×4 maps (80 B and 160 B).
static_assert(cuda::uses_cub<OrderTrapOp> && cuda::uses_cub<AffineMapOp<float, 2>> && !cuda::uses_cub<AffineMapOp<float, 4>>,
              "the operator list no longer covers both strategies");
using DeviceOperators = ::testing::Types<AffineOp<float>, AffineOp<double>, Mobius2Op<float>, Mobius2Op<double>,
                                         AffineMapOp<float, 2>, AffineMapOp<float, 4>, AffineMapOp<double, 4>,
                                         ModMatrix2M31Op, AffineMod32Op, OrderTrapOp>;
TYPED_TEST_SUITE(DeviceScan, DeviceOperators, OperatorNames);

/// (batch, length): tiny, around warp and tile sizes (the look-back kernel's tiles are 1024,
/// 1280, 2048 or 4096 elements for 32, 24, 16 and 8 bytes), primes, a long one, wide batches
/// of short sequences (CUB by key) and of long ones (one look-back chain per sequence).
const std::vector<std::pair<std::size_t, std::size_t>> shapes = {
    {1, 0},    {1, 1},     {1, 2},    {1, 31},   {1, 32},   {1, 33},     {1, 1023},  {1, 1025},          {1, 1279},
    {1, 1281}, {1, 2047},  {1, 2048}, {1, 2049}, {1, 4095}, {1, 4097},   {1, 4099},  {0, 5},             {3, 0},
    {3, 1},    {5, 17},    {7, 1031}, {3, 2049}, {5, 4097}, {2, 65537},  {1, 300007}, {1, (1u << 20) + 3}, {1024, 1000},
    {64, 3001}};

template <class Op>
void check_device_functors(std::size_t batch, std::size_t length, Direction dir, bool with_carry) {
  using E = element_t<Op>;
  const std::string what = std::string(OpTraits<Op>::name) + " batch " + std::to_string(batch) + " length " +
                           std::to_string(length) + " " + direction_name(dir) + (with_carry ? " with carry" : "");
  SCOPED_TRACE(what);
  const Problem<Op> p = make_problem<Op>(23 + length, std::vector<std::size_t>(batch, length), true, with_carry, dir);
  std::vector<E> expected, expected_carry;
  reference_scan<Op>(p.offsets, p.input, dir, p.carry_in, expected, expected_carry);

  const std::size_t total = batch * length;
  DeviceBuffer<E> d_in(total), d_out(total), d_cin(batch), d_cout(batch);
  DeviceBuffer<unsigned> d_calls(total);
  ASSERT_TRUE(d_in.ptr && d_out.ptr && d_cin.ptr && d_cout.ptr && d_calls.ptr) << "cudaMalloc failed";
  KS_ASSERT_CUDA(cudaMemcpy(d_in.ptr, p.input.data(), total * sizeof(E), cudaMemcpyHostToDevice));
  if (with_carry) KS_ASSERT_CUDA(cudaMemcpy(d_cin.ptr, p.carry_in.data(), batch * sizeof(E), cudaMemcpyHostToDevice));
  KS_ASSERT_CUDA(cudaMemset(d_calls.ptr, 0, total * sizeof(unsigned)));

  const ArrayLeaf<E> leaf{d_in.ptr, length};
  const CountingSink<E> sink{d_out.ptr, d_calls.ptr, length};
  const E* cin = with_carry ? d_cin.ptr : nullptr;
  std::size_t temp_bytes = 0;
  KS_ASSERT_CUDA(cuda::device_scan<Op>(nullptr, temp_bytes, leaf, sink, batch, length, dir, cin, d_cout.ptr, nullptr));
  DeviceBuffer<unsigned char> d_temp(temp_bytes);
  ASSERT_TRUE(d_temp.ptr) << "cudaMalloc of " << temp_bytes << " scratch bytes failed";
  KS_ASSERT_CUDA(
      cuda::device_scan<Op>(d_temp.ptr, temp_bytes, leaf, sink, batch, length, dir, cin, d_cout.ptr, nullptr));
  KS_ASSERT_CUDA(cudaDeviceSynchronize());

  std::vector<E> actual(total), actual_carry(batch);
  std::vector<unsigned> calls(total);
  KS_ASSERT_CUDA(cudaMemcpy(actual.data(), d_out.ptr, total * sizeof(E), cudaMemcpyDeviceToHost));
  KS_ASSERT_CUDA(cudaMemcpy(actual_carry.data(), d_cout.ptr, batch * sizeof(E), cudaMemcpyDeviceToHost));
  KS_ASSERT_CUDA(cudaMemcpy(calls.data(), d_calls.ptr, total * sizeof(unsigned), cudaMemcpyDeviceToHost));
  for (std::size_t k = 0; k < total; ++k) ASSERT_EQ(calls[k], 1u) << "sink calls for flat index " << k;
  EXPECT_TRUE(tensors_match<Op>("prefixes", expected, actual));
  // Without a carry-in, the carry-out of an empty sequence is identity() (operator.hpp).
  EXPECT_TRUE(tensors_match<Op>("carry out", expected_carry, actual_carry));
}

TYPED_TEST(DeviceScan, FunctorLeavesAndSinksMatchReference) {
  KS_SKIP_WITHOUT_GPU();
  for (auto [batch, length] : shapes)
    for (Direction dir : {Direction::forward, Direction::reverse})
      for (bool carry : {false, true}) check_device_functors<TypeParam>(batch, length, dir, carry);
}

/// KLA-style leaf and sink: x_t = (f_t, r_t) assembled from two compact arrays, and only the
/// information mean η_t = prefix.b leaves the scan (DESIGN.md §2, §4).
struct CompactAffineLeaf {
  const float *d_f, *d_r;
  std::size_t length;
  __device__ Affine<float> operator()(std::size_t b, std::size_t i) const {
    return {d_f[b * length + i], d_r[b * length + i]};
  }
};
struct MeanOnlySink {
  float* d_eta;
  std::size_t length;
  __device__ void operator()(std::size_t b, std::size_t i, const Affine<float>& prefix) const {
    d_eta[b * length + i] = prefix.b;
  }
};

TEST(DeviceScanCompact, AffineLeavesFromTwoArraysAndAMeanOnlySink) {
  KS_SKIP_WITHOUT_GPU();
  using Op = AffineOp<float>;
  const std::size_t batch = 8, length = 30011;
  for (Direction dir : {Direction::forward, Direction::reverse}) {
    SCOPED_TRACE(direction_name(dir));
    const Problem<Op> p = make_problem<Op>(41, std::vector<std::size_t>(batch, length), true, true, dir);
    std::vector<Affine<float>> expected, expected_carry;
    reference_scan<Op>(p.offsets, p.input, dir, p.carry_in, expected, expected_carry);
    std::vector<float> f(p.input.size()), r(p.input.size());
    for (std::size_t k = 0; k < p.input.size(); ++k) f[k] = p.input[k].f, r[k] = p.input[k].b;

    DeviceBuffer<float> d_f(f.size()), d_r(r.size()), d_eta(f.size());
    DeviceBuffer<Affine<float>> d_cin(batch);
    ASSERT_TRUE(d_f.ptr && d_r.ptr && d_eta.ptr && d_cin.ptr) << "cudaMalloc failed";
    KS_ASSERT_CUDA(cudaMemcpy(d_f.ptr, f.data(), f.size() * sizeof(float), cudaMemcpyHostToDevice));
    KS_ASSERT_CUDA(cudaMemcpy(d_r.ptr, r.data(), r.size() * sizeof(float), cudaMemcpyHostToDevice));
    KS_ASSERT_CUDA(cudaMemcpy(d_cin.ptr, p.carry_in.data(), batch * sizeof(Affine<float>), cudaMemcpyHostToDevice));
    const CompactAffineLeaf leaf{d_f.ptr, d_r.ptr, length};
    const MeanOnlySink sink{d_eta.ptr, length};
    std::size_t temp_bytes = 0;
    KS_ASSERT_CUDA(cuda::device_scan<Op>(nullptr, temp_bytes, leaf, sink, batch, length, dir, d_cin.ptr, nullptr, nullptr));
    DeviceBuffer<unsigned char> d_temp(temp_bytes);
    ASSERT_TRUE(d_temp.ptr);
    KS_ASSERT_CUDA(
        cuda::device_scan<Op>(d_temp.ptr, temp_bytes, leaf, sink, batch, length, dir, d_cin.ptr, nullptr, nullptr));
    KS_ASSERT_CUDA(cudaDeviceSynchronize());
    std::vector<float> eta(f.size());
    KS_ASSERT_CUDA(cudaMemcpy(eta.data(), d_eta.ptr, eta.size() * sizeof(float), cudaMemcpyDeviceToHost));
    // Normwise over the η tensor, at the operator's float tolerance.
    double diff2 = 0, ref2 = 0;
    for (std::size_t k = 0; k < eta.size(); ++k) {
      diff2 += (double(eta[k]) - expected[k].b) * (double(eta[k]) - expected[k].b);
      ref2 += double(expected[k].b) * expected[k].b;
    }
    EXPECT_LE(std::sqrt(diff2 / ref2), OpTraits<Op>::tolerance()) << "normwise error of η";
  }
}

}  // namespace
}  // namespace kalmanscan::scan::test
