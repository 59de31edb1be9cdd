// CUDA kernels of kalmanscan::kla_scan on kla::cuda (kalmanscan/kla/cuda.hpp), compiled only with
// a CUDA-enabled LibTorch and the KLA CUDA kernels (KALMANSCAN_HAS_CUDA and KALMANSCAN_TORCH_CUDA).
// The kernels compute in fp32: fp32, bf16 and fp16 inputs are accepted (upcast), fp64 is refused.
// They run on LibTorch's current stream of the tensors' device; the backward's scratch and the
// states that kla_scan_saving keeps for it (cuda::SavedStates at the default spacing, a byte
// tensor) come from LibTorch's caching allocator.
#include "kalmanscan/config.hpp"

#if KALMANSCAN_HAS_CUDA && defined(KALMANSCAN_TORCH_CUDA)

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "kalmanscan/kla/cuda.hpp"
#include "op_inputs.hpp"

namespace kalmanscan::kla::nn {

namespace {

using namespace detail;

Prepared prepare_fp32(const Tensor& v, const Tensor& lam_v, const Tensor& k, const Tensor& q, const Tensor& a_bar,
                      const Tensor& p_bar, const optional<Tensor>& lam0, const optional<Tensor>& eta0) {
  if (check(v, lam_v, k, q, a_bar, p_bar, lam0, eta0).dtype == at::kDouble)
    throw Error("kla_scan: the CUDA kernels compute in fp32; pass float32, bfloat16 or float16 tensors, not float64");
  if (k.size(2) > int64_t(cuda::max_slots))
    throw Error("kla_scan: k has S = " + std::to_string(k.size(2)) + " slots; the CUDA kernels support at most " +
                std::to_string(cuda::max_slots));
  return prepare(v, lam_v, k, q, a_bar, p_bar, lam0, eta0);
}

// The forward, keeping the states for the backward when `saving` (else `saved` stays empty).
Tensor5 forward_cuda_with(bool saving, const Tensor& v, const Tensor& lam_v, const Tensor& k, const Tensor& q,
                          const Tensor& a_bar, const Tensor& p_bar, const optional<Tensor>& lam0,
                          const optional<Tensor>& eta0) {
  const c10::cuda::CUDAGuard guard(v.device());
  const Prepared p = prepare_fp32(v, lam_v, k, q, a_bar, p_bar, lam0, eta0);
  auto [y, y_var, lam_T, eta_T] = empty_outputs(p);
  const Tensor saved =
      at::empty({saving ? int64_t(cuda::saved_states_bytes(p.shape)) : 0}, p.v.options().dtype(at::kByte));
  cuda::forward(inputs_of<float>(p),
                Outputs<float>{mspan<float>(y), mspan<float>(y_var), mspan<float>(lam_T), mspan<float>(eta_T)},
                at::cuda::getCurrentCUDAStream().stream(), cuda::Kernels::automatic,
                cuda::SavedStates{saved.numel() ? saved.data_ptr() : nullptr, std::size_t(saved.numel())})
      .throw_if_error();
  return {y, y_var, lam_T, eta_T, saved};
}

Tensor4 forward_cuda(const Tensor& v, const Tensor& lam_v, const Tensor& k, const Tensor& q, const Tensor& a_bar,
                     const Tensor& p_bar, const optional<Tensor>& lam0, const optional<Tensor>& eta0) {
  auto [y, y_var, lam_T, eta_T, saved] = forward_cuda_with(false, v, lam_v, k, q, a_bar, p_bar, lam0, eta0);
  return {y, y_var, lam_T, eta_T};
}

Tensor5 forward_saving_cuda(const Tensor& v, const Tensor& lam_v, const Tensor& k, const Tensor& q,
                            const Tensor& a_bar, const Tensor& p_bar, const optional<Tensor>& lam0,
                            const optional<Tensor>& eta0) {
  return forward_cuda_with(true, v, lam_v, k, q, a_bar, p_bar, lam0, eta0);
}

Tensor8 backward_cuda(const Tensor& v, const Tensor& lam_v, const Tensor& k, const Tensor& q, const Tensor& a_bar,
                      const Tensor& p_bar, const optional<Tensor>& lam0, const optional<Tensor>& eta0,
                      const optional<Tensor>& grad_y, const optional<Tensor>& grad_y_var,
                      const optional<Tensor>& grad_lam_T, const optional<Tensor>& grad_eta_T,
                      const optional<Tensor>& saved) {
  const c10::cuda::CUDAGuard guard(v.device());
  const Prepared p = prepare_fp32(v, lam_v, k, q, a_bar, p_bar, lam0, eta0);
  const Cotangents4 c = prepare_cotangents(p, grad_y, grad_y_var, grad_lam_T, grad_eta_T);
  auto [dv, dlv, dk, dq, da, dp, dl0, de0] = empty_gradients(p);
  // kla_scan_saving's states (the same kernels and default spacing), when it kept any.
  const bool has_saved = saved && saved->defined() && saved->numel() > 0;
  const cuda::SavedStates states{has_saved ? saved->data_ptr() : nullptr,
                                 has_saved ? std::size_t(saved->numel()) : 0};
  const std::size_t bytes = cuda::backward_scratch_bytes(p.shape, cuda::Kernels::automatic, has_saved);
  const Tensor scratch = at::empty({int64_t(bytes)}, p.v.options().dtype(at::kByte));
  cuda::backward(inputs_of<float>(p),
                 Cotangents<float>{cspan<float>(c.y), cspan<float>(c.y_var), cspan<float>(c.lam_T),
                                   cspan<float>(c.eta_T)},
                 Gradients<float>{mspan<float>(dv), mspan<float>(dlv), mspan<float>(dk), mspan<float>(dq),
                                  mspan<float>(da), mspan<float>(dp), mspan<float>(dl0), mspan<float>(de0)},
                 bytes ? scratch.data_ptr() : nullptr, bytes, at::cuda::getCurrentCUDAStream().stream(),
                 cuda::Kernels::automatic, states)
      .throw_if_error();
  return {dv, dlv, dk, dq, da, dp, dl0, de0};
}

}  // namespace

TORCH_LIBRARY_IMPL(kalmanscan, CUDA, m) {
  m.impl("kla_scan", &forward_cuda);
  m.impl("kla_scan_saving", &forward_saving_cuda);
  m.impl("kla_scan_backward", &backward_cuda);
}

}  // namespace kalmanscan::kla::nn

#endif
