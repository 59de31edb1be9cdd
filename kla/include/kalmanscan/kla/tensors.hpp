// Shapes, tensor views and input validation of the KLA scan (DESIGN.md §4).
//
// Every tensor is a dense row-major array viewed through a std::span:
//   v, lam_v (Λv), y, y_var       [B, L, M]
//   k, q                          [B, L, S]
//   a_bar (ā), p_bar (p̄)          [M, S]
//   lam0, eta0, lam_T, eta_T      [B, M, S]   (λ, η: precision and information mean per slot)
// An empty span means "absent": lam0/eta0 default to the prior λ₀ = 1, η₀ = 0; an absent
// output or gradient is not written; an absent cotangent is zero.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "kalmanscan/kla/error.hpp"

namespace kalmanscan::kla {

/// Floor on the process-noise variance: p̄ is used as max(p̄, p_bar_floor). With p̄ = 0 and
/// ā < 1 the precision grows like ā^(−2t) and overflows, so the "near-linear" ablation uses p̄
/// at this floor. Same value as the published reference implementation (Shaj et al. 2026).
/// The gradient to p̄ is zero where p̄ < p_bar_floor (a clamp).
inline constexpr double p_bar_floor = 1e-12;
/// Floor on the observation precision φ = Λv·k² (max(φ, phi_floor), gradient zero below it):
/// keeps λ_t > 0 when a key is exactly zero. Same value as the published reference.
inline constexpr double phi_floor = 1e-12;

/// Batch B, sequence length L, channels M (value dimension), slots S (state size per channel).
struct Shape {
  std::size_t B = 0, L = 0, M = 0, S = 0;

  std::size_t sequence_size() const { return B * L * M; }  ///< v, lam_v, y, y_var
  std::size_t key_size() const { return B * L * S; }       ///< k, q
  std::size_t param_size() const { return M * S; }         ///< a_bar, p_bar
  std::size_t state_size() const { return B * M * S; }     ///< lam0, eta0, lam_T, eta_T
  std::string to_string() const;                           ///< "B=… L=… M=… S=…"
};

template <class T>
struct Inputs {
  Shape shape;
  std::span<const T> v, lam_v, k, q, a_bar, p_bar;
  std::span<const T> lam0{}, eta0{};  ///< carried state (posterior before the first token) or empty
};

template <class T>
struct Outputs {
  std::span<T> y, y_var;
  std::span<T> lam_T{}, eta_T{};  ///< final state (carry-out) or empty
};

/// Cotangents of a scalar loss with respect to the outputs; empty = zero.
template <class T>
struct Cotangents {
  std::span<const T> y{}, y_var{}, lam_T{}, eta_T{};
};

/// Gradients of the loss with respect to every input; each is overwritten (not accumulated).
/// lam0 / eta0 may be empty (not wanted); they are the gradients of the carried state, or of
/// the default prior when Inputs has none.
template <class T>
struct Gradients {
  std::span<T> v, lam_v, k, q, a_bar, p_bar;
  std::span<T> lam0{}, eta0{};
};

/// Throws Error naming the tensor when a size does not match the shape, or when a value is
/// outside its domain: lam_v ≥ 0, a_bar ∈ (0, 1], p_bar ≥ 0, lam0 > 0 (all finite).
template <class T>
void validate(const Inputs<T>& in);
/// The size checks of validate(in) alone (for tensors in device memory).
template <class T>
void validate_sizes(const Inputs<T>& in);
template <class T>
void validate(const Shape& shape, const Outputs<T>& out);
template <class T>
void validate(const Shape& shape, const Cotangents<T>& cot);
template <class T>
void validate(const Shape& shape, const Gradients<T>& grad);

}  // namespace kalmanscan::kla
