// The CUDA backend against the reference loop: every operator compiled for the GPU
// (gpu::has_array_scan), forward and reverse, with and without carries, batch 1 and many,
// awkward lengths (0, 1, 2, around CUB's tiles and the chunked kernel's chunks, primes, 2^20 + 3),
// through the host-array entry point and the device-pointer one (in place). Exact operators
// must match bit for bit. Every test skips, saying so, when there is no CUDA device.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "kalmanscan/scan/gpu.hpp"
#include "scan_test_support.hpp"

namespace kalmanscan::scan::test {
namespace {

#define KS_SKIP_WITHOUT_GPU() \
  if (gpu::device_count() == 0) GTEST_SKIP() << "no CUDA device: GPU test skipped"

template <class Op>
class GpuScan : public ::testing::Test {};

using GpuOperators = ::testing::Types<AffineOp<float>, Mobius2Op<float>, AffineMapOp<float, 2>, AffineMapOp<float, 4>,
                                      ModMatrix2M31Op, AffineMod32Op
#if KALMANSCAN_CUDA_FULL_INSTANTIATIONS
                                      ,
                                      AffineOp<double>, Mobius2Op<double>, AffineMapOp<double, 2>, AffineMapOp<double, 4>
#endif
                                      >;
TYPED_TEST_SUITE(GpuScan, GpuOperators, OperatorNames);

// (batch, length) pairs: the look-back kernel's tiles are 1024–4096 elements (CUB's scan by key,
// for batches of short sequences, a few hundred to a few thousand); the chunked kernel's chunks
// are 16 or 32 elements, recursing once per factor of 16–32.
const std::vector<std::pair<std::size_t, std::size_t>> shapes = {
    {1, 0},    {1, 1},    {1, 2},    {1, 31},   {1, 32},    {1, 33},     {1, 1023},   {1, 1024},
    {1, 1025}, {1, 2047}, {1, 2048}, {1, 2049}, {1, 4096},  {1, 4097},   {1, 4099},   {1, 65537},
    {1, (1u << 20) + 3},  {3, 0},    {3, 1},    {5, 17},    {7, 1031},   {9, 4097},   {1024, 1000},
    {2, 100003}};

template <class Op>
void check_host_arrays(std::size_t batch, std::size_t length, Direction dir, bool with_carry) {
  const std::vector<std::size_t> lengths(batch, length);
  const Problem<Op> p = make_problem<Op>(17 + batch + length, lengths, true, with_carry, dir);
  std::vector<element_t<Op>> expected, expected_carry, actual(p.input.size()), actual_carry(batch);
  reference_scan<Op>(p.offsets, p.input, dir, p.carry_in, expected, expected_carry);
  const Status s = gpu::scan_host_arrays<Op>(p.input.data(), actual.data(), batch, length, dir,
                                             with_carry ? p.carry_in.data() : nullptr, actual_carry.data());
  ASSERT_TRUE(s.ok()) << s.message;
  const std::string what = std::string(OpTraits<Op>::name) + " batch " + std::to_string(batch) + " length " +
                           std::to_string(length) + (dir == Direction::forward ? " forward" : " reverse") +
                           (with_carry ? " with carry" : "");
  EXPECT_TRUE(tensors_match<Op>((what + " prefixes").c_str(), expected, actual));
  if (length > 0 || with_carry) {
    EXPECT_TRUE(tensors_match<Op>((what + " carry-out").c_str(), expected_carry, actual_carry));
  }
}

TYPED_TEST(GpuScan, HostArraysMatchReference) {
  KS_SKIP_WITHOUT_GPU();
  for (auto [batch, length] : shapes)
    for (Direction dir : {Direction::forward, Direction::reverse})
      for (bool carry : {false, true}) check_host_arrays<TypeParam>(batch, length, dir, carry);
}

// Scanning a sequence in chunks, each continuing from the previous chunk's carry-out, equals
// scanning it whole (forward: chunks in time order; reverse: from the end backwards).
TYPED_TEST(GpuScan, ChunksWithCarriesEqualWhole) {
  KS_SKIP_WITHOUT_GPU();
  using Op = TypeParam;
  using E = element_t<Op>;
  const std::size_t n = 50021, cuts[] = {0, 7, 4096, 4097, 31000, n};
  for (Direction dir : {Direction::forward, Direction::reverse}) {
    const Problem<Op> p = make_problem<Op>(5, {n}, true, false, dir);
    std::vector<E> expected, expected_carry;
    reference_scan<Op>(p.offsets, p.input, dir, {}, expected, expected_carry);
    std::vector<E> actual(n);
    std::vector<E> carry;  // empty: no history yet
    const std::size_t pieces = std::size(cuts) - 1;
    for (std::size_t k = 0; k < pieces; ++k) {
      const std::size_t piece = dir == Direction::forward ? k : pieces - 1 - k;
      const std::size_t lo = cuts[piece], hi = cuts[piece + 1];
      E out_carry;
      ASSERT_TRUE(gpu::scan_host_arrays<Op>(p.input.data() + lo, actual.data() + lo, 1, hi - lo, dir,
                                            carry.empty() ? nullptr : carry.data(), &out_carry)
                      .ok());
      carry.assign(1, out_carry);
    }
    EXPECT_TRUE(tensors_match<Op>("chunked vs whole", expected, actual));
    EXPECT_TRUE(tensors_match<Op>("final carry", expected_carry, carry));
  }
}

// The device-pointer entry point, in place, on an explicit stream with caller scratch.
TYPED_TEST(GpuScan, DevicePointersInPlace) {
  KS_SKIP_WITHOUT_GPU();
  using Op = TypeParam;
  using E = element_t<Op>;
  const std::size_t batch = 4, length = 70001;
  for (Direction dir : {Direction::forward, Direction::reverse}) {
    const Problem<Op> p = make_problem<Op>(9, std::vector<std::size_t>(batch, length), true, true, dir);
    std::vector<E> expected, expected_carry;
    reference_scan<Op>(p.offsets, p.input, dir, p.carry_in, expected, expected_carry);
    std::size_t scratch_bytes = 0;
    ASSERT_TRUE(gpu::scan_scratch_bytes<Op>(batch, length, scratch_bytes).ok());
    E *d_data = nullptr, *d_cin = nullptr, *d_cout = nullptr;
    void* d_scratch = nullptr;
    cudaStream_t stream{};
    ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&d_data, p.input.size() * sizeof(E)), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&d_cin, batch * sizeof(E)), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&d_cout, batch * sizeof(E)), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&d_scratch, scratch_bytes), cudaSuccess);
    cudaMemcpy(d_data, p.input.data(), p.input.size() * sizeof(E), cudaMemcpyHostToDevice);
    cudaMemcpy(d_cin, p.carry_in.data(), batch * sizeof(E), cudaMemcpyHostToDevice);
    const Status s = gpu::scan<Op>(d_data, d_data, batch, length, dir, d_cin, d_cout, d_scratch, scratch_bytes, stream);
    EXPECT_TRUE(s.ok()) << s.message;
    EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    std::vector<E> actual(p.input.size()), actual_carry(batch);
    cudaMemcpy(actual.data(), d_data, actual.size() * sizeof(E), cudaMemcpyDeviceToHost);
    cudaMemcpy(actual_carry.data(), d_cout, batch * sizeof(E), cudaMemcpyDeviceToHost);
    cudaFree(d_data), cudaFree(d_cin), cudaFree(d_cout), cudaFree(d_scratch), cudaStreamDestroy(stream);
    EXPECT_TRUE(tensors_match<Op>("device in place", expected, actual));
    EXPECT_TRUE(tensors_match<Op>("device carry-out", expected_carry, actual_carry));
  }
}

TEST(GpuScanErrors, NullScratchIsAnErrorNotACrash) {
  KS_SKIP_WITHOUT_GPU();
  Affine<float>* d = nullptr;
  ASSERT_EQ(cudaMalloc(&d, 16 * sizeof(Affine<float>)), cudaSuccess);
  const Status s = gpu::scan<AffineOp<float>>(d, d, 1, 16, Direction::forward, nullptr, nullptr, nullptr, 0, nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message.find("scratch"), std::string::npos) << s.message;
  cudaFree(d);
}

// The automatic array overload picks the GPU for long scans when a device is present and
// gives the same prefixes as the sequential backend.
TEST(GpuScanDispatch, AutomaticArrayScanUsesTheGpuAndAgrees) {
  KS_SKIP_WITHOUT_GPU();
  using Op = ModMatrix2M31Op;
  const std::size_t n = cuda_crossover + 5;
  const Problem<Op> p = make_problem<Op>(3, {n}, true, false, Direction::forward);
  std::vector<element_t<Op>> expected(n), actual(n);
  scan<Op>(std::span<const element_t<Op>>(p.input), std::span<element_t<Op>>(expected), Layout::single(n),
           {.backend = Backend::sequential});
  scan<Op>(std::span<const element_t<Op>>(p.input), std::span<element_t<Op>>(actual), Layout::single(n), {});
  EXPECT_TRUE(tensors_match<Op>("automatic vs sequential", expected, actual));
}

}  // namespace
}  // namespace kalmanscan::scan::test
