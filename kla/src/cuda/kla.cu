// Launch code and host wrappers of the KLA CUDA kernels (kalmanscan/kla/cuda.hpp).
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "kalmanscan/kla/cuda.hpp"
#include "kalmanscan/scan/gpu.hpp"
#include "split.cuh"
#include "wide.cuh"

namespace kalmanscan::kla::cuda {

namespace {

using detail::Geometry;
using detail::WideGeometry;

scan::Status status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return {};
  return {int(e), std::string("kla cuda: ") + what + ": " + cudaGetErrorString(e)};
}

Geometry geometry(const Shape& s) {
  if (s.S > max_slots)
    throw Error("kla cuda: S = " + std::to_string(s.S) + " slots, at most " + std::to_string(max_slots) +
                " are supported");
  Geometry g{};
  g.B = int(s.B);
  g.M = int(s.M);
  g.S = int(s.S);
  g.L = static_cast<long long>(s.L);
  g.sp = 1;
  while (g.sp < g.S) g.sp *= 2;
  g.mt = detail::lanes / g.sp;
  g.tiles = (g.M + g.mt - 1) / g.mt;
  return g;
}

template <class T>
T* data_or_null(std::span<T> x) {
  return x.empty() ? nullptr : x.data();
}

detail::DeviceIn device_in(const Inputs<float>& in) {
  return {in.v.data(), in.lam_v.data(), in.k.data(), in.q.data(), in.a_bar.data(), in.p_bar.data(),
          data_or_null(in.lam0), data_or_null(in.eta0)};
}

std::size_t blocks(const Geometry& g) { return std::size_t(g.B) * std::size_t(g.tiles); }

int log2_of(int power_of_two) {
  int l = 0;
  while ((1 << l) < power_of_two) ++l;
  return l;
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

/// Tokens per round of the wide backward for S rounded up to sp.
int wide_backward_round(int sp) {
  switch (detail::wide_slots_per_thread(sp)) {
    case 1: return detail::WideRounds<1>::backward;
    case 4: return detail::WideRounds<4>::backward;
    default: return detail::WideRounds<8>::backward;
  }
}

/// The spacing of saved states in tokens: the caller's (checked), or the default for 0.
int checked_spacing(const Shape& s, int spacing) {
  if (spacing == 0) return default_spacing(s.L);
  if (spacing < 8 || spacing > 256 || (spacing & (spacing - 1)) != 0)
    throw Error("kla cuda: saved states every " + std::to_string(spacing) +
                " tokens; the spacing must be a power of two from 8 to 256 (or 0: default_spacing)");
  return spacing;
}

/// The wide kernels' layout (wide.cuh): G = wide_slots_per_thread(sp) slots a thread; checkpoints
/// every `spacing` tokens when the forward saves them (spacing > 0), else every
/// rounds_per_checkpoint backward rounds. The 16-byte staging flags are left false;
/// set_vector_staging sets them from the tensors at hand.
WideGeometry wide_geometry(const Geometry& g, int spacing = 0) {
  WideGeometry w{};
  w.B = g.B;
  w.M = g.M;
  w.S = g.S;
  w.L = g.L;
  w.sp = g.sp;
  w.log_sp = log2_of(g.sp);
  w.tpc = g.sp / detail::wide_slots_per_thread(g.sp);
  w.log_tpc = log2_of(w.tpc);
  w.mt = detail::wide_threads / w.tpc;
  w.log_mt = log2_of(w.mt);
  w.tiles = (g.M + w.mt - 1) / w.mt;
  w.chan_stride = detail::ChannelTerms::stride(w.tpc, w.mt);
  w.span_rounds = spacing > 0 ? spacing / wide_backward_round(g.sp) : detail::rounds_per_checkpoint;
  return w;
}

void set_vector_staging(WideGeometry& w, const detail::DeviceIn& in, const detail::DeviceCot* cot) {
  w.vec_chan = w.M % 4 == 0 && aligned16(in.lam_v) && aligned16(in.v) && (!cot || (aligned16(cot->y) && aligned16(cot->y_var)));
  w.vec_key = w.S % 4 == 0 && aligned16(in.k) && aligned16(in.q);
}

std::size_t blocks(const WideGeometry& w) { return std::size_t(w.B) * std::size_t(w.tiles); }

/// Whether to run the split kernels: when the wide ones would leave multiprocessors without a block.
bool split_time(const Geometry& g) {
  int device = 0, sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
    cudaGetLastError();
    sms = 132;
  }
  return blocks(wide_geometry(g)) < std::size_t(sms);
}

bool use_split(const Geometry& g, Kernels kernels) {
  return kernels == Kernels::split || (kernels == Kernels::automatic && split_time(g));
}

/// Whether these kernels' forward saves states for the backward (the wide kernels).
bool saves_states(const Geometry& g, Kernels kernels) { return !use_split(g, kernels); }

/// Calls f(std::integral_constant<int, G>{}) with the wide kernels' slots per thread for w.
template <class F>
cudaError_t with_slots_per_thread(const WideGeometry& w, F&& f) {
  switch (detail::wide_slots_per_thread(w.sp)) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 4: return f(std::integral_constant<int, 4>{});
    default: return f(std::integral_constant<int, 8>{});
  }
}

template <class Kernel>
cudaError_t launch(Kernel kernel, std::size_t grid, int threads, std::size_t smem, cudaStream_t st, auto... args) {
  if (cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
      e != cudaSuccess)
    return e;
  kernel<<<unsigned(grid), threads, smem, st>>>(args...);
  return cudaGetLastError();
}

/// `saved` (wide kernels only; null: none): the states to save, every `spacing` tokens.
cudaError_t launch_forward(const Geometry& g, const detail::DeviceIn& in, const detail::DeviceOut& out, bool split,
                           float* saved, int spacing, cudaStream_t st) {
  using detail::Split;
  if (split)
    return launch(detail::forward_kernel<Split>, blocks(g), Split::threads, detail::ForwardShared<Split>::bytes(g), st,
                  in, out, g);
  WideGeometry w = wide_geometry(g, saved ? spacing : 0);
  set_vector_staging(w, in, nullptr);
  return with_slots_per_thread(w, [&](auto G) {
    constexpr int g_ = decltype(G)::value;
    return launch(saved ? detail::wide_forward_kernel<g_, true> : detail::wide_forward_kernel<g_, false>, blocks(w),
                  detail::wide_threads, detail::wide_forward_shared_bytes<g_>(w), st, in, out, w, saved);
  });
}

/// `saved` (wide kernels only; null: none): the forward's states, every `spacing` tokens.
cudaError_t launch_backward(const Geometry& g, const detail::DeviceIn& in, const detail::DeviceCot& cot,
                            const detail::DeviceGrad& grad, float* scratch, const float* saved, int spacing,
                            Kernels kernels, cudaStream_t st) {
  using detail::Split;
  if (use_split(g, kernels))
    return launch(detail::backward_kernel<Split>, blocks(g), Split::threads, detail::BackwardShared<Split>::bytes(g),
                  st, in, cot, grad, g, scratch);
  WideGeometry w = wide_geometry(g, saved ? spacing : 0);
  set_vector_staging(w, in, &cot);
  return with_slots_per_thread(w, [&](auto G) {
    constexpr int g_ = decltype(G)::value;
    return launch(detail::wide_backward_kernel<g_>, blocks(w), detail::wide_threads,
                  detail::WideBackwardShared<g_>::bytes(w), st, in, cot, grad, w, scratch, saved);
  });
}

/// The saved states as the kernels take them: null when these kernels save none or none were
/// given; a short buffer is the caller's error.
float* saved_or_null(const Shape& s, const Geometry& g, Kernels kernels, const SavedStates& saved) {
  if (!saved.data || !saves_states(g, kernels)) return nullptr;
  const std::size_t need = saved_states_bytes(s, kernels, saved.spacing);
  if (saved.bytes < need)
    throw Error("kla cuda: saved states have " + std::to_string(saved.bytes) + " bytes, need " +
                std::to_string(need) + " (saved_states_bytes)");
  return static_cast<float*>(saved.data);
}

}  // namespace

std::size_t saved_states_bytes(const Shape& shape, Kernels kernels, int spacing) {
  spacing = checked_spacing(shape, spacing);
  const Geometry g = geometry(shape);
  if (!saves_states(g, kernels)) return 0;
  const WideGeometry w = wide_geometry(g, spacing);
  std::size_t per_block = 0;
  with_slots_per_thread(w, [&](auto G) {
    per_block = detail::wide_saved_per_block<decltype(G)::value>(w);
    return cudaSuccess;
  });
  return blocks(w) * per_block * sizeof(float);
}

scan::Status forward(const Inputs<float>& d_in, const Outputs<float>& d_out, void* stream, Kernels kernels,
                     const SavedStates& saved) {
  validate_sizes(d_in);
  validate(d_in.shape, d_out);
  const Geometry g = geometry(d_in.shape);
  float* const d_saved = saved_or_null(d_in.shape, g, kernels, saved);
  if (blocks(g) == 0) return {};
  const detail::DeviceOut out{d_out.y.data(), d_out.y_var.data(), data_or_null(d_out.lam_T), data_or_null(d_out.eta_T)};
  const auto st = static_cast<cudaStream_t>(stream);
  return status(launch_forward(g, device_in(d_in), out, use_split(g, kernels), d_saved,
                               checked_spacing(d_in.shape, saved.spacing), st),
                "forward launch");
}

std::size_t backward_scratch_bytes(const Shape& shape, Kernels kernels, bool saved, int spacing) {
  const Geometry g = geometry(shape);
  if (use_split(g, kernels)) return blocks(g) * detail::scratch_per_block<detail::Split>(g) * sizeof(float);
  saved = saved && saves_states(g, kernels);
  const WideGeometry w = wide_geometry(g, saved ? checked_spacing(shape, spacing) : 0);
  std::size_t per_block = 0;
  with_slots_per_thread(w, [&](auto G) {
    per_block = detail::wide_scratch_per_block<decltype(G)::value>(w, saved);
    return cudaSuccess;
  });
  return blocks(w) * per_block * sizeof(float);
}

scan::Status backward(const Inputs<float>& d_in, const Cotangents<float>& d_cot, const Gradients<float>& d_grad,
                      void* d_scratch, std::size_t scratch_bytes, void* stream, Kernels kernels,
                      const SavedStates& saved) {
  validate_sizes(d_in);
  const Shape& s = d_in.shape;
  validate(s, d_cot);
  validate(s, d_grad);
  const Geometry g = geometry(s);
  const float* const d_saved = saved_or_null(s, g, kernels, saved);
  const std::size_t need = backward_scratch_bytes(s, kernels, d_saved != nullptr, saved.spacing);
  if (scratch_bytes < need)
    throw Error("kla cuda: backward scratch has " + std::to_string(scratch_bytes) + " bytes, needs " +
                std::to_string(need) + " (backward_scratch_bytes)");
  const auto st = static_cast<cudaStream_t>(stream);
  // k̄, q̄, ā̄, p̄̄ are sums over blocks.
  for (std::span<float> x : {d_grad.k, d_grad.q, d_grad.a_bar, d_grad.p_bar})
    if (!x.empty())
      if (cudaError_t e = cudaMemsetAsync(x.data(), 0, x.size_bytes(), st); e != cudaSuccess)
        return status(e, "backward zeroing");
  if (blocks(g) == 0) return {};
  const detail::DeviceCot cot{data_or_null(d_cot.y), data_or_null(d_cot.y_var), data_or_null(d_cot.lam_T),
                              data_or_null(d_cot.eta_T)};
  const detail::DeviceGrad grad{d_grad.v.data(), d_grad.lam_v.data(), d_grad.k.data(), d_grad.q.data(),
                                d_grad.a_bar.data(), d_grad.p_bar.data(), data_or_null(d_grad.lam0),
                                data_or_null(d_grad.eta0)};
  float* scratch = static_cast<float*>(d_scratch);
  return status(launch_backward(g, device_in(d_in), cot, grad, scratch, d_saved, checked_spacing(s, saved.spacing),
                                kernels, st),
                "backward launch");
}

namespace {

// Device copies of host tensors, freed on scope exit; the first CUDA error is kept.
class DeviceArena {
 public:
  ~DeviceArena() {
    for (void* p : allocations_) cudaFree(p);
  }
  std::span<float> alloc(std::size_t n) {
    void* p = nullptr;
    if (n == 0 || !ok()) return {};
    keep(cudaMalloc(&p, n * sizeof(float)), "allocation");
    if (!ok()) return {};
    allocations_.push_back(p);
    return {static_cast<float*>(p), n};
  }
  std::span<float> upload(std::span<const float> h) {
    std::span<float> d = alloc(h.size());
    if (!d.empty()) keep(cudaMemcpy(d.data(), h.data(), h.size_bytes(), cudaMemcpyHostToDevice), "upload");
    return d;
  }
  void download(std::span<float> h, std::span<const float> d) {
    if (!h.empty() && ok()) keep(cudaMemcpy(h.data(), d.data(), h.size_bytes(), cudaMemcpyDeviceToHost), "download");
  }
  void keep(cudaError_t e, const char* what) {
    if (ok() && e != cudaSuccess) first_ = status(e, what);
  }
  void keep(const scan::Status& s) {
    if (ok() && !s.ok()) first_ = s;
  }
  bool ok() const { return first_.ok(); }
  const scan::Status& result() const { return first_; }

 private:
  std::vector<void*> allocations_;
  scan::Status first_;
};

Inputs<float> upload_inputs(DeviceArena& a, const Inputs<float>& in) {
  return {in.shape, a.upload(in.v), a.upload(in.lam_v), a.upload(in.k), a.upload(in.q), a.upload(in.a_bar),
          a.upload(in.p_bar), a.upload(in.lam0), a.upload(in.eta0)};
}

Outputs<float> alloc_outputs(DeviceArena& a, const Outputs<float>& out) {
  return {a.alloc(out.y.size()), a.alloc(out.y_var.size()), a.alloc(out.lam_T.size()), a.alloc(out.eta_T.size())};
}

void download_outputs(DeviceArena& a, const Outputs<float>& out, const Outputs<float>& d_out) {
  a.download(out.y, d_out.y);
  a.download(out.y_var, d_out.y_var);
  a.download(out.lam_T, d_out.lam_T);
  a.download(out.eta_T, d_out.eta_T);
}

Cotangents<float> upload_cotangents(DeviceArena& a, const Cotangents<float>& cot) {
  return {a.upload(cot.y), a.upload(cot.y_var), a.upload(cot.lam_T), a.upload(cot.eta_T)};
}

Gradients<float> alloc_gradients(DeviceArena& a, const Gradients<float>& grad) {
  return {a.alloc(grad.v.size()),     a.alloc(grad.lam_v.size()), a.alloc(grad.k.size()),
          a.alloc(grad.q.size()),     a.alloc(grad.a_bar.size()), a.alloc(grad.p_bar.size()),
          a.alloc(grad.lam0.size()),  a.alloc(grad.eta0.size())};
}

void download_gradients(DeviceArena& a, const Gradients<float>& grad, const Gradients<float>& d_grad) {
  a.download(grad.v, d_grad.v);
  a.download(grad.lam_v, d_grad.lam_v);
  a.download(grad.k, d_grad.k);
  a.download(grad.q, d_grad.q);
  a.download(grad.a_bar, d_grad.a_bar);
  a.download(grad.p_bar, d_grad.p_bar);
  a.download(grad.lam0, d_grad.lam0);
  a.download(grad.eta0, d_grad.eta0);
}

scan::Status no_device() { return {100, "kla cuda: no CUDA device"}; }  // 100 = cudaErrorNoDevice

}  // namespace

scan::Status forward_host(const Inputs<float>& in, const Outputs<float>& out, Kernels kernels) {
  validate(in);
  validate(in.shape, out);
  if (scan::gpu::device_count() == 0) return no_device();
  DeviceArena a;
  const Inputs<float> d_in = upload_inputs(a, in);
  const Outputs<float> d_out = alloc_outputs(a, out);
  if (a.ok()) a.keep(forward(d_in, d_out, nullptr, kernels));
  a.keep(cudaDeviceSynchronize(), "forward");
  download_outputs(a, out, d_out);
  return a.result();
}

scan::Status backward_host(const Inputs<float>& in, const Cotangents<float>& cot, const Gradients<float>& grad,
                           Kernels kernels) {
  validate(in);
  validate(in.shape, cot);
  validate(in.shape, grad);
  if (scan::gpu::device_count() == 0) return no_device();
  DeviceArena a;
  const Inputs<float> d_in = upload_inputs(a, in);
  const Cotangents<float> d_cot = upload_cotangents(a, cot);
  const Gradients<float> d_grad = alloc_gradients(a, grad);
  const std::size_t bytes = backward_scratch_bytes(in.shape, kernels);
  const std::span<float> scratch = a.alloc(bytes / sizeof(float));
  if (a.ok()) a.keep(backward(d_in, d_cot, d_grad, scratch.data(), bytes, nullptr, kernels));
  a.keep(cudaDeviceSynchronize(), "backward");
  download_gradients(a, grad, d_grad);
  return a.result();
}

scan::Status forward_backward_host(const Inputs<float>& in, const Outputs<float>& out, const Cotangents<float>& cot,
                                   const Gradients<float>& grad, Kernels kernels, int spacing) {
  validate(in);
  validate(in.shape, out);
  validate(in.shape, cot);
  validate(in.shape, grad);
  if (scan::gpu::device_count() == 0) return no_device();
  DeviceArena a;
  const Inputs<float> d_in = upload_inputs(a, in);
  const Outputs<float> d_out = alloc_outputs(a, out);
  const Cotangents<float> d_cot = upload_cotangents(a, cot);
  const Gradients<float> d_grad = alloc_gradients(a, grad);
  const std::span<float> d_saved = a.alloc(saved_states_bytes(in.shape, kernels, spacing) / sizeof(float));
  const SavedStates saved{d_saved.data(), d_saved.size_bytes(), spacing};
  const std::size_t bytes = backward_scratch_bytes(in.shape, kernels, !d_saved.empty(), spacing);
  const std::span<float> scratch = a.alloc(bytes / sizeof(float));
  if (a.ok()) a.keep(forward(d_in, d_out, nullptr, kernels, saved));
  if (a.ok()) a.keep(backward(d_in, d_cot, d_grad, scratch.data(), bytes, nullptr, kernels, saved));
  a.keep(cudaDeviceSynchronize(), "forward and backward");
  download_outputs(a, out, d_out);
  download_gradients(a, grad, d_grad);
  return a.result();
}

}  // namespace kalmanscan::kla::cuda
