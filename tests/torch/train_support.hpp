// What the trainer's tests share (train_test.cpp, train_graph_test.cpp): a fresh scratch directory
// per test and a tiny run configuration.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "kalmanscan/kla/torch/trainer.hpp"

namespace kalmanscan::kla::nn::testing {

/// An empty directory of this name under the process's own temporary directory.
inline std::filesystem::path scratch(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("kalmanscan_torch_tests_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

/// One block, d_model 32, 8 slots, length 8, batch 32, 20 steps (warmup 5) at lr 3e-3, evaluated
/// every 10 steps on 64 sequences, logged every 5; one CPU thread, no progress line.
inline TrainConfig tiny(const std::string& task, const std::string& mixer) {
  TrainConfig c;
  c.task = task;
  c.mixer = mixer;
  c.blocks = 1;
  c.d_model = 32;
  c.state_size = 8;
  c.seq_len = 8;
  c.batch = 32;
  c.steps = 20;
  c.lr = 3e-3;
  c.warmup = 5;
  c.eval_every = 10;
  c.eval_sequences = 64;
  c.log_every = 5;
  c.threads = 1;
  c.progress = false;
  return c;
}

}  // namespace kalmanscan::kla::nn::testing
