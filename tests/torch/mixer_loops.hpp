// The sequence mixers of mixers.hpp and the Tagger of model.hpp written as plain fp64 loops over a
// module's own weights, one token and one scalar at a time: the independent references the module
// tests compare the tensor code against. Only the KLA scan itself is delegated, to the fp64
// step-by-step reference of kla/reference.hpp (tested on its own in tests/kla). A sequence is
// processed on its own: L token vectors in, L token vectors out.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kalmanscan/kla/torch/mixers.hpp"
#include "kalmanscan/kla/torch/model.hpp"

namespace kalmanscan::kla::nn::testing {

using Vec = std::vector<double>;
using Sequence = std::vector<Vec>;  ///< one vector per token

/// A module's fp64 parameters, by their names in named_parameters() below a prefix.
class Weights {
 public:
  explicit Weights(const torch::nn::Module& module);
  /// The parameters of the sub-module `name` ("block0", then "mixer": "block0.mixer.…").
  Weights below(const std::string& name) const;
  /// The parameter `name` (after the prefix); throws naming it when it is missing.
  const at::Tensor& operator[](const std::string& name) const;

 private:
  Weights(torch::OrderedDict<std::string, at::Tensor> params, std::string prefix);
  torch::OrderedDict<std::string, at::Tensor> params_;
  std::string prefix_;
};

/// W u + b of the torch::nn::Linear `name`.
Vec linear(const Weights& w, const std::string& name, const Vec& u);

/// torch::nn::LayerNorm `name` over the whole vector: (u − mean)/√(var + 1e-5) ⊙ weight + bias,
/// with the biased variance.
Vec layer_norm(const Weights& w, const std::string& name, const Vec& u);

/// The KLA layer (or its near-linear ablation, o.kind == linear): u, z = in_proj(x); causal
/// depthwise conv over tokens t−3 … t + SiLU; v, Λv = 1/(softplus(σ̃) + 1e-4), and per head k, q
/// of unit length, from u; ā = max(e^{−aΔ}, 1e-20), p̄ = −p² expm1(−2aΔ)/(2a) (p̄_min for the
/// ablation) with a = softplus(a_raw), Δ = softplus(delta_raw); per head the fp64 reference scan
/// over its channels; out_proj((y + skip ⊙ v) ⊙ SiLU(z)).
Sequence kla_mixer_loop(const Weights& w, const MixerOptions& o, const Sequence& x);

/// Gated linear attention from its definition (Yang et al. 2024, eqs. 3–4), per head h with key
/// size d_k = state_size and value size d_v = d_model/heads:
///   q_t = W_q x_t / √d_k,  k_t = W_k x_t,  v_t = W_v x_t,  α_t = σ(W_α x_t)^{1/16} ∈ (0, 1),
///   S_t = diag(α_t) S_{t−1} + k_t v_tᵀ  (S_0 = 0, d_k × d_v),   o_t = S_tᵀ q_t,
/// then GroupNorm with one group per head (eps 1e-5), times SiLU(out_gate(x_t)), out_proj.
Sequence gla_mixer_loop(const Weights& w, const MixerOptions& o, const Sequence& x);

/// Causal softmax attention per head: q, k, v from the qkv projection, q and k rotated pairwise
/// (i, i + d/2) by the angle pos·10000^(−2i/d) (Su et al. 2021), w_ts = softmax_{s ≤ t}(q_t·k_s/√d),
/// o_t = Σ_s w_ts v_s, heads concatenated into out_proj.
Sequence attention_mixer_loop(const Weights& w, const MixerOptions& o, const Sequence& x);

/// The loop of o.kind.
Sequence mixer_loop(const Weights& w, const MixerOptions& o, const Sequence& x);

/// The loop of o.kind with the weights of `mixer`, on every sequence of an fp64 x [B, L, D].
at::Tensor mixer_loop(const torch::nn::Module& mixer, const MixerOptions& o, const at::Tensor& x);

/// The Tagger: embedding rows; per block x ← x + mixer(LayerNorm₁(x)), then per token
/// x ← x + fc2(GELU(fc1(LayerNorm₂(x)))) with the exact (erf) GELU; logits = head(LayerNorm(x)),
/// with tied embeddings E · LayerNorm(x) (E the embedding matrix, no bias).
Sequence tagger_loop(const Weights& w, const ModelOptions& o, const std::vector<int64_t>& tokens);

/// Sequences of equal length stacked into an fp64 tensor [B, L, D].
at::Tensor stack(const std::vector<Sequence>& sequences);

/// f applied to every sequence x[b] of an fp64 x [B, L, D]; the results stacked into [B, L, D'].
at::Tensor per_sequence(const at::Tensor& x, const std::function<Sequence(const Sequence&)>& f);

}  // namespace kalmanscan::kla::nn::testing
