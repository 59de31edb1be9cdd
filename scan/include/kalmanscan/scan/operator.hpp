// The scan operator contract shared by every backend.
//
// An operator is a small stateless struct:
//
//   struct MyOp {
//     using element = ...;                                   // trivially copyable (see below)
//     KS_HD static element identity();                       // combine(identity(), x) == x == combine(x, identity())
//     KS_HD static element combine(const element& earlier,   // associative, NOT commutative:
//                                  const element& later);    // `earlier` comes first in time
//   };
//
// Argument order is always time order, whichever way a scan runs (DESIGN.md §2):
//   forward scan  -> prefix  y_i = x_0 ∘ x_1 ∘ … ∘ x_i          (∘ = combine, left argument earlier)
//   reverse scan  -> suffix  y_i = x_i ∘ x_{i+1} ∘ … ∘ x_{n-1}
// A forward carry-in is the aggregate of everything before x_0 and is combined on the left;
// a reverse carry-in is the aggregate of everything after x_{n-1} and is combined on the right.
// The carry-out is the aggregate of the carry-in and the whole sequence, ready to be the
// carry-in of the next chunk. Backends may regroup combines arbitrarily (associativity) but
// never swap the two arguments; floating-point operators therefore agree with the
// sequential reference to rounding, and exact operators bit for bit.
//
// Elements are trivially copyable for the GPU backend. The CPU backends also take elements
// that own heap storage (dynamic-size matrices); such an operator may add
//
//     static void combine_into(const element& earlier, const element& later, element& out);
//
// which writes earlier ∘ later into `out` (aliasing neither), reusing out's storage. The CPU
// backends then combine through it into two accumulators per range that they swap, so a scan
// allocates per range of elements, not per combine.
#pragma once

#include <concepts>
#include <type_traits>

#include "kalmanscan/scan/hd.hpp"

namespace kalmanscan::scan {

template <class Op>
concept ScanOperator = requires(const typename Op::element& e) {
  requires std::copyable<typename Op::element> && std::default_initializable<typename Op::element>;
  { Op::identity() } -> std::same_as<typename Op::element>;
  { Op::combine(e, e) } -> std::same_as<typename Op::element>;
};

template <class Op>
using element_t = typename Op::element;

/// An operator with the in-place combine_into described above.
template <class Op>
concept InPlaceOperator = ScanOperator<Op> && requires(const element_t<Op>& e, element_t<Op>& out) {
  Op::combine_into(e, e, out);
};

/// Direction of a scan; combine order is time order either way.
enum class Direction { forward, reverse };

}  // namespace kalmanscan::scan
