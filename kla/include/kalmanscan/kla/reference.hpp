// The fp64 step-by-step reference of the KLA scan and its exact backward (DESIGN.md §4;
// Shaj et al., "Kalman Linear Attention", arXiv 2602.10743). Slow and obviously correct: one
// loop over (b, m, s) and time, the backward by hand-derived reverse-mode through that loop
// (it keeps every state, [B, L+1, M, S], so it is for tests and small problems only).
//
// Forward, per batch b, channel m, slot s, token t = 1 … L (stored at index t-1):
//   φ_t = max(Λv_t[m] · k_t[s]², φ_min)          r_t = Λv_t[m] · v_t[m] · k_t[s]
//   p̄' = max(p̄, p̄_min)                           D_t = ā² + p̄' λ_{t-1}
//   λ_t = ((1 + p̄'φ_t) λ_{t-1} + ā² φ_t) / D_t     (precision: Möbius map [[1+p̄'φ, ā²φ], [p̄', ā²]])
//   f_t = ā / D_t                                  η_t = f_t η_{t-1} + r_t
//   y_t[m] = Σ_s q_t[s] η_t / λ_t                  y_var_t[m] = Σ_s q_t[s]² / λ_t
// with (λ₀, η₀) the carried state (default 1, 0) and (λ_L, η_L) returned as (lam_T, eta_T).
// The floors p̄_min = p_bar_floor and φ_min = phi_floor are those of tensors.hpp.
//
// Backward: the adjoint recursions written out in kla/README.md ("Backward"):
//   η̄_{t-1} = f_t η̄_t,   λ̄_{t-1} = f_t² λ̄_t − (ā p̄'/D_t²) η_{t-1} η̄_t   (+ the readout terms at t-1)
// and the local partials of DESIGN.md §4 in forms that stay finite as ā → 0.
#pragma once

#include "kalmanscan/kla/tensors.hpp"

namespace kalmanscan::kla {

/// Forward pass in fp64. Throws Error for inputs or outputs of the wrong size or domain.
void reference_forward(const Inputs<double>& in, const Outputs<double>& out);

/// Gradients of the loss Σ cot·out (out = y, y_var, lam_T, eta_T) with respect to every input,
/// by exact reverse-mode through the step loop. Gradients are overwritten. Throws Error for
/// tensors of the wrong size or inputs outside their domain.
void reference_backward(const Inputs<double>& in, const Cotangents<double>& cot, const Gradients<double>& grad);

}  // namespace kalmanscan::kla
