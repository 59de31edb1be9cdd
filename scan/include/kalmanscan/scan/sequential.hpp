// The CPU sequential backend: the reference every other backend is tested against.
#pragma once

#include <cstddef>

#include "kalmanscan/scan/operator.hpp"

namespace kalmanscan::scan::detail {

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
  element_t<Op> acc;
  if (dir == Direction::forward) {
    acc = carry ? Op::combine(*carry, leaf(b, lo)) : element_t<Op>(leaf(b, lo));
    sink(b, lo, static_cast<const element_t<Op>&>(acc));
    for (std::size_t i = lo + 1; i < hi; ++i) {
      acc = Op::combine(acc, leaf(b, i));
      sink(b, i, static_cast<const element_t<Op>&>(acc));
    }
  } else {
    acc = carry ? Op::combine(leaf(b, hi - 1), *carry) : element_t<Op>(leaf(b, hi - 1));
    sink(b, hi - 1, static_cast<const element_t<Op>&>(acc));
    for (std::size_t i = hi - 1; i-- > lo;) {
      acc = Op::combine(leaf(b, i), acc);
      sink(b, i, static_cast<const element_t<Op>&>(acc));
    }
  }
  return acc;
}

/// Aggregate x_lo ∘ … ∘ x_{hi-1} without producing prefixes (the reduce pass of the threaded
/// backend). The range must be non-empty.
template <ScanOperator Op, class Leaf>
element_t<Op> reduce_range(std::size_t b, std::size_t lo, std::size_t hi, Leaf& leaf) {
  element_t<Op> acc = leaf(b, lo);
  for (std::size_t i = lo + 1; i < hi; ++i) acc = Op::combine(acc, leaf(b, i));
  return acc;
}

}  // namespace kalmanscan::scan::detail
