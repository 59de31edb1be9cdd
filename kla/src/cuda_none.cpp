// Built instead of the CUDA library when CUDA is off: every GPU entry point says so.
#include "kalmanscan/kla/cuda.hpp"

namespace kalmanscan::kla::cuda {

namespace {
scan::Status unsupported() { return {1, "kla cuda: kalmanscan was built without CUDA"}; }
}  // namespace

std::size_t saved_states_bytes(const Shape&, Kernels, int) { return 0; }
scan::Status forward(const Inputs<float>&, const Outputs<float>&, void*, Kernels, const SavedStates&) {
  return unsupported();
}
std::size_t backward_scratch_bytes(const Shape&, Kernels, bool, int) { return 0; }
scan::Status backward(const Inputs<float>&, const Cotangents<float>&, const Gradients<float>&, void*, std::size_t,
                      void*, Kernels, const SavedStates&) {
  return unsupported();
}
scan::Status forward_host(const Inputs<float>&, const Outputs<float>&, Kernels) { return unsupported(); }
scan::Status backward_host(const Inputs<float>&, const Cotangents<float>&, const Gradients<float>&, Kernels) {
  return unsupported();
}
scan::Status forward_backward_host(const Inputs<float>&, const Outputs<float>&, const Cotangents<float>&,
                                   const Gradients<float>&, Kernels, int) {
  return unsupported();
}

}  // namespace kalmanscan::kla::cuda
