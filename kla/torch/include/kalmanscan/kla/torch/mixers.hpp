// Sequence mixers as torch::nn modules, all mapping x [B, L, D] → [B, L, D] causally (the output
// at t depends on x_1 … x_t only):
//   KlaMixer        the KLA layer of DESIGN.md §4 (Shaj et al., arXiv 2602.10743): input projection,
//                   causal depthwise conv (k = 4) + SiLU, sensor projection to v, variance
//                   pre-activation σ̃ with Λv = 1/(softplus(σ̃) + 1e-4), k and q (L2-normalised),
//                   OU discretisation of learned a > 0, p, Δ > 0 (ou.hpp), the KLA scan, a learned
//                   skip D ⊙ v, a SiLU gate and the output projection;
//   near-linear     the same layer with p̄ fixed at its floor p̄_min (MixerKind::linear): no process
//                   noise, the ablation of DESIGN.md §4;
//   GlaMixer        gated linear attention with diagonal (per key dimension) data-dependent gates
//                   (Yang et al. 2024, "Gated Linear Attention Transformers", eqs. 3–4):
//                   S_t = diag(α_t) S_{t-1} + k_t v_tᵀ, o_t = S_tᵀ q_t, α_t = σ(W_α x_t)^{1/16},
//                   computed chunk-wise with torch operations;
//   AttentionMixer  causal multi-head softmax attention written out (scores, mask, softmax) with
//                   rotary position embeddings (Su et al. 2021) so that it sees token order.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kalmanscan/kla/torch/op.hpp"

namespace kalmanscan::kla::nn {

enum class MixerKind { kla, gla, linear, attention };

/// "kla", "gla", "linear", "attention" ↔ MixerKind; parse throws kla::Error for other names.
MixerKind parse_mixer(const std::string& name);
std::string mixer_name(MixerKind kind);

/// How the KLA scan is evaluated: the kla_scan op (exact hand-written backward, no [B, L, M, S]
/// activations), the step-by-step torch-ops recurrence (any device), or the op where it has a
/// kernel for the tensors' device and the recurrence elsewhere.
enum class ScanImpl { automatic, op, recurrent };

struct MixerOptions {
  MixerKind kind = MixerKind::kla;
  int64_t d_model = 64;
  int64_t heads = 1;       ///< KLA: channel groups sharing k, q; GLA, attention: heads
  int64_t state_size = 16; ///< KLA: slots S per channel; GLA: key dimension per head
  int64_t expand = 1;      ///< KLA: inner width E = expand·d_model (the channels M)
  int64_t chunk = 32;      ///< GLA: chunk length of the chunk-wise form
  /// KLA: initial OU diffusion p of every (channel, slot), so p̄ ≈ p_init²·Δ at init (ou.hpp). The
  /// process noise only matters where p̄·λ is not small next to ā² (kla_stats.hpp).
  double p_init = 1.0;
  ScanImpl scan = ScanImpl::automatic;
};

/// The posterior variances of a KLA layer on one batch (for export): y_var [B, L, E] and the state
/// variance 1/λ_t [B, L, E, S] after each token.
struct KlaTrace {
  at::Tensor y_var, state_variance;
};

/// Every mixer: forward(x [B, L, D]) → [B, L, D].
class MixerImpl : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x) = 0;
};

class KlaMixerImpl : public MixerImpl {
 public:
  /// options.kind must be kla or linear; heads must divide expand·d_model.
  explicit KlaMixerImpl(const MixerOptions& options);
  at::Tensor forward(const at::Tensor& x) override;
  /// The KLA scan of the layer on x, heads concatenated along channels: y, y_var [B, L, E],
  /// lam_T, eta_T [B, E, S].
  ScanResult scan(const at::Tensor& x);
  /// y_var and the per-token state variances on x, computed token by token with carried states
  /// (no gradient).
  KlaTrace trace(const at::Tensor& x);
  /// The discretised (ā, p̄) [E, S] of the current parameters.
  std::pair<at::Tensor, at::Tensor> discretised() const;

 private:
  struct Projected {
    at::Tensor v, lam_v, k, q, gate;  // v, lam_v, gate [B, L, E]; k, q [B, L, heads, S]
  };
  Projected project(const at::Tensor& x);
  ScanResult scan_projected(const Projected& pr);
  at::Tensor output(const Projected& pr, const at::Tensor& y);

  MixerOptions options_;
  int64_t inner_;
  torch::nn::Linear in_proj_{nullptr}, v_proj_{nullptr}, sigma_proj_{nullptr}, k_proj_{nullptr}, q_proj_{nullptr},
      out_proj_{nullptr};
  torch::nn::Conv1d conv_{nullptr};
  at::Tensor a_raw_, p_, delta_raw_, skip_;  // a = softplus(a_raw), Δ = softplus(delta_raw): [E, S]
};

class GlaMixerImpl : public MixerImpl {
 public:
  /// heads must divide d_model.
  explicit GlaMixerImpl(const MixerOptions& options);
  at::Tensor forward(const at::Tensor& x) override;

 private:
  MixerOptions options_;
  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, gate_proj_{nullptr}, out_gate_{nullptr},
      out_proj_{nullptr};
  torch::nn::GroupNorm norm_{nullptr};
};

class AttentionMixerImpl : public MixerImpl {
 public:
  /// heads must divide d_model, and d_model/heads must be even (rotary pairs).
  explicit AttentionMixerImpl(const MixerOptions& options);
  at::Tensor forward(const at::Tensor& x) override;

 private:
  MixerOptions options_;
  torch::nn::Linear qkv_{nullptr}, out_proj_{nullptr};
};

/// The mixer of options.kind.
std::shared_ptr<MixerImpl> make_mixer(const MixerOptions& options);

}  // namespace kalmanscan::kla::nn
