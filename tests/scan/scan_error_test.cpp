// Bad input is reported as kalmanscan::scan::Error naming the offending argument and sizes,
// and an exception thrown by a caller's leaf or sink leaves the threaded backend intact.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "scan_test_support.hpp"

namespace kalmanscan::scan::test {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using Op = AffineOp<double>;
using E = Affine<double>;

/// Runs f, expects kalmanscan::scan::Error, and returns its message ("" if none was thrown).
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected kalmanscan::scan::Error, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected kalmanscan::scan::Error, nothing was thrown";
  return "";
}

auto noop_leaf = [](std::size_t, std::size_t) { return E{1.0, 0.0}; };
auto noop_sink = [](std::size_t, std::size_t, const E&) {};

TEST(ScanErrors, CarriesOfTheWrongSize) {
  std::vector<E> in(12, E{0.5, 1.0}), out(12), carries(2, E{1.0, 0.0});
  const Layout layout = Layout::uniform(3, 4);
  EXPECT_THAT(error_message([&] {
                scan<Op>(std::span<const E>(in), std::span<E>(out), layout, {}, {std::span<const E>(carries), {}});
              }),
              AllOf(HasSubstr("carries.in has 2 elements"), HasSubstr("batch = 3")));
  EXPECT_THAT(error_message([&] {
                scan<Op>(layout, noop_leaf, noop_sink, {}, {{}, std::span<E>(carries)});
              }),
              AllOf(HasSubstr("carries.out has 2 elements"), HasSubstr("batch = 3")));
}

TEST(ScanErrors, DescendingOffsets) {
  const std::vector<std::size_t> offsets = {0, 5, 3, 9};
  EXPECT_THAT(error_message([&] { scan<Op>(Layout::ragged(offsets), noop_leaf, noop_sink); }),
              AllOf(HasSubstr("offsets must ascend"), HasSubstr("offsets[2] = 3"), HasSubstr("offsets[1] = 5")));
}

TEST(ScanErrors, OffsetsThatDoNotMatchTheBatch) {
  // A hand-built layout claiming 4 sequences with offsets for 2: must be refused, not read
  // past the end of the offsets.
  const std::vector<std::size_t> offsets = {0, 5, 9};
  const Layout layout{4, 0, offsets};
  EXPECT_THAT(error_message([&] { scan<Op>(layout, noop_leaf, noop_sink); }),
              AllOf(HasSubstr("offsets has 3 entries"), HasSubstr("batch + 1 = 5")));
}

TEST(ScanErrors, ArraysOfTheWrongSize) {
  std::vector<E> in(11, E{0.5, 1.0}), out(12);
  EXPECT_THAT(error_message([&] {
                scan<Op>(std::span<const E>(in), std::span<E>(out), Layout::uniform(3, 4));
              }),
              AllOf(HasSubstr("input has 11"), HasSubstr("output 12"), HasSubstr("total of 12")));
  const std::vector<std::size_t> offsets = {2, 4, 14};  // total 12: sizes are relative to offsets[0]
  EXPECT_THAT(error_message([&] {
                scan<Op>(std::span<const E>(in), std::span<E>(out), Layout::ragged(offsets));
              }),
              HasSubstr("total of 12"));
}

TEST(ScanErrors, CudaBackendForHostFunctors) {
  EXPECT_THAT(error_message([&] {
                scan<Op>(Layout::single(10), noop_leaf, noop_sink, {.backend = Backend::cuda});
              }),
              AllOf(HasSubstr("backend cuda"), HasSubstr("functor"), HasSubstr("device_scan.cuh")));
}

TEST(ScanErrors, CudaBackendForAnOperatorWithoutGpuInstantiation) {
  static_assert(!gpu::has_array_scan<OrderTrapOp>);
  std::vector<OrderTrap> in(4, OrderTrapOp::identity()), out(4);
  EXPECT_THAT(error_message([&] {
                scan<OrderTrapOp>(std::span<const OrderTrap>(in), std::span<OrderTrap>(out), Layout::single(4),
                                  {.backend = Backend::cuda});
              }),
              AllOf(HasSubstr("backend cuda"), HasSubstr("unsupported")));
}

TEST(ScanErrors, BackendNames) {
  for (Backend b : {Backend::automatic, Backend::sequential, Backend::threaded, Backend::cuda})
    EXPECT_EQ(parse_backend(to_string(b)), b) << to_string(b);
  EXPECT_EQ(parse_backend("cpu"), Backend::threaded);
  EXPECT_THAT(error_message([] { parse_backend("fast"); }), AllOf(HasSubstr("'fast'"), HasSubstr("sequential")));
}

// ---------------------------------------------------------------------------------------------
// Exceptions from the caller's functors.

struct LeafFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A leaf or sink that throws at (b, i) = (fail_b, fail_i) propagates its exception out of
/// every backend, whether the threaded backend splits the sequence in time (batch 1, long)
/// or the batch across threads (many sequences); the pool stays usable afterwards.
TEST(ScanErrors, ExceptionInLeafOrSinkPropagates) {
  struct Case {
    const char* name;
    Layout layout;
    std::size_t fail_b, fail_i;
  };
  const std::size_t n = 30011;
  const std::vector<Case> cases = {
      {"split in time, first chunk", Layout::single(n), 0, 5},
      {"split in time, middle chunk", Layout::single(n), 0, n / 2},
      {"split in time, last element", Layout::single(n), 0, n - 1},
      {"split batch", Layout::uniform(16, 100), 9, 50},
  };
  for (const BackendCase& bc : backend_cases())
    for (Direction dir : {Direction::forward, Direction::reverse})
      for (const Case& c : cases)
        for (bool in_sink : {false, true}) {
          SCOPED_TRACE(std::string(bc.name) + " " + direction_name(dir) + " " + c.name + (in_sink ? " sink" : " leaf"));
          auto fails = [&](std::size_t b, std::size_t i) { return b == c.fail_b && i == c.fail_i; };
          auto leaf = [&](std::size_t b, std::size_t i) {
            if (!in_sink && fails(b, i)) throw LeafFailure("leaf failed at " + std::to_string(i));
            return E{0.5, 1.0};
          };
          auto sink = [&](std::size_t b, std::size_t i, const E&) {
            if (in_sink && fails(b, i)) throw LeafFailure("sink failed at " + std::to_string(i));
          };
          try {
            scan<Op>(c.layout, leaf, sink, options_for(bc, dir));
            ADD_FAILURE() << "the exception thrown by the functor was lost";
          } catch (const LeafFailure& e) {
            EXPECT_THAT(e.what(), HasSubstr("failed at " + std::to_string(c.fail_i)));
          }
        }
  // The thread pool still works after the failures.
  std::vector<E> in(n, E{0.5, 1.0}), out(n);
  scan<Op>(std::span<const E>(in), std::span<E>(out), Layout::single(n), {.backend = Backend::threaded, .threads = 2});
  EXPECT_DOUBLE_EQ(out.back().b, 2.0);
}

}  // namespace
}  // namespace kalmanscan::scan::test
