// Exact (integer) non-commutative operators: every backend must reproduce the sequential
// reference bit for bit with these, whatever grouping of combines it uses.
#pragma once

#include <cstdint>

#include "kalmanscan/scan/hd.hpp"

namespace kalmanscan::scan {

/// 2x2 matrices over the integers modulo the prime P (< 2^31), multiplied later · earlier.
template <std::uint32_t P>
struct ModMatrix2Op {
  static_assert(P > 1 && P < (1u << 31), "P must fit the 64-bit product of two residues");
  struct alignas(16) element {  // one vector access on a GPU
    std::uint32_t a, b, c, d;  ///< row-major residues in [0, P)
    friend KS_HD bool operator==(const element& x, const element& y) {
      return x.a == y.a && x.b == y.b && x.c == y.c && x.d == y.d;
    }
  };
  KS_HD static element identity() { return {1u, 0u, 0u, 1u}; }
  KS_HD static element combine(const element& e, const element& l) {
    return {dot(l.a, e.a, l.b, e.c), dot(l.a, e.b, l.b, e.d), dot(l.c, e.a, l.d, e.c), dot(l.c, e.b, l.d, e.d)};
  }

 private:
  KS_HD static std::uint32_t dot(std::uint32_t x0, std::uint32_t y0, std::uint32_t x1, std::uint32_t y1) {
    const std::uint64_t s = std::uint64_t(x0) * y0 % P + std::uint64_t(x1) * y1 % P;
    return static_cast<std::uint32_t>(s % P);
  }
};

/// Affine maps x ↦ a x + b over the integers modulo 2^32 (unsigned wrap-around),
/// composed as (a₂, b₂) ∘ (a₁, b₁) = (a₂ a₁, a₂ b₁ + b₂).
struct AffineMod32Op {
  struct alignas(8) element {  // one vector access on a GPU
    std::uint32_t a, b;
    friend KS_HD bool operator==(const element& x, const element& y) { return x.a == y.a && x.b == y.b; }
  };
  KS_HD static element identity() { return {1u, 0u}; }
  KS_HD static element combine(const element& e, const element& l) { return {l.a * e.a, l.a * e.b + l.b}; }
};

/// The prime 2^31 - 1, used by the exact 2x2 matrix operator that the tests and benchmarks run.
inline constexpr std::uint32_t mersenne31 = 2147483647u;
using ModMatrix2M31Op = ModMatrix2Op<mersenne31>;

}  // namespace kalmanscan::scan
