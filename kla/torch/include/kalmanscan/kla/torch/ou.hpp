// Discretisation of the Ornstein–Uhlenbeck prior of the KLA layer (DESIGN.md §4; Shaj et al.,
// "Kalman Linear Attention", arXiv 2602.10743): the latent state follows dx = −a x dt + p dW,
// sampled every Δ, so one token step is
//   x_t = ā x_{t-1} + w_t,   ā = exp(−aΔ),   w_t ~ N(0, p̄),   p̄ = p² (1 − exp(−2aΔ)) / (2a)
// (the exact transition of the OU process over Δ; p̄ → p²Δ, the Wiener process, as a → 0).
#pragma once

#include <ATen/core/Tensor.h>

namespace kalmanscan::kla::nn {

struct Discretised {
  at::Tensor a_bar, p_bar;  ///< ā ∈ (0, 1], p̄ ≥ 0, with the broadcast shape of (a, p, Δ)
};

/// ā = exp(−aΔ), p̄ = −p² expm1(−2aΔ) / (2a), evaluated as p²Δ·g(2aΔ) with g(x) = −expm1(−x)/x,
/// which is finite and differentiable at every a ≥ 0: g is replaced by its Taylor series to x⁴
/// for x < 1e-3, so a = 0 gives p̄ = p²Δ exactly, no 0/0 reaches autograd, and the gradient
/// avoids the cancellation of d/dx(expm1(−x)/x) at small x.
/// Preconditions: a ≥ 0, Δ > 0 (broadcastable shapes).
Discretised ou_discretise(const at::Tensor& a, const at::Tensor& p, const at::Tensor& delta);

}  // namespace kalmanscan::kla::nn
