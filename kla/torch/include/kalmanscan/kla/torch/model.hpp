// The token-tagging model of the training tasks: embedding, N pre-norm residual blocks
//   x ← x + mixer(LayerNorm(x)),   x ← x + MLP(LayerNorm(x))   (MLP: D → 4D, GELU, 4D → D)
// with the chosen mixer (mixers.hpp), a final LayerNorm and a linear head giving class logits at
// every position. With tied embeddings (classes = vocab, as in Zoology's MQAR models) the head is
// the embedding matrix itself, without a bias: logits = LayerNorm(x) · Eᵀ.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <string>
#include <vector>

#include "kalmanscan/kla/torch/mixers.hpp"

namespace kalmanscan::kla::nn {

struct ModelOptions {
  int64_t vocab = 2;    ///< input tokens 0 … vocab−1
  int64_t classes = 2;  ///< output classes per position
  int64_t blocks = 1;
  MixerOptions mixer;   ///< mixer.d_model is the model width
  bool tie_embeddings = false;  ///< head = embedding matrix (needs classes == vocab)
  /// One line naming everything that fixes the parameter shapes (checked when loading a checkpoint).
  std::string to_string() const;
};

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const MixerOptions& options);
  at::Tensor forward(const at::Tensor& x);
  MixerImpl& mixer() { return *mixer_; }
  /// LayerNorm(x): what the mixer sees of the block's input x.
  at::Tensor mixer_input(const at::Tensor& x) { return norm1_(x); }

 private:
  std::shared_ptr<MixerImpl> mixer_;
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(Block);

class TaggerImpl : public torch::nn::Module {
 public:
  explicit TaggerImpl(const ModelOptions& options);
  /// tokens [B, L] (int64) → logits [B, L, classes]; with `positions` [B, Q] (int64, each in
  /// 0 … L−1) only the logits there, [B, Q, classes] — the same values, the head computed at Q
  /// positions instead of L. Throws kla::Error for other ranks, dtypes or shapes.
  at::Tensor forward(const at::Tensor& tokens, const at::Tensor& positions = {});
  /// For every KLA (or near-linear) block, in order: (block index, its KlaTrace on these tokens).
  std::vector<std::pair<int64_t, KlaTrace>> kla_traces(const at::Tensor& tokens);
  const ModelOptions& options() const { return options_; }
  const std::vector<Block>& blocks() const { return blocks_; }

 private:
  ModelOptions options_;
  torch::nn::Embedding embed_{nullptr};
  std::vector<Block> blocks_;
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};  ///< null with tied embeddings
};
TORCH_MODULE(Tagger);

/// Whether AdamW's weight decay applies to the parameter of this name (as in named_parameters()):
/// the weight matrices of the linear, embedding and convolution layers (≥ 2-D "…weight"), not
/// biases, norm gains, the KLA skip, nor the KLA's per-(channel, slot) OU parameters a_raw,
/// delta_raw and p. Decaying p pulls p̄ → 0, i.e. the layer towards its near-linear ablation, and
/// decaying a_raw and delta_raw pulls a and Δ towards softplus(0) instead of towards their prior.
bool takes_weight_decay(const std::string& name, const at::Tensor& parameter);

}  // namespace kalmanscan::kla::nn
