// Per-slot KLA arithmetic shared by the CPU and CUDA kernels (host and device): one token's
// update, its adjoint, and the scan elements of the three recursions. Derivations: kla/README.md.
//
// Every formula is arranged so that no intermediate leaves the range of the inputs' scale
// (no λ², no 1/D² on its own): with λ up to 1e30 and D = ā² + p̄λ, fp32 keeps every term finite.
#pragma once

#include <type_traits>

#include "kalmanscan/kla/tensors.hpp"
#include "kalmanscan/scan/hd.hpp"
#include "kalmanscan/scan/operators/affine.hpp"
#include "kalmanscan/scan/operators/mobius.hpp"

namespace kalmanscan::kla::detail {

/// 1/x. In fp32 on the GPU the hardware approximation (rcp.approx: at most 1 ulp off, one
/// instruction instead of the division's ~10; it flushes results below 2^-126 to zero, i.e. x above
/// 8.5e37, beyond the range the kernels keep λ and D in); elsewhere the correctly rounded division.
template <class T>
KS_HD KS_INLINE T reciprocal(T x) {
#ifdef __CUDA_ARCH__
  if constexpr (std::is_same_v<T, float>) {
    float r;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
    return r;
  } else {
    return T(1) / x;
  }
#else
  return T(1) / x;
#endif
}

/// ā and the floored p̄' = max(p̄, p̄_min) of one (m, s), and whether the floor was active
/// (then the gradient to p̄ is zero, as for a clamp).
template <class T>
struct SlotParams {
  T a, p;
  bool p_floored;
};

template <class T>
KS_HD KS_INLINE SlotParams<T> slot_params(T a_bar, T p_bar) {
  const bool floored = p_bar < T(p_bar_floor);
  return {a_bar, floored ? T(p_bar_floor) : p_bar, floored};
}

/// φ = max(Λv k², φ_min).
template <class T>
KS_HD KS_INLINE T observation_precision(T lam_v, T k) {
  const T phi = lam_v * k * k;
  return phi < T(phi_floor) ? T(phi_floor) : phi;
}

/// g = 1/D = 1/(ā² + p̄λ) of one token's update at the λ before it.
template <class T>
KS_HD KS_INLINE T step_reciprocal(const SlotParams<T>& sp, T lam) {
  return reciprocal(sp.a * sp.a + sp.p * lam);
}

/// One token's precision update λ ← λ/D + φ (= ((1 + p̄φ)λ + ā²φ)/D, D = ā² + p̄λ); returns the
/// mean's multiplier f = ā/D at the λ before the update.
template <class T>
KS_HD KS_INLINE T precision_step(const SlotParams<T>& sp, T phi, T& lam) {
  const T g = step_reciprocal(sp, lam);
  lam = lam * g + phi;
  return sp.a * g;
}

/// One token, λ ← λ/D + φ, η ← (ā/D) η + r, returning g = 1/D at the λ before it (for an adjoint
/// that reuses it: step_adjoint_from).
template <class T>
KS_HD KS_INLINE T step_keeping_reciprocal(const SlotParams<T>& sp, T phi, T r, T& lam, T& eta) {
  const T g = step_reciprocal(sp, lam);
  lam = lam * g + phi;
  eta = sp.a * g * eta + r;
  return g;
}

/// One token: λ ← λ/D + φ, η ← (ā/D) η + r.
template <class T>
KS_HD KS_INLINE void step(const SlotParams<T>& sp, T phi, T r, T& lam, T& eta) {
  eta = precision_step(sp, phi, lam) * eta + r;
}

/// The token's precision map as the engine's Möbius matrix [[1 + p̄φ, ā²φ], [p̄, ā²]].
template <class T>
KS_HD KS_INLINE scan::Mobius2<T> precision_leaf(const SlotParams<T>& sp, T phi) {
  const T a2 = sp.a * sp.a;
  return {T(1) + sp.p * phi, a2 * phi, sp.p, a2};
}

/// The token's information-mean map η ↦ f η + r given the precision λ before it.
template <class T>
KS_HD KS_INLINE scan::Affine<T> mean_leaf(const SlotParams<T>& sp, T lam_before, T r) {
  return {sp.a / (sp.a * sp.a + sp.p * lam_before), r};
}

/// Readout terms of one slot at one token: y += q η/λ, y_var += q²/λ.
template <class T>
KS_HD KS_INLINE void readout(T q, T lam, T eta, T& y, T& y_var) {
  const T u = reciprocal(lam);
  y += q * eta * u;
  y_var += q * q * u;
}

/// Adjoint of the readout at one token: adds its terms to the adjoints (λ̄, η̄) of the state
/// after the token and returns the slot's term of the gradient of q.
///   η̄ += ȳ q/λ,   λ̄ −= (ȳ q η + ȳ_var q²)/λ²,   q̄ = (ȳ η + 2 ȳ_var q)/λ.
template <class T>
KS_HD KS_INLINE T readout_adjoint(T q, T lam, T eta, T gy, T gy_var, T& lam_bar, T& eta_bar) {
  const T u = reciprocal(lam);
  eta_bar += gy * q * u;
  lam_bar -= (gy * q * (eta * u) + gy_var * q * (q * u)) * u;
  return (gy * eta + T(2) * gy_var * q) * u;
}

/// Local partials of one token's update at the state (λ, η) before it: with g = 1/D, f = ā g,
///   ∂λ'/∂λ = f²,  ∂f/∂λ = −ā p̄ g² = −f p̄ g,  ∂λ'/∂ā = −2āλg²,  ∂λ'/∂p̄ = −(λg)²,
///   ∂f/∂ā = (p̄λ − ā²) g² = g (1 − 2 ā f),  ∂f/∂p̄ = −āλg² = −f (λg).
template <class T>
struct StepPartials {
  T f;        ///< ∂η'/∂η
  T df_dlam;  ///< ∂f/∂λ
  T dlam_da, dlam_dp, df_da, df_dp;
};

template <class T>
KS_HD KS_INLINE StepPartials<T> step_partials(const SlotParams<T>& sp, T lam) {
  const T g = step_reciprocal(sp, lam);
  const T f = sp.a * g, lg = lam * g;
  return {f, -f * sp.p * g, T(-2) * sp.a * lg * g, -lg * lg, g * (T(1) - T(2) * sp.a * f), -f * lg};
}

/// Adjoint of one token's update. In: (λ̄, η̄) of the state after the token (readout included),
/// the state (λ, η) before it. Adds the token's terms to the slot's ā and p̄ gradients, returns
/// φ̄ and r̄ (the adjoints of φ and r), and turns (λ̄, η̄) into the adjoints of the state before:
///   λ̄ ← f² λ̄ + (∂f/∂λ) η η̄,   η̄ ← f η̄.
template <class T>
KS_HD KS_INLINE void step_adjoint(const SlotParams<T>& sp, T lam, T eta, T& lam_bar, T& eta_bar, T& a_grad,
                                  T& p_grad, T& phi_bar, T& r_bar) {
  const StepPartials<T> d = step_partials(sp, lam);
  phi_bar = lam_bar;
  r_bar = eta_bar;
  a_grad += lam_bar * d.dlam_da + eta_bar * eta * d.df_da;
  p_grad += lam_bar * d.dlam_dp + eta_bar * eta * d.df_dp;
  lam_bar = d.f * d.f * lam_bar + d.df_dlam * eta * eta_bar;
  eta_bar = d.f * eta_bar;
}

/// step_adjoint with the reciprocal g = 1/D of the forward step (step_keeping_reciprocal) reused
/// and the ā, p̄ terms factored (fewer operations, the same partials): with w = λ̄ λg + η̄η f,
///   λ̄ ∂λ'/∂ā + η̄η ∂f/∂ā = g (η̄η − 2ā w),   λ̄ ∂λ'/∂p̄ + η̄η ∂f/∂p̄ = −λg w,
///   λ̄ ← f (f λ̄ − p̄ g η̄η),   η̄ ← f η̄.
/// Every product stays in the range of step_partials' (λg ≤ 1/p̄, g ≤ 1/ā², f ≤ 1/ā).
template <class T>
KS_HD KS_INLINE void step_adjoint_from(const SlotParams<T>& sp, T lam, T g, T eta, T& lam_bar, T& eta_bar, T& a_grad,
                                       T& p_grad) {
  const T f = sp.a * g, lg = lam * g;
  const T e = eta_bar * eta;
  const T w = lam_bar * lg + e * f;
  a_grad += g * (e - T(2) * sp.a * w);
  p_grad -= lg * w;
  lam_bar = f * (f * lam_bar - sp.p * g * e);
  eta_bar = f * eta_bar;
}

/// token_grads summed over slots of one channel: per slot, add_slot adds r̄ Λv k to v̄, r̄ k and
/// φ̄' k² (φ̄' = φ̄ unless the floor is active) to the parts of Λv̄ = v Σ r̄ k + Σ φ̄' k², and
/// returns the slot's k̄ = r̄ Λv v + 2 φ̄' Λv k.
template <class T>
struct ChannelTokenGrads {
  T lv, lvv;           ///< Λv and Λv v of the token
  T v_bar = 0, rk = 0, pkk = 0;

  KS_HD KS_INLINE T add_slot(T k, T phi_bar, T r_bar) {
    const T lvk = lv * k;
    const T pb = lvk * k < T(phi_floor) ? T(0) : phi_bar;
    v_bar += r_bar * lvk;
    rk += r_bar * k;
    pkk += pb * (k * k);
    return r_bar * lvv + pb * (lvk + lvk);
  }
  KS_HD KS_INLINE T lam_v_bar(T v) const { return v * rk + pkk; }
};

/// Gradients of φ = max(Λv k², φ_min) and r = Λv v k with respect to (v, Λv, k), given φ̄, r̄.
template <class T>
struct TokenGrads {
  T v, lam_v, k;
};

template <class T>
KS_HD KS_INLINE TokenGrads<T> token_grads(T v, T lam_v, T k, T phi_bar, T r_bar) {
  const T pb = lam_v * k * k < T(phi_floor) ? T(0) : phi_bar;
  return {r_bar * lam_v * k, r_bar * v * k + pb * k * k, r_bar * lam_v * v + pb * T(2) * lam_v * k};
}

}  // namespace kalmanscan::kla::detail
