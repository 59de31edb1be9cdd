// Fixed-size affine maps x ↦ A x + b on R^N under composition (linear dynamics, the
// mean part of a Kalman prediction, the RTS smoothing element's (E, g)).
#pragma once

#include "kalmanscan/scan/small_linalg.hpp"

namespace kalmanscan::scan {

template <class T, int N>
struct AffineMap {
  Mat<T, N, N> A;
  Vec<T, N> b;
};

/// (A₂, b₂) ∘ (A₁, b₁) = (A₂ A₁, A₂ b₁ + b₂): apply `earlier` first.
template <class T, int N>
struct AffineMapOp {
  using element = AffineMap<T, N>;
  KS_HD static element identity() { return {Mat<T, N, N>::identity(), Vec<T, N>::zero()}; }
  KS_HD static element combine(const element& earlier, const element& later) {
    return {later.A * earlier.A, later.A * earlier.b + later.b};
  }
};

}  // namespace kalmanscan::scan
