// Host → device copies that do not wait for the device: for a CUDA target through a page-locked
// staging tensor and an asynchronous copy on the current stream (a copy from pageable memory would
// wait for every kernel queued before it: a device synchronisation per call). LibTorch's caching
// host allocator keeps the staging block until the copy has run, so `host` may change right after.
#pragma once

#include <ATen/ATen.h>

namespace kalmanscan::kla::nn::detail {

/// into ← host (same shape and dtype; `into` on any device, its storage kept).
inline void copy_from_host(const at::Tensor& host, at::Tensor& into) {
  if (!into.is_cuda()) {
    into.copy_(host);
    return;
  }
  at::Tensor pinned = at::empty(host.sizes(), host.options().pinned_memory(true));
  pinned.copy_(host);
  into.copy_(pinned, /*non_blocking=*/true);
}

/// A new tensor on `device` holding `host`.
inline at::Tensor copy_to_device(const at::Tensor& host, const at::Device& device) {
  at::Tensor out = at::empty(host.sizes(), host.options().device(device));
  copy_from_host(host, out);
  return out;
}

}  // namespace kalmanscan::kla::nn::detail
