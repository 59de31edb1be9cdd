// The scan operator contract shared by every backend.
//
// An operator is a small stateless struct:
//
//   struct MyOp {
//     using element = ...;                                   // trivially copyable
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
#pragma once

#include <concepts>
#include <type_traits>

#include "kalmanscan/scan/hd.hpp"

namespace kalmanscan::scan {

template <class Op>
concept ScanOperator = requires(const typename Op::element& e) {
  requires std::is_trivially_copyable_v<typename Op::element>;
  { Op::identity() } -> std::same_as<typename Op::element>;
  { Op::combine(e, e) } -> std::same_as<typename Op::element>;
};

template <class Op>
using element_t = typename Op::element;

/// Direction of a scan; combine order is time order either way.
enum class Direction { forward, reverse };

}  // namespace kalmanscan::scan
