// The KLA scan as a LibTorch operator (DESIGN.md §4; Shaj et al., "Kalman Linear Attention",
// arXiv 2602.10743): `kalmanscan::kla_scan`, registered with TORCH_LIBRARY(kalmanscan, …) by
// the shared library kalmanscan_torch, with a CPU kernel (kla::forward / kla::backward) and an
// autograd kernel. Loading the library registers it, so it is callable from C++ (kla_scan below)
// and from Python (torch.ops.load_library(path); torch.ops.kalmanscan.kla_scan(...)), see
// docs/TORCH.md.
//
// Per batch b, channel m, slot s, token t (φ_min = p̄_min = 1e-12, kla/tensors.hpp):
//   φ_t = max(Λv_t[m] k_t[s]², φ_min)     r_t = Λv_t[m] v_t[m] k_t[s]     D_t = ā² + max(p̄, p̄_min) λ_{t-1}
//   λ_t = ((1 + p̄φ_t) λ_{t-1} + ā²φ_t) / D_t     η_t = (ā / D_t) η_{t-1} + r_t
//   y_t[m] = Σ_s q_t[s] η_t / λ_t                y_var_t[m] = Σ_s q_t[s]² / λ_t
// with (λ₀, η₀) the carried state (the posterior before the first token; default 1, 0) and
// (λ_T, η_T) = (λ_L, η_L) the carry-out.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/util/Optional.h>

namespace kalmanscan::kla::nn {

/// The four outputs of the scan: y, y_var [B, L, M]; lam_T, eta_T [B, M, S].
struct ScanResult {
  at::Tensor y, y_var, lam_T, eta_T;
};

/// kalmanscan::kla_scan through the dispatcher (autograd included): gradients flow to every
/// input, exactly (kla::backward); the backward recomputes the states from the saved inputs and
/// never stores [B, L, M, S] tensors. Not twice differentiable (throws under create_graph).
///   v, lam_v (Λv ≥ 0) [B, L, M];  k, q [B, L, S];  a_bar (ā ∈ (0, 1]), p_bar (p̄ ≥ 0) [M, S];
///   lam0 (> 0), eta0 [B, M, S] or absent (λ₀ = 1, η₀ = 0).
/// All on one device. Arithmetic and outputs are fp64 if any input is fp64, else fp32 (fp16 and
/// bf16 inputs are upcast). Throws kla::Error naming the tensor for a wrong rank, shape, dtype
/// or device, or for a value outside its domain.
ScanResult kla_scan(const at::Tensor& v, const at::Tensor& lam_v, const at::Tensor& k, const at::Tensor& q,
                    const at::Tensor& a_bar, const at::Tensor& p_bar,
                    const c10::optional<at::Tensor>& lam0 = c10::nullopt,
                    const c10::optional<at::Tensor>& eta0 = c10::nullopt);

/// Whether kla_scan has a kernel for tensors on `device` (CPU always; CUDA when built with a
/// CUDA-enabled LibTorch and the KLA CUDA kernels).
bool kla_scan_has_kernel(const c10::Device& device);

/// The same recurrence written step by step with plain torch operations: runs on any device and
/// is differentiated by autograd, at the cost of O(B·L·M·S) saved activations and L sequential
/// steps. For devices without a kla_scan kernel, and as an independent check of the op. Same
/// arguments, floors, dtypes and results as kla_scan (it computes in the inputs' dtype).
ScanResult kla_scan_recurrent(const at::Tensor& v, const at::Tensor& lam_v, const at::Tensor& k, const at::Tensor& q,
                              const at::Tensor& a_bar, const at::Tensor& p_bar,
                              const c10::optional<at::Tensor>& lam0 = c10::nullopt,
                              const c10::optional<at::Tensor>& eta0 = c10::nullopt);

}  // namespace kalmanscan::kla::nn
