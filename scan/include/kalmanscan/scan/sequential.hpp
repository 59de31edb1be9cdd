// The CPU sequential backend: the reference every other backend is tested against.
#pragma once

#include <cstddef>
#include <utility>

#include "kalmanscan/scan/operator.hpp"

namespace kalmanscan::scan::detail {

/// The running aggregate of a range: acc ← acc ∘ x (forward) or acc ← x ∘ acc (reverse).
/// Operators with combine_into (operator.hpp) combine into a spare element that is then
/// swapped with acc, so no combine allocates once both have their storage.
template <ScanOperator Op>
struct Accumulator {
  element_t<Op> acc, spare;

  /// acc ← earlier ∘ later (either may be acc itself).
  void assign(const element_t<Op>& earlier, const element_t<Op>& later) {
    if constexpr (InPlaceOperator<Op>) {
      Op::combine_into(earlier, later, spare);
      std::swap(acc, spare);
    } else {
      acc = Op::combine(earlier, later);
    }
  }
  void then(const element_t<Op>& later) { assign(acc, later); }
  void after(const element_t<Op>& earlier) { assign(earlier, acc); }
};

/// Inclusive scan of x_lo … x_{hi-1} of sequence `b`, in time order regardless of direction:
/// forward: acc ← acc ∘ x_i for i = lo … hi-1 (acc starts as `carry`, the aggregate before x_lo);
/// reverse: acc ← x_i ∘ acc for i = hi-1 … lo  (acc starts as `carry`, the aggregate after x_{hi-1}).
/// Each inclusive result is handed to sink(b, i, acc). `carry` may be null (no history: the
/// first result is the leaf itself). Returns the aggregate including `carry`; when the range
/// is empty that is *carry, or identity() if there is none.
template <ScanOperator Op, class Leaf, class Sink>
element_t<Op> scan_range(Direction dir, std::size_t b, std::size_t lo, std::size_t hi, Leaf& leaf, Sink& sink,
                         const element_t<Op>* carry) {
  if (lo == hi) return carry ? *carry : Op::identity();
  Accumulator<Op> a;
  if (dir == Direction::forward) {
    if (carry)
      a.assign(*carry, leaf(b, lo));
    else
      a.acc = leaf(b, lo);
    sink(b, lo, static_cast<const element_t<Op>&>(a.acc));
    for (std::size_t i = lo + 1; i < hi; ++i) {
      a.then(leaf(b, i));
      sink(b, i, static_cast<const element_t<Op>&>(a.acc));
    }
  } else {
    if (carry)
      a.assign(leaf(b, hi - 1), *carry);
    else
      a.acc = leaf(b, hi - 1);
    sink(b, hi - 1, static_cast<const element_t<Op>&>(a.acc));
    for (std::size_t i = hi - 1; i-- > lo;) {
      a.after(leaf(b, i));
      sink(b, i, static_cast<const element_t<Op>&>(a.acc));
    }
  }
  return std::move(a.acc);
}

/// Aggregate x_lo ∘ … ∘ x_{hi-1} without producing prefixes (the reduce pass of the threaded
/// backend). The range must be non-empty.
template <ScanOperator Op, class Leaf>
element_t<Op> reduce_range(std::size_t b, std::size_t lo, std::size_t hi, Leaf& leaf) {
  Accumulator<Op> a;
  a.acc = leaf(b, lo);
  for (std::size_t i = lo + 1; i < hi; ++i) a.then(leaf(b, i));
  return std::move(a.acc);
}

}  // namespace kalmanscan::scan::detail
