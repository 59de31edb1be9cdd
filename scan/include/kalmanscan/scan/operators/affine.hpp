// Scalar affine maps x ↦ f·x + b under composition: the KLA information-mean recursion
// η_t = f_t η_{t-1} + r_t (DESIGN.md §4) and every first-order linear recurrence.
#pragma once

#include "kalmanscan/scan/hd.hpp"

namespace kalmanscan::scan {

/// Aligned to its size so a GPU reads and writes it in one vector access.
template <class T>
struct alignas(2 * sizeof(T)) Affine {
  T f;  ///< multiplier
  T b;  ///< offset
};

/// Composition of affine maps in time order: (f₂, b₂) ∘ (f₁, b₁) = (f₂ f₁, f₂ b₁ + b₂),
/// i.e. apply `earlier` = (f₁, b₁) first. Prefix (F, B) maps the state before x_0 to the
/// state after x_i: s_i = F s_{-1} + B.
template <class T>
struct AffineOp {
  using element = Affine<T>;
  KS_HD static element identity() { return {T(1), T(0)}; }
  KS_HD static element combine(const element& earlier, const element& later) {
    return {later.f * earlier.f, later.f * earlier.b + later.b};
  }
};

}  // namespace kalmanscan::scan
