#include "token_metrics.hpp"

#include <torch/torch.h>

#include "kalmanscan/kla/torch/tasks.hpp"

namespace kalmanscan::kla::nn {

namespace F = torch::nn::functional;

at::Tensor token_loss(const at::Tensor& logits, const at::Tensor& targets) {
  return F::cross_entropy(logits.reshape({-1, logits.size(-1)}).to(at::kFloat), targets.reshape({-1}),
                          F::CrossEntropyFuncOptions().ignore_index(ignore));
}

void Accuracy::add(const at::Tensor& logits, const at::Tensor& targets) {
  const at::Tensor asked_mask = targets != ignore;
  const at::Tensor right = (logits.argmax(-1) == targets) & asked_mask;
  // The sequence count is a device constant too: a replayed graph adds it without the host.
  const at::Tensor counts = at::stack({right.sum(), asked_mask.sum(), (right == asked_mask).all(1).sum(),
                                       at::scalar_tensor(targets.size(0), targets.options())});
  if (counts_.defined())
    counts_.add_(counts);
  else
    counts_ = counts;
}

Accuracy::Values Accuracy::read() const {
  if (!counts_.defined()) return {};
  const at::Tensor c = counts_.to(torch::kCPU, torch::kDouble);
  const double correct = c[0].item<double>(), asked = c[1].item<double>(), sequences_correct = c[2].item<double>(),
               sequences = c[3].item<double>();
  return {asked > 0 ? correct / asked : 0.0, sequences > 0 ? sequences_correct / sequences : 0.0};
}

void Accuracy::reset() {
  if (counts_.defined()) counts_.zero_();
}

}  // namespace kalmanscan::kla::nn
