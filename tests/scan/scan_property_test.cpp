// The scan engine's property suite: every CPU backend × operator × direction × length against
// the reference loop of scan_test_support.hpp, with array, in-place array and functor
// inputs/outputs, batches (uniform and ragged, with empty sequences), carries in and out, and
// chunked scans continued through carries.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "scan_test_support.hpp"

namespace kalmanscan::scan::test {
namespace {

/// Every problem of this suite draws its elements with this seed.
constexpr std::uint64_t seed = 0x5eed;

using OperatorTypes =
    ::testing::Types<AffineOp<float>, AffineOp<double>, Mobius2Op<float>, Mobius2Op<double>, AffineMapOp<float, 2>,
                     AffineMapOp<double, 2>, AffineMapOp<float, 4>, AffineMapOp<double, 4>, ModMatrix2M31Op,
                     AffineMod32Op, OrderTrapOp>;

/// 0, 1, 2, the threaded backend's split threshold ± 1 (detail::min_split_length = 8192),
/// a prime above it, and 10^6 for the operators marked long_run.
template <class Op>
std::vector<std::size_t> lengths() {
  static_assert(detail::min_split_length == 8192, "update the awkward lengths of this suite");
  std::vector<std::size_t> n = {0, 1, 2, 8191, 8192, 8193, 24593};
  if (OpTraits<Op>::long_run) n.push_back(1000000);
  return n;
}

/// How a problem reaches the engine.
enum class Io { array, in_place, functor };
const char* io_name(Io io) { return io == Io::array ? "array" : io == Io::in_place ? "in-place array" : "functor"; }

/// Which carries are passed.
struct CarryMode {
  bool in, out;
};
std::string carry_name(CarryMode c) { return std::string("carry in ") + (c.in ? "yes" : "no") + ", out " + (c.out ? "yes" : "no"); }

/// Runs the engine on `p` and returns the prefixes (flat, as the input) and the carries out.
template <class Op>
void run_engine(const Problem<Op>& p, Io io, CarryMode carries, const Options& options, std::vector<element_t<Op>>& out,
                std::vector<element_t<Op>>& carry_out) {
  using E = element_t<Op>;
  const Layout layout = p.layout();
  carry_out.assign(carries.out ? p.batch() : 0, Op::identity());
  Carries<Op> c{carries.in ? std::span<const E>(p.carry_in) : std::span<const E>(), std::span<E>(carry_out)};
  switch (io) {
    case Io::array:
      out.assign(p.input.size(), Op::identity());
      scan<Op>(std::span<const E>(p.input), std::span<E>(out), layout, options, c);
      return;
    case Io::in_place:
      out = p.input;
      scan<Op>(std::span<const E>(out), std::span<E>(out), layout, options, c);
      return;
    case Io::functor: {
      out.assign(p.input.size(), Op::identity());
      std::vector<unsigned char> calls(p.input.size(), 0);
      bool out_of_range = false;
      // The leaf recomputes x_i from its definition (a pure function of (b, i)), not from p.input.
      auto leaf = [&](std::size_t b, std::size_t i) { return OpTraits<Op>::make(seed, b, i); };
      auto sink = [&](std::size_t b, std::size_t i, const E& prefix) {
        if (b >= layout.batch || i >= layout.size(b)) {
          out_of_range = true;
          return;
        }
        out[layout.start(b) + i] = prefix;
        ++calls[layout.start(b) + i];
      };
      scan<Op>(layout, leaf, sink, options, c);
      ASSERT_FALSE(out_of_range) << "sink called with (b, i) outside the layout";
      for (std::size_t k = 0; k < calls.size(); ++k) ASSERT_EQ(calls[k], 1) << "sink calls for flat index " << k;
      return;
    }
  }
}

template <class Op>
class ScanProperty : public ::testing::Test {};
TYPED_TEST_SUITE(ScanProperty, OperatorTypes, OperatorNames);

/// Single sequences of every awkward length, out of place without carries, and in place
/// with both carries.
TYPED_TEST(ScanProperty, SingleSequenceMatchesReference) {
  using Op = TypeParam;
  using E = element_t<Op>;
  for (Direction dir : {Direction::forward, Direction::reverse})
    for (std::size_t n : lengths<Op>()) {
      const Problem<Op> p = make_problem<Op>(seed, {n}, true, true, dir);
      std::vector<E> ref, ref_carry, ref_plain, ref_plain_carry, out, carry_out;
      reference_scan<Op>(p.offsets, p.input, dir, p.carry_in, ref, ref_carry);
      if (n < 1000000) reference_scan<Op>(p.offsets, p.input, dir, {}, ref_plain, ref_plain_carry);
      for (const BackendCase& bc : backend_cases()) {
        SCOPED_TRACE(std::string(OpTraits<Op>::name) + " " + bc.name + " " + direction_name(dir) + " n=" + std::to_string(n));
        if (n < 1000000) {  // the long run only in place, to keep the suite fast
          run_engine<Op>(p, Io::array, {false, false}, options_for(bc, dir), out, carry_out);
          EXPECT_TRUE(tensors_match<Op>("prefixes (array, no carries)", ref_plain, out));
        }
        run_engine<Op>(p, Io::in_place, {true, true}, options_for(bc, dir), out, carry_out);
        EXPECT_TRUE(tensors_match<Op>("prefixes (in place, carry in)", ref, out));
        EXPECT_TRUE(tensors_match<Op>("carry out", ref_carry, carry_out));
      }
    }
}

/// Batches: uniform and ragged (with empty sequences and offsets not starting at 0), few long
/// sequences (the threaded backend splits each in time) and many short ones (it splits the
/// batch), through every input/output kind and carry combination.
TYPED_TEST(ScanProperty, BatchesMatchReference) {
  using Op = TypeParam;
  using E = element_t<Op>;
  struct Shape {
    const char* name;
    std::vector<std::size_t> lengths;
    bool uniform;
    std::size_t base;
  };
  std::vector<std::size_t> many(64);
  for (std::size_t b = 0; b < many.size(); ++b) many[b] = mix(b) % 301;
  const std::vector<Shape> shapes = {
      {"uniform 5 x 3001", std::vector<std::size_t>(5, 3001), true, 0},
      {"uniform 2 x 8193", std::vector<std::size_t>(2, 8193), true, 0},
      {"uniform 1000 x 17", std::vector<std::size_t>(1000, 17), true, 0},
      {"uniform 0 x 0", {}, true, 0},
      {"ragged with empties", {0, 3, 0, 8193, 1, 9001, 0}, false, 7},
      {"ragged 2, one empty", {0, 8197}, false, 0},
      {"ragged 64 short", many, false, 3},
      {"ragged all empty", {0, 0, 0}, false, 5},
      {"ragged 0 sequences", {}, false, 4},
  };
  // Every input/output kind with and without carries; carry in or out alone through functors.
  const std::vector<std::pair<Io, CarryMode>> runs = {
      {Io::array, {false, false}},   {Io::array, {true, true}},    {Io::in_place, {false, false}},
      {Io::in_place, {true, true}},  {Io::functor, {false, false}}, {Io::functor, {true, true}},
      {Io::functor, {true, false}}, {Io::functor, {false, true}}};
  for (Direction dir : {Direction::forward, Direction::reverse})
    for (const Shape& shape : shapes) {
      const Problem<Op> p = make_problem<Op>(seed, shape.lengths, shape.uniform, true, dir, shape.base);
      std::vector<E> ref, ref_carry, ref_plain, ref_plain_carry, out, carry_out;
      reference_scan<Op>(p.offsets, p.input, dir, p.carry_in, ref, ref_carry);
      reference_scan<Op>(p.offsets, p.input, dir, {}, ref_plain, ref_plain_carry);
      for (const BackendCase& bc : backend_cases())
        for (const auto& [io, cm] : runs) {
          SCOPED_TRACE(std::string(OpTraits<Op>::name) + " " + bc.name + " " + direction_name(dir) + " " + shape.name +
                       " " + io_name(io) + " " + carry_name(cm));
          run_engine<Op>(p, io, cm, options_for(bc, dir), out, carry_out);
          EXPECT_TRUE(tensors_match<Op>("prefixes", cm.in ? ref : ref_plain, out));
          if (cm.out) {
            EXPECT_TRUE(tensors_match<Op>("carry out", cm.in ? ref_carry : ref_plain_carry, carry_out));
          }
        }
    }
}

/// A batch scanned in time chunks, each continuing from the previous chunk's carry-out,
/// equals one whole scan (the reference, and the same backend's whole scan); for a reverse
/// scan the chunks are taken latest first. Chunk lengths include 0 and cross the split threshold.
TYPED_TEST(ScanProperty, ChunkedEqualsWhole) {
  using Op = TypeParam;
  using E = element_t<Op>;
  const std::size_t batch = 3;
  const std::vector<std::size_t> chunk_lengths = {0, 1, 8193, 5000, 0, 16817};
  std::size_t n = 0;
  for (std::size_t c : chunk_lengths) n += c;
  for (Direction dir : {Direction::forward, Direction::reverse}) {
    const Problem<Op> whole = make_problem<Op>(seed, std::vector<std::size_t>(batch, n), true, false, dir);
    std::vector<E> ref, ref_carry, whole_out, whole_carry;
    reference_scan<Op>(whole.offsets, whole.input, dir, {}, ref, ref_carry);
    for (const BackendCase& bc : backend_cases()) {
      SCOPED_TRACE(std::string(OpTraits<Op>::name) + " " + bc.name + " " + direction_name(dir));
      run_engine<Op>(whole, Io::array, {false, true}, options_for(bc, dir), whole_out, whole_carry);
      // Chunk c covers time [t0, t0 + len) of every sequence; scan order visits chunks in time
      // order forward and in reverse time order for a reverse scan.
      std::vector<E> chunked(whole.input.size(), Op::identity()), carry;
      for (std::size_t k = 0; k < chunk_lengths.size(); ++k) {
        const std::size_t c = dir == Direction::forward ? k : chunk_lengths.size() - 1 - k;
        std::size_t t0 = 0;
        for (std::size_t j = 0; j < c; ++j) t0 += chunk_lengths[j];
        const std::size_t len = chunk_lengths[c];
        std::vector<E> in(batch * len), out(batch * len), carry_out(batch);
        for (std::size_t b = 0; b < batch; ++b)
          for (std::size_t i = 0; i < len; ++i) in[b * len + i] = whole.input[b * n + t0 + i];
        scan<Op>(std::span<const E>(in), std::span<E>(out), Layout::uniform(batch, len), options_for(bc, dir),
                 {std::span<const E>(carry), std::span<E>(carry_out)});
        carry = carry_out;
        for (std::size_t b = 0; b < batch; ++b)
          for (std::size_t i = 0; i < len; ++i) chunked[b * n + t0 + i] = out[b * len + i];
      }
      EXPECT_TRUE(tensors_match<Op>("chunked prefixes vs reference", ref, chunked));
      EXPECT_TRUE(tensors_match<Op>("chunked carry out vs reference", ref_carry, carry));
      EXPECT_TRUE(tensors_match<Op>("whole-scan prefixes vs reference", ref, whole_out));
      EXPECT_TRUE(tensors_match<Op>("chunked carry out vs whole scan", whole_carry, carry));
    }
  }
}

/// The order trap itself must fail on out-of-order, non-adjacent or cross-sequence combines,
/// otherwise the suite above could not catch a backend that makes them.
TEST(OrderTrap, RejectsEveryIllegalCombine) {
  using Op = OrderTrapOp;
  const OrderTrap x0 = OpTraits<Op>::make(0, 0, 0), x1 = OpTraits<Op>::make(0, 0, 1), x2 = OpTraits<Op>::make(0, 0, 2);
  const OrderTrap y1 = OpTraits<Op>::make(0, 1, 1);
  EXPECT_TRUE(Op::combine(x0, x1).ok);
  EXPECT_TRUE(Op::combine(Op::combine(x0, x1), x2).ok);
  EXPECT_TRUE(Op::combine(x0, Op::combine(x1, x2)).ok);
  EXPECT_FALSE(Op::combine(x1, x0).ok) << "swapped arguments";
  EXPECT_FALSE(Op::combine(x0, x2).ok) << "skipped element";
  EXPECT_FALSE(Op::combine(x1, x1).ok) << "repeated element";
  EXPECT_FALSE(Op::combine(x0, y1).ok) << "elements of two sequences";
  EXPECT_FALSE(Op::combine(Op::combine(x1, x0), x2).ok) << "a poisoned aggregate stays poisoned";
  EXPECT_TRUE(Op::combine(Op::identity(), x1).ok);
  EXPECT_EQ(Op::combine(x1, Op::identity()).first, 1);
}

}  // namespace
}  // namespace kalmanscan::scan::test
