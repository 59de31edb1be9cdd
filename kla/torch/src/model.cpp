#include "kalmanscan/kla/torch/model.hpp"

#include <torch/torch.h>

#include "kalmanscan/kla/error.hpp"

namespace kalmanscan::kla::nn {

namespace F = torch::nn::functional;

std::string ModelOptions::to_string() const {
  return "vocab=" + std::to_string(vocab) + " classes=" + std::to_string(classes) + " blocks=" +
         std::to_string(blocks) + " mixer=" + mixer_name(mixer.kind) + " d_model=" + std::to_string(mixer.d_model) +
         " heads=" + std::to_string(mixer.heads) + " state_size=" + std::to_string(mixer.state_size) +
         " expand=" + std::to_string(mixer.expand) + (tie_embeddings ? " tied" : "");
}

BlockImpl::BlockImpl(const MixerOptions& options) {
  const int64_t D = options.d_model;
  mixer_ = register_module("mixer", make_mixer(options));
  norm1_ = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({D})));
  norm2_ = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({D})));
  fc1_ = register_module("fc1", torch::nn::Linear(D, 4 * D));
  fc2_ = register_module("fc2", torch::nn::Linear(4 * D, D));
}

at::Tensor BlockImpl::forward(const at::Tensor& x) {
  const at::Tensor h = x + mixer_->forward(norm1_(x));
  return h + fc2_(F::gelu(fc1_(norm2_(h))));
}

TaggerImpl::TaggerImpl(const ModelOptions& options) : options_(options) {
  if (options.vocab <= 0 || options.classes <= 0 || options.blocks < 0 || options.mixer.d_model <= 0)
    throw Error("Tagger: vocab, classes and d_model must be positive and blocks ≥ 0 (" + options.to_string() + ")");
  if (options.tie_embeddings && options.classes != options.vocab)
    throw Error("Tagger: tied embeddings need classes = vocab, got " + std::to_string(options.classes) +
                " classes and " + std::to_string(options.vocab) + " tokens");
  const int64_t D = options.mixer.d_model;
  embed_ = register_module("embed", torch::nn::Embedding(options.vocab, D));
  // Tied: N(0, 0.02²) as Zoology's (GPT-2's) embeddings, so the first logits LayerNorm(x)·Eᵀ are
  // small (std 0.02·√D) instead of √D with torch's N(0, 1), whose first loss is ~5× ln(vocab).
  if (options.tie_embeddings) {
    torch::NoGradGuard no_grad;
    embed_->weight.normal_(0.0, 0.02);
  }
  for (int64_t i = 0; i < options.blocks; ++i)
    blocks_.push_back(register_module("block" + std::to_string(i), Block(options.mixer)));
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({D})));
  if (!options.tie_embeddings) head_ = register_module("head", torch::nn::Linear(D, options.classes));
}

at::Tensor TaggerImpl::forward(const at::Tensor& tokens, const at::Tensor& positions) {
  if (tokens.dim() != 2 || tokens.scalar_type() != at::kLong)
    throw Error("Tagger: tokens must be an int64 tensor [B, L]");
  if (positions.defined() &&
      (positions.dim() != 2 || positions.scalar_type() != at::kLong || positions.size(0) != tokens.size(0)))
    throw Error("Tagger: positions must be an int64 tensor [B, Q] with B = " + std::to_string(tokens.size(0)) +
                " (the tokens' batch)");
  at::Tensor x = embed_(tokens);
  for (auto& b : blocks_) x = b->forward(x);
  if (positions.defined()) x = x.gather(1, positions.unsqueeze(-1).expand({-1, -1, x.size(-1)}));
  return options_.tie_embeddings ? F::linear(norm_(x), embed_->weight) : head_(norm_(x));
}

std::vector<std::pair<int64_t, KlaTrace>> TaggerImpl::kla_traces(const at::Tensor& tokens) {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<int64_t, KlaTrace>> out;
  at::Tensor x = embed_(tokens);
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    if (auto* kla = dynamic_cast<KlaMixerImpl*>(&blocks_[i]->mixer()))
      out.emplace_back(int64_t(i), kla->trace(blocks_[i]->mixer_input(x)));
    x = blocks_[i]->forward(x);
  }
  return out;
}

bool takes_weight_decay(const std::string& name, const at::Tensor& parameter) {
  const std::string suffix = "weight";
  const bool is_weight = name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  return is_weight && parameter.dim() >= 2;
}

}  // namespace kalmanscan::kla::nn
