#include "kalmanscan/kla/torch/kla_stats.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>

namespace kalmanscan::kla::nn {

namespace {

/// The q-quantile with linear interpolation between order statistics (at::quantile's default), from a
/// sort: at::quantile refuses inputs above 2^24 elements, and MQAR at T = 1024 has 64 Mi (B·L·channels·slots).
double quantile_of(const at::Tensor& t, double q) {
  const auto sorted = std::get<0>(t.flatten().to(at::kDouble).sort());
  const auto n = sorted.numel();
  const double pos = q * static_cast<double>(n - 1);
  const auto lo = static_cast<std::int64_t>(pos);
  const auto hi = std::min(lo + 1, n - 1);
  const double a = sorted[lo].item<double>(), b = sorted[hi].item<double>();
  return a + (pos - static_cast<double>(lo)) * (b - a);
}

}  // namespace

std::vector<KlaStats> kla_stats(Tagger& model, const at::Tensor& tokens) {
  torch::NoGradGuard no_grad;
  std::vector<KlaStats> out;
  const auto traces = model->kla_traces(tokens);
  const at::Tensor logits = model->forward(tokens);
  int64_t kla_index = 0;
  for (Block block : model->blocks()) {  // a copy of the holder: mixer() is not const
    auto* kla = dynamic_cast<KlaMixerImpl*>(&block->mixer());
    if (!kla) continue;
    const auto& [index, trace] = traces.at(std::size_t(kla_index++));
    const auto [a_bar, p_bar] = kla->discretised();
    // λ before each token: λ₀ = 1, then the posterior after tokens 1 … L−1. [B, L, E, S]
    const at::Tensor lam_after = 1.0 / trace.state_variance.to(at::kDouble);
    const at::Tensor lam_before =
        at::cat({at::ones_like(lam_after.narrow(1, 0, 1)), lam_after.narrow(1, 0, lam_after.size(1) - 1)}, 1);
    const at::Tensor pl = p_bar.to(at::kDouble) * lam_before, a2 = a_bar.to(at::kDouble).pow(2);
    const at::Tensor share = pl / (a2 + pl);
    KlaStats s;
    s.block = index;
    s.share_mean = share.mean().item<double>();
    s.share_p90 = quantile_of(share, 0.9);
    s.share_above_10pct = (share > 0.1).to(at::kDouble).mean().item<double>();
    s.p_bar_median = quantile_of(p_bar, 0.5);
    s.a_bar_sq_median = quantile_of(a2, 0.5);
    s.lam_median = quantile_of(lam_after, 0.5);
    // p = 0 gives p̄ = 0, which the scan floors at p̄_min: the near-linear ablation of this layer.
    at::Tensor p = kla->named_parameters()["p"];
    const at::Tensor saved = p.clone();
    p.zero_();
    const at::Tensor ablated = model->forward(tokens);
    p.copy_(saved);
    s.logit_change = ((ablated - logits).norm() / logits.norm()).item<double>();
    s.prediction_change = (ablated.argmax(-1) != logits.argmax(-1)).to(at::kDouble).mean().item<double>();
    out.push_back(s);
  }
  return out;
}

}  // namespace kalmanscan::kla::nn
