// Checkpoints of a training run: the model's parameters and buffers, the optimizer state, the next
// step and the model description (ModelOptions::to_string), in LibTorch's archive format. Loading
// refuses a checkpoint of another model shape, naming both.
#pragma once

#include <torch/optim/optimizer.h>

#include <cstdint>
#include <string>

#include "kalmanscan/kla/torch/model.hpp"
#include "kalmanscan/kla/torch/trainer.hpp"

namespace kalmanscan::kla::nn {

/// The model a run of configuration `c` trains (trainer.hpp), as load_checkpoint needs it to read
/// the run's checkpoints. Throws kla::Error for an unknown task or mixer.
ModelOptions model_options(const TrainConfig& c);

/// Writes `path` (through a temporary file and a rename, so a crash leaves the old checkpoint).
void save_checkpoint(const std::string& path, Tagger& model, torch::optim::Optimizer* optimizer, std::int64_t step);

/// Reads `path` into model (and optimizer, when given); returns the saved step. Throws TrainError
/// when the file cannot be read or holds another model.
std::int64_t load_checkpoint(const std::string& path, Tagger& model, torch::optim::Optimizer* optimizer);

}  // namespace kalmanscan::kla::nn
