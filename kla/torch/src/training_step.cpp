#include "training_step.hpp"

#include "host_copy.hpp"
#include "kalmanscan/kla/error.hpp"
#include "kalmanscan/kla/torch/trainer.hpp"

namespace kalmanscan::kla::nn {

namespace {

at::Tensor host_view(const std::vector<std::int64_t>& v, const Batch& b) {
  return torch::from_blob(const_cast<std::int64_t*>(v.data()), {b.B, b.L}, torch::kLong);
}

}  // namespace

Tensors to_tensors(const Batch& b, const torch::Device& device) {
  return {detail::copy_to_device(host_view(b.tokens, b), device), detail::copy_to_device(host_view(b.targets, b), device)};
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

at::Tensor TrainingStep::device_step(const at::Tensor& tokens, const at::Tensor& targets, bool advance_optimizer) {
  const at::Tensor logits = model_->forward(tokens);
  const at::Tensor loss = token_loss(logits, targets);
  clear_grads(trainable_);
  loss.backward();
  if (grad_clip_ > 0) clip_grad_norm_without_sync(trainable_, grad_clip_);
  optimizer_.collect();
  if (advance_optimizer) optimizer_.advance();
  optimizer_.update();
  window_accuracy_.add(logits.detach(), targets);
  return loss.detach();
}

at::Tensor TrainingStep::run(const Batch& batch) {
  if (!graph_) {
    const Tensors b = to_tensors(batch, device_);
    return device_step(b.tokens, b.targets, /*advance_optimizer=*/true);
  }
  // Graph path: the batch goes into the same two tensors every step.
  if (!static_batch_.tokens.defined()) {
    const auto o = torch::TensorOptions(torch::kLong).device(device_);
    static_batch_ = {torch::empty({batch.B, batch.L}, o), torch::empty({batch.B, batch.L}, o)};
  }
  if (static_batch_.tokens.size(0) != batch.B || static_batch_.tokens.size(1) != batch.L)
    throw Error("train: a CUDA-graph step needs batches of one shape: [" + std::to_string(static_batch_.tokens.size(0)) +
                ", " + std::to_string(static_batch_.tokens.size(1)) + "], got [" + std::to_string(batch.B) + ", " +
                std::to_string(batch.L) + "]");
  detail::copy_from_host(host_view(batch.tokens, batch), static_batch_.tokens);
  detail::copy_from_host(host_view(batch.targets, batch), static_batch_.targets);
  if (!graph_->captured() && eager_steps_ >= graph_warmup_steps && fallback_reason_.empty()) {
    try {
      graph_->capture([&] { static_loss_ = device_step(static_batch_.tokens, static_batch_.targets, false); });
    } catch (const TrainError& e) {
      // Nothing of the captured step ran (no step count advanced, no state changed), so this step
      // and the rest can run eagerly: the next device_step drops the capture's gradients.
      if (!fall_back_to_eager_) throw;
      fallback_reason_ = e.what();
    }
  }
  if (!graph_->captured()) {
    ++eager_steps_;
    return device_step(static_batch_.tokens, static_batch_.targets, /*advance_optimizer=*/true);
  }
  optimizer_.advance();
  graph_->replay();
  ++replays_;
  return static_loss_.clone();  // the next replay overwrites static_loss_
}

}  // namespace kalmanscan::kla::nn
