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
/// p ← p − lr/(1 − β1ᵗ) · m / (√v/√(1 − β2ᵗ) + ε)) on the same per-parameter state, so
/// checkpoints (save/load) are interchangeable with torch::optim::AdamW. amsgrad falls back to
/// AdamW::step.
///
/// step() = collect(), advance(), update(). The split exists for a step captured in a CUDA graph
/// (step_graph.hpp): what changes from step to step — the learning rate and the step count t of the
/// bias corrections — reaches the arithmetic only through small device tensors ("coefficients")
/// that advance() refills on the host side, so update() launches kernels and reads nothing from
/// the host, and a graph that captured collect() and update() once replays them after each
/// advance().
class MultiTensorAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;

  /// Host only, after the backward pass: the parameters that have a gradient, in lists of one
  /// group, step count and dtype (the lists update() works on); creates the state (zero moments,
  /// step 0) of parameters that have none (which must not happen while a graph is captured: the
  /// zeroing would be captured too). Keeps each list's coefficient tensor when the lists are
  /// unchanged, so a captured update() keeps reading the tensors advance() fills. load() replaces
  /// the state: collect() again before the next advance().
  void collect();
  /// Host side of one step for the collected lists: step count t ← t + 1 of each parameter, and
  /// the list's coefficients (1 − lr·wd, 1/√(1 − β2ᵗ), −lr/(1 − β1ᵗ)), with lr from the group's
  /// options now, copied into its device tensor (asynchronously, through page-locked memory).
  void advance();
  /// Device side: the AdamW update of the collected lists with the coefficients of the last
  /// advance(). Launches kernels only (no host reads): safe to capture in a CUDA graph.
  void update();

 private:
  struct List {
    std::size_t group = 0;
    std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs;
    std::vector<torch::optim::AdamWParamState*> states;
    at::Tensor coefficients;  // [3] on the parameters' device and in their dtype
  };
  std::vector<List> lists_;
};

/// Scales the gradients of `parameters` by min(1, max_norm / (‖g‖₂ + 1e-6)), ‖g‖₂ the 2-norm of
/// all gradients together: torch::nn::utils::clip_grad_norm_ without reading the norm back to the
/// host. Parameters without a gradient are skipped.
void clip_grad_norm_without_sync(const std::vector<at::Tensor>& parameters, double max_norm);

/// Drops the gradients (undefined tensors) instead of zeroing them: the next backward pass writes
/// fresh gradients rather than adding to zeros, with no kernel launched here.
void clear_grads(const std::vector<at::Tensor>& parameters);

/// tensors[i] ← tensors[i] · factor for every i, `factor` a 0-dimensional tensor on the tensors'
/// device and of their dtype, never read by the host (one launch with LibTorch ≥ 2; a loop on
/// LibTorch 1.13, which has no _foreach_ overload for a tensor factor).
void foreach_mul_by_tensor_(const std::vector<at::Tensor>& tensors, const at::Tensor& factor);

}  // namespace kalmanscan::kla::nn
