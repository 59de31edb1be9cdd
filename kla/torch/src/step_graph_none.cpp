// StepGraph (step_graph.hpp) in a build without a CUDA LibTorch and the KLA CUDA kernels.
#include "kalmanscan/kla/torch/step_graph.hpp"

#include "kalmanscan/kla/error.hpp"

namespace kalmanscan::kla::nn {

struct StepGraph::Impl {};

bool StepGraph::available() { return false; }

StepGraph::StepGraph(const c10::Device&) {
  throw Error("train: this kalmanscan_torch was built without CUDA (no CUDA LibTorch or no nvcc): no CUDA graphs; "
              "use --cuda-graph off");
}

StepGraph::~StepGraph() = default;

void StepGraph::capture(const std::function<void()>&) {}

bool StepGraph::captured() const { return false; }

void StepGraph::replay() {}

}  // namespace kalmanscan::kla::nn
