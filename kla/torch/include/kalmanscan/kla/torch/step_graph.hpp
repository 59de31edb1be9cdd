// A training step captured once in a CUDA graph and replayed (issue 6: the models are tiny, so an
// eager step is bound by kernel launches and host work, not by the GPU). Compiled for real only
// with a CUDA LibTorch (step_graph_cuda.cpp, KALMANSCAN_TORCH_CUDA); elsewhere step_graph_none.cpp
// says the build has no CUDA graphs. No CUDA type appears here.
//
// Contract of the captured function: it reads its inputs from tensors that stay allocated (the
// caller copies each step's batch and scalars into them before replay()) and only launches work on
// the current stream — no host reads (.item(), nonzero, printing a tensor, a copy to pageable host
// memory), no cudaMalloc or synchronous cudaMemset, no new tensors that outlive it except its
// outputs. What it leaves in tensors (the loss, gradients, the optimizer's moments) lives at fixed
// addresses that every replay rewrites.
#pragma once

#include <c10/core/Device.h>

#include <functional>
#include <memory>

namespace kalmanscan::kla::nn {

class StepGraph {
 public:
  /// Whether this build can capture CUDA graphs.
  static bool available();

  /// Makes a side stream of `device` (a CUDA device) the current stream until destruction (a graph
  /// cannot be captured on the default stream; warm-up, capture and replays then share one
  /// stream). Synchronises the device on entry and exit, so work queued on the previous stream
  /// before and after is ordered with it. Throws kla::Error where !available().
  explicit StepGraph(const c10::Device& device);
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  /// Captures one call of `step` (which does not run: the graph is recorded, not executed). Call
  /// it after a few eager calls on this stream, which create what the step creates lazily (cuBLAS
  /// and cuDNN handles and workspaces, optimizer state). Throws TrainError (trainer.hpp) saying
  /// that something in the step synchronises with the host or allocates outside LibTorch's caching
  /// allocator when the capture fails, with CUDA's and LibTorch's message.
  void capture(const std::function<void()>& step);
  bool captured() const;
  /// Runs the captured work once more, on the current stream.
  void replay();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kalmanscan::kla::nn
