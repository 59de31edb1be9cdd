// One optimizer step of the trainer — forward, loss, backward, gradient clipping, AdamW with the
// learning rate of the group options — run eagerly or, on a GPU, captured once in a CUDA graph
// (step_graph.hpp) and replayed. Both run the same device_step(); the graph only wraps it.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kalmanscan/kla/torch/model.hpp"
#include "kalmanscan/kla/torch/multi_tensor_step.hpp"
#include "kalmanscan/kla/torch/tasks.hpp"
#include "kalmanscan/kla/torch/step_graph.hpp"
#include "token_metrics.hpp"

namespace kalmanscan::kla::nn {

/// A batch on the device. Where the batch asks at chosen positions (Batch::asked), `positions` holds
/// them [B, Q] and `targets` only their targets [B, Q]; otherwise `positions` is undefined and
/// `targets` is [B, L].
struct Tensors {
  at::Tensor tokens, targets, positions;
};

/// The batch on `device` (for CUDA copied asynchronously through page-locked memory).
Tensors to_tensors(const Batch& b, const torch::Device& device);

class TrainingStep {
 public:
  /// Eager steps a graph is captured after: they create the optimizer state and the cuBLAS/cuDNN
  /// handles and workspaces of the graph's stream, which a capture must not create.
  static constexpr std::int64_t graph_warmup_steps = 3;

  enum class GraphUse {
    off,             ///< every step eager
    required,        ///< a failed capture throws its TrainError (step_graph.hpp)
    where_possible,  ///< a failed capture is recorded (graph_fallback()) and the run goes on eagerly
  };

  /// `trainable`: the optimizer's parameters; grad_clip 0 = no clipping. Unless graph_use is off,
  /// the steps after the first graph_warmup_steps replay a CUDA graph (device must be CUDA, and
  /// StepGraph::available()); the current stream is a side stream while this object lives.
  TrainingStep(Tagger& model, std::vector<at::Tensor> trainable, MultiTensorAdamW& optimizer, double grad_clip,
               const torch::Device& device, GraphUse graph_use);

  /// One step on `batch` (fixed B and L with cuda_graph). Returns the step's loss, a device
  /// scalar of its own (not overwritten by later steps); adds to window_accuracy().
  at::Tensor run(const Batch& batch);

  Accuracy& window_accuracy() { return window_accuracy_; }
  /// Steps run by replaying the graph.
  std::int64_t replays() const { return replays_; }
  /// Why the graph was given up (GraphUse::where_possible); empty if it was not.
  const std::string& graph_fallback() const { return fallback_reason_; }

 private:
  /// The device work of a step on (tokens, targets); `advance_optimizer`: upload this step's
  /// AdamW coefficients (host work: a replay is preceded by optimizer.advance() instead).
  at::Tensor device_step(const Tensors& batch, bool advance_optimizer);

  Tagger& model_;
  std::vector<at::Tensor> trainable_;
  MultiTensorAdamW& optimizer_;
  double grad_clip_;
  torch::Device device_;
  bool fall_back_to_eager_;
  std::string fallback_reason_;
  Accuracy window_accuracy_;
  std::unique_ptr<StepGraph> graph_;  // null: eager
  Tensors static_batch_;              // the graph's inputs, refilled before every step
  at::Tensor static_loss_;            // the graph's output
  std::int64_t eager_steps_ = 0, replays_ = 0;
};

}  // namespace kalmanscan::kla::nn
