// The optimiser step of the trainer with few kernel launches and no host synchronisation.
// Models of the training tasks are small: on a GPU a training step is bound by kernel launches
// and host round trips, not arithmetic. LibTorch's C++ AdamW updates one parameter at a time (about
// 9 kernels per parameter tensor), its clip_grad_norm_ reads the norm back to the host (a device
// synchronisation every step) and Optimizer::zero_grad launches a kernel per gradient. The
// functions here do the same arithmetic on whole lists of tensors (ATen's _foreach_ operations:
// one launch per operation for all tensors on CUDA).
#pragma once

#include <torch/optim/adamw.h>

#include <vector>

namespace kalmanscan::kla::nn {

/// torch::optim::AdamW whose step() updates each parameter group with _foreach_ operations:
/// the same update (decoupled weight decay p ← p(1 − lr·wd), then the bias-corrected Adam step
/// p ← p − lr/(1 − β1ᵗ) · m / (√v/√(1 − β2ᵗ) + ε)) in the same order of operations, on the same
/// per-parameter state, so checkpoints (save/load) are interchangeable with torch::optim::AdamW.
/// amsgrad falls back to AdamW::step.
class MultiTensorAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

/// Scales the gradients of `parameters` by min(1, max_norm / (‖g‖₂ + 1e-6)), ‖g‖₂ the 2-norm of
/// all gradients together: torch::nn::utils::clip_grad_norm_ without reading the norm back to the
/// host. Parameters without a gradient are skipped.
void clip_grad_norm_without_sync(const std::vector<at::Tensor>& parameters, double max_norm);

/// Drops the gradients (undefined tensors) instead of zeroing them: the next backward pass writes
/// fresh gradients rather than adding to zeros, with no kernel launched here.
void clear_grads(const std::vector<at::Tensor>& parameters);

}  // namespace kalmanscan::kla::nn
