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
#include <cstdint>
#include <cstring>
#include <limits>

#include "kalmanscan/scan/hd.hpp"

namespace kalmanscan::scan {

/// Aligned to its size (up to 16 bytes) so a GPU reads and writes it in one vector access.
template <class T>
struct alignas(4 * sizeof(T) < 16 ? 4 * sizeof(T) : 16) Mobius2 {
  T a, b, c, d;  ///< row-major [[a, b], [c, d]]

  /// The map's value at λ: (a λ + b) / (c λ + d).
  KS_HD T apply(T lambda) const { return (a * lambda + b) / (c * lambda + d); }
};

namespace detail {
/// 2^k for |k| within the normal range of T, built from its exponent bits (exact, cheap on GPUs).
template <class T>
KS_HD KS_INLINE T power_of_two(int k) {
  if constexpr (sizeof(T) == 4) {
    const std::uint32_t bits = std::uint32_t(k + 127) << 23;
    T out;
    std::memcpy(&out, &bits, sizeof out);
    return out;
  } else {
    const std::uint64_t bits = std::uint64_t(k + 1023) << 52;
    T out;
    std::memcpy(&out, &bits, sizeof out);
    return out;
  }
}
/// The unbiased binary exponent e of a finite, normal x > 0 (x = 1.f · 2^e).
template <class T>
KS_HD KS_INLINE int binary_exponent(T x) {
  if constexpr (sizeof(T) == 4) {
    std::uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return int((bits >> 23) & 0xffu) - 127;
  } else {
    std::uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return int((bits >> 52) & 0x7ffu) - 1023;
  }
}
}  // namespace detail

/// Rescales m by the power of two that puts its largest |entry| in [1, 2) — exactly, since only
/// exponents change. Zero, infinite, NaN and subnormal-scale matrices are returned unchanged.
template <class T>
KS_HD KS_INLINE Mobius2<T> normalise(const Mobius2<T>& m) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "float or double");
  using std::abs;
  T big = abs(m.a);
  big = abs(m.b) > big ? abs(m.b) : big;
  big = abs(m.c) > big ? abs(m.c) : big;
  big = abs(m.d) > big ? abs(m.d) : big;
  if (!(big >= std::numeric_limits<T>::min()) || !(big <= std::numeric_limits<T>::max())) return m;
  const int e = detail::binary_exponent(big);
  // 2^-e is normal unless e is the largest exponent; split the scale in two there.
  if (e >= std::numeric_limits<T>::max_exponent - 1) {
    const T half = detail::power_of_two<T>(-(e / 2)), rest = detail::power_of_two<T>(e / 2 - e);
    return {m.a * half * rest, m.b * half * rest, m.c * half * rest, m.d * half * rest};
  }
  const T s = detail::power_of_two<T>(-e);
  return {m.a * s, m.b * s, m.c * s, m.d * s};
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
