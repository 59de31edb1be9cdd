#include "training_step.hpp"

#include "host_copy.hpp"
#include "kalmanscan/kla/error.hpp"
#include "kalmanscan/kla/torch/trainer.hpp"
#include "op_inputs.hpp"

namespace kalmanscan::kla::nn {

namespace {

at::Tensor host_view(const std::vector<std::int64_t>& v, std::int64_t rows, std::int64_t cols) {
  return torch::from_blob(const_cast<std::int64_t*>(v.data()), {rows, cols}, torch::kLong);
}

/// The host tensors of a batch: tokens [B, L], and targets [B, L] or, with asked positions,
/// positions [B, Q] and their targets [B, Q].
Tensors host_tensors(const Batch& b) {
  const at::Tensor tokens = host_view(b.tokens, b.B, b.L), targets = host_view(b.targets, b.B, b.L);
  if (b.asked.empty()) return {tokens, targets, {}};
  const at::Tensor positions = host_view(b.asked, b.B, b.asked_per_sequence());
  return {tokens, targets.gather(1, positions), positions};
}

}  // namespace

Tensors to_tensors(const Batch& b, const torch::Device& device) {
  const Tensors host = host_tensors(b);
  auto to_device = [&](const at::Tensor& t) { return t.defined() ? detail::copy_to_device(t, device) : t; };
  return {to_device(host.tokens), to_device(host.targets), to_device(host.positions)};
}

TrainingStep::TrainingStep(Tagger& model, std::vector<at::Tensor> trainable, MultiTensorAdamW& optimizer,
                           double grad_clip, const torch::Device& device, GraphUse graph_use)
    : model_(model),
      trainable_(std::move(trainable)),
      optimizer_(optimizer),
      grad_clip_(grad_clip),
      device_(device),
      fall_back_to_eager_(graph_use == GraphUse::where_possible) {
  if (graph_use != GraphUse::off) graph_ = std::make_unique<StepGraph>(device);
}

at::Tensor TrainingStep::device_step(const Tensors& batch, bool advance_optimizer) {
  const at::Tensor logits = model_->forward(batch.tokens, batch.positions);
  const at::Tensor loss = token_loss(logits, batch.targets);
  clear_grads(trainable_);
  loss.backward();
  if (grad_clip_ > 0) clip_grad_norm_without_sync(trainable_, grad_clip_);
  optimizer_.collect();
  if (advance_optimizer) optimizer_.advance();
  optimizer_.update();
  window_accuracy_.add(logits.detach(), batch.targets);
  return loss.detach();
}

at::Tensor TrainingStep::run(const Batch& batch) {
  if (!graph_) return device_step(to_tensors(batch, device_), /*advance_optimizer=*/true);
  // Graph path: the batch goes into the same tensors every step.
  const Tensors host = host_tensors(batch);
  if (!static_batch_.tokens.defined()) {
    auto like = [&](const at::Tensor& t) {
      return t.defined() ? torch::empty(t.sizes(), t.options().device(device_)) : t;
    };
    static_batch_ = {like(host.tokens), like(host.targets), like(host.positions)};
  }
  if (!static_batch_.tokens.sizes().equals(host.tokens.sizes()) ||
      !static_batch_.targets.sizes().equals(host.targets.sizes()))
    throw Error("train: a CUDA-graph step needs batches of one shape: tokens " +
                detail::sizes_string(static_batch_.tokens) + " and targets " + detail::sizes_string(static_batch_.targets) +
                ", got " + detail::sizes_string(host.tokens) + " and " + detail::sizes_string(host.targets));
  detail::copy_from_host(host.tokens, static_batch_.tokens);
  detail::copy_from_host(host.targets, static_batch_.targets);
  if (host.positions.defined()) detail::copy_from_host(host.positions, static_batch_.positions);
  if (!graph_->captured() && eager_steps_ >= graph_warmup_steps && fallback_reason_.empty()) {
    try {
      graph_->capture([&] { static_loss_ = device_step(static_batch_, false); });
    } catch (const TrainError& e) {
      // Nothing of the captured step ran (no step count advanced, no state changed), so this step
      // and the rest can run eagerly: the next device_step drops the capture's gradients.
      if (!fall_back_to_eager_) throw;
      fallback_reason_ = e.what();
    }
  }
  if (!graph_->captured()) {
    ++eager_steps_;
    return device_step(static_batch_, /*advance_optimizer=*/true);
  }
  optimizer_.advance();
  graph_->replay();
  ++replays_;
  return static_loss_.clone();  // the next replay overwrites static_loss_
}

}  // namespace kalmanscan::kla::nn
