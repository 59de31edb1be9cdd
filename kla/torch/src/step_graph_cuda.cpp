// StepGraph (step_graph.hpp) on LibTorch's at::cuda::CUDAGraph: the capture records every kernel
// and copy the step queues on the side stream (the autograd engine's backward thread included: it
// runs the backward on the stream of the forward), and LibTorch's caching allocator serves the
// step's allocations from the graph's private memory pool, so replays find every intermediate
// tensor at the address the capture saw.
#include "kalmanscan/config.hpp"

#if KALMANSCAN_HAS_CUDA && defined(KALMANSCAN_TORCH_CUDA)

#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime.h>

#include <exception>
#include <string>

#include "kalmanscan/kla/error.hpp"
#include "kalmanscan/kla/torch/trainer.hpp"
#include "kalmanscan/kla/torch/step_graph.hpp"

namespace kalmanscan::kla::nn {

struct StepGraph::Impl {
  explicit Impl(c10::cuda::CUDAStream s) : stream(s), guard(s) {}
  c10::cuda::CUDAStream stream;
  c10::cuda::CUDAStreamGuard guard;  // the side stream is current while this lives
  decltype(at::cuda::graph_pool_handle()) pool = at::cuda::graph_pool_handle();
  at::cuda::CUDAGraph graph;
  bool captured = false;
};

namespace {

std::string reason(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) return c10_error->what_without_backtrace();
  return e.what();
}

TrainError capture_failed(const std::string& why) {
  return TrainError(
      "train: capturing the training step in a CUDA graph failed: something in the step synchronises with the host "
      "(.item(), nonzero, printing or copying a tensor to pageable host memory) or allocates outside LibTorch's "
      "caching allocator (cudaMalloc, a synchronous cudaMemset); run with --cuda-graph off, or remove it from the "
      "step. CUDA/LibTorch said: " +
      why);
}

/// LibTorch's capture_begin puts the CUDA random-number generator into capture mode, and only a
/// capture_end whose cudaStreamEndCapture succeeds takes it out (a failed one throws first); left
/// so, every later random draw on the device fails ("Offset increment outside graph capture", seen
/// on the H200). An empty capture on the now idle stream runs that epilogue.
void leave_generator_capture_mode() {
  at::cuda::CUDAGraph empty;
  empty.capture_begin();
  empty.capture_end();
}

}  // namespace

bool StepGraph::available() { return true; }

StepGraph::StepGraph(const c10::Device& device) {
  if (!device.is_cuda()) throw Error("train: a CUDA graph needs a CUDA device, not " + device.str());
  const c10::DeviceIndex index = device.has_index() ? device.index() : c10::cuda::current_device();
  c10::cuda::device_synchronize();  // what the previous stream queued (model, checkpoint) is done
  impl_ = std::make_unique<Impl>(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, index));
}

StepGraph::~StepGraph() {
  try {
    c10::cuda::device_synchronize();  // the previous stream, current again, sees the side stream's results
  } catch (...) {
    // A destructor must not throw; a CUDA error here has been reported by the call that caused it.
  }
}

void StepGraph::capture(const std::function<void()>& step) {
  if (impl_->captured) throw Error("StepGraph: the step is already captured");
  c10::cuda::device_synchronize();  // as torch.cuda.graph does: nothing of the warm-up is in flight
  impl_->graph.capture_begin(impl_->pool);
  try {
    step();
  } catch (const std::exception& e) {
    // End the (possibly invalidated) capture by hand so the stream and the allocator are usable
    // again, then report why.
    cudaGraph_t partial = nullptr;
    cudaStreamEndCapture(impl_->stream.stream(), &partial);
    if (partial) cudaGraphDestroy(partial);
    cudaGetLastError();
    try {
      c10::cuda::CUDACachingAllocator::endAllocateToPool(impl_->stream.device_index(), impl_->pool);
    } catch (...) {
      // The allocator no longer routes this stream to the pool once the capture has ended.
    }
    leave_generator_capture_mode();
    throw capture_failed(reason(e));
  }
  try {
    impl_->graph.capture_end();
  } catch (const std::exception& e) {
    throw capture_failed(reason(e));
  }
  impl_->captured = true;
}

bool StepGraph::captured() const { return impl_->captured; }

void StepGraph::replay() {
  if (!impl_->captured) throw Error("StepGraph: replay() before capture()");
  impl_->graph.replay();
}

}  // namespace kalmanscan::kla::nn

#endif
