// Scan operators of the KLA kernels (host and device), besides the engine's Mobius2Op and
// AffineOp: several slots side by side (LanesOp), and the reverse-mode adjoint maps (AdjointOp).
#pragma once

#include "kalmanscan/scan/hd.hpp"
#include "kalmanscan/scan/operator.hpp"
#include "step.hpp"

namespace kalmanscan::kla::detail {

/// W independent copies of Op combined lane by lane: the slots of one channel scanned together,
/// so that a sink sees every slot of a token at once (the readout sums over them).
template <class Op, int W>
struct LanesOp {
  struct element {
    scan::element_t<Op> lane[W];
  };
  KS_HD static element identity() {
    element e;
    for (int w = 0; w < W; ++w) e.lane[w] = Op::identity();
    return e;
  }
  KS_HD static element combine(const element& earlier, const element& later) {
    element e;
    for (int w = 0; w < W; ++w) e.lane[w] = Op::combine(earlier.lane[w], later.lane[w]);
    return e;
  }
};

/// An affine map of the adjoint pair (η̄, λ̄) with a lower-triangular linear part:
///   η̄ ↦ ee η̄ + be,   λ̄ ↦ le η̄ + ll λ̄ + bl.
/// Token i's element maps the adjoints of the state after token i+1 to those after token i:
/// ee = f_{i+1}, le = (∂f_{i+1}/∂λ) η_i, ll = f_{i+1}², (be, bl) = the readout adjoints at i.
template <class T>
struct Adjoint2 {
  T ee, le, ll, be, bl;
  /// The map applied to (η̄, λ̄).
  KS_HD void apply(T eta_bar, T lam_bar, T& eta_out, T& lam_out) const {
    eta_out = ee * eta_bar + be;
    lam_out = le * eta_bar + ll * lam_bar + bl;
  }
};

/// Composition of adjoint maps in the order reverse-mode applies them: the later token's map
/// acts first, so combine(earlier, later) = earlier ∘ later (still time order in the arguments,
/// as the engine requires). A reverse scan with carry-in "the constant map to the cotangents of
/// the final state" yields at token i the constant map to the adjoints of the state after i.
template <class T>
struct AdjointOp {
  using element = Adjoint2<T>;
  KS_HD static element identity() { return {T(1), T(0), T(1), T(0), T(0)}; }
  KS_HD static element combine(const element& e, const element& l) {
    return {e.ee * l.ee, e.le * l.ee + e.ll * l.le, e.ll * l.ll, e.ee * l.be + e.be,
            e.le * l.be + e.ll * l.bl + e.bl};
  }
};

/// Token t's adjoint map from (λ_t, η_t) = the state after it, its query q, the readout cotangents
/// (ȳ, ȳ_var) and whether a token follows it in this sequence (if not, the linear part is I).
template <class T>
KS_HD KS_INLINE Adjoint2<T> adjoint_leaf(const SlotParams<T>& sp, T q, T lam, T eta, T gy, T gy_var, bool has_next) {
  T lam_bar = 0, eta_bar = 0;
  readout_adjoint(q, lam, eta, gy, gy_var, lam_bar, eta_bar);
  if (!has_next) return {T(1), T(0), T(1), eta_bar, lam_bar};
  const StepPartials<T> d = step_partials(sp, lam);
  return {d.f, d.df_dlam * eta, d.f * d.f, eta_bar, lam_bar};
}

}  // namespace kalmanscan::kla::detail
