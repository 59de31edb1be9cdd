// 2x2 matrix products representing Möbius maps λ ↦ (a λ + b) / (c λ + d), normalised.
//
// The KLA precision recursion λ_t = ((1 + p̄φ)λ + ā²φ) / (p̄λ + ā²) (DESIGN.md §4) is the
// Möbius map of [[1 + p̄φ, ā²φ], [p̄, ā²]]; composing maps multiplies matrices, later · earlier.
// A Möbius map is unchanged by scaling its matrix, so each product is rescaled by a power of
// two (exact: no rounding) that brings its largest entry into [1, 2). Products of long
// sequences therefore stay in range, and prefixes agree with the sequential reference up to
// a positive scale factor and rounding. Compare prefixes through `apply`, or after `normalise`.
#pragma once

#include <cmath>

#include "kalmanscan/scan/hd.hpp"

namespace kalmanscan::scan {

template <class T>
struct Mobius2 {
  T a, b, c, d;  ///< row-major [[a, b], [c, d]]

  /// The map's value at λ: (a λ + b) / (c λ + d).
  KS_HD T apply(T lambda) const { return (a * lambda + b) / (c * lambda + d); }
};

/// Rescales m by the power of two that puts its largest |entry| in [1, 2); zero stays zero.
template <class T>
KS_HD KS_INLINE Mobius2<T> normalise(const Mobius2<T>& m) {
  using std::abs;
  T big = abs(m.a);
  big = abs(m.b) > big ? abs(m.b) : big;
  big = abs(m.c) > big ? abs(m.c) : big;
  big = abs(m.d) > big ? abs(m.d) : big;
  if (!(big > T(0)) || !std::isfinite(big)) return m;
  int e = 0;
  std::frexp(big, &e);  // big = f · 2^e, f in [0.5, 1)
  const int shift = 1 - e;
  return {std::ldexp(m.a, shift), std::ldexp(m.b, shift), std::ldexp(m.c, shift), std::ldexp(m.d, shift)};
}

template <class T>
struct Mobius2Op {
  using element = Mobius2<T>;
  KS_HD static element identity() { return {T(1), T(0), T(0), T(1)}; }
  /// later · earlier (the earlier map is applied first), then normalised.
  KS_HD static element combine(const element& e, const element& l) {
    return normalise(element{l.a * e.a + l.b * e.c, l.a * e.b + l.b * e.d,
                             l.c * e.a + l.d * e.c, l.c * e.b + l.d * e.d});
  }
};

}  // namespace kalmanscan::scan
