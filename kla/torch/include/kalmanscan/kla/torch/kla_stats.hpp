// How far each KLA layer of a model is from its near-linear ablation (issue 6, docs/RESULTS.md).
//
// The KLA prediction step maps the posterior precision λ to λ/(ā² + p̄λ), i.e. the predicted
// variance is ā²/λ + p̄. Its process-noise share
//   share = p̄λ / (ā² + p̄λ) ∈ [0, 1)
// says how much of the predicted variance is process noise. At share ≈ 0 the precision recursion
// is the linear λ/ā² + φ of the near-linear ablation (p̄ = p̄_min); the Möbius (nonlinear) part of
// KLA acts only where the share is not small. Statistics over every (sequence, token, channel,
// slot), with λ the precision before the token (λ₀ = 1 at the first token). And what the model
// loses without it: its logits with this one layer's p̄ at the floor (p = 0), the rest unchanged.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "kalmanscan/kla/torch/model.hpp"

namespace kalmanscan::kla::nn {

struct KlaStats {
  int64_t block = 0;
  double share_mean = 0, share_p90 = 0;  ///< mean and 90th percentile of the process-noise share
  double share_above_10pct = 0;          ///< fraction of (token, channel, slot) with share > 0.1
  double p_bar_median = 0, a_bar_sq_median = 0;  ///< over the layer's (channel, slot) parameters
  double lam_median = 0;                         ///< median posterior precision λ_t over all tokens
  double logit_change = 0;       ///< ‖logits(p̄ = p̄_min) − logits‖ / ‖logits‖
  double prediction_change = 0;  ///< fraction of positions whose predicted class changes with p̄ = p̄_min
};

/// The statistics of every KLA (or near-linear) block of `model` on `tokens` [B, L] (no gradient).
std::vector<KlaStats> kla_stats(Tagger& model, const at::Tensor& tokens);

}  // namespace kalmanscan::kla::nn
