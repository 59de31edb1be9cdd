// The per-token loss and accuracy of the tagging tasks, computed on the logits' device: the
// training step (training_step.hpp) and the held-out evaluation share them.
#pragma once

#include <ATen/ATen.h>

namespace kalmanscan::kla::nn {

/// Mean cross-entropy over the asked positions (targets ≠ `ignore`), in fp32.
/// logits [B, L, classes], targets [B, L] int64.
at::Tensor token_loss(const at::Tensor& logits, const at::Tensor& targets);

/// Counts of correct tokens / asked tokens and fully correct sequences / sequences, summed on the
/// logits' device and read back to the host only when asked (once per log window or evaluation).
/// add() accumulates into one tensor in place, so a CUDA graph that captured add() keeps adding to
/// the tensor that read() reads and reset() zeroes.
class Accuracy {
 public:
  void add(const at::Tensor& logits, const at::Tensor& targets);
  struct Values {
    double token = 0, sequence = 0;
  };
  Values read() const;
  void reset();

 private:
  at::Tensor counts_;  // [correct tokens, asked tokens, correct sequences, sequences], int64
};

}  // namespace kalmanscan::kla::nn
