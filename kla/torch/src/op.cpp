// kalmanscan::kla_scan: schema, shape checks, CPU kernels on kla::forward / kla::backward, the
// autograd kernel, and the step-by-step torch-ops version of the same recurrence.
#include "kalmanscan/kla/torch/op.hpp"

#include <torch/library.h>
#include <torch/torch.h>

#include <span>
#include <string>
#include <tuple>

#include "kalmanscan/kla/error.hpp"
#include "kalmanscan/kla/kla.hpp"
#include "op_inputs.hpp"

namespace kalmanscan::kla::nn {

namespace {

using namespace detail;

Options cpu_options() {
  Options o;
  o.threads = unsigned(at::get_num_threads());
  return o;
}

Tensor4 forward_cpu(const Tensor& v, const Tensor& lam_v, const Tensor& k, const Tensor& q, const Tensor& a_bar,
                    const Tensor& p_bar, const optional<Tensor>& lam0, const optional<Tensor>& eta0) {
  const Prepared p = prepare(v, lam_v, k, q, a_bar, p_bar, lam0, eta0);
  auto [y, y_var, lam_T, eta_T] = empty_outputs(p);
  AT_DISPATCH_FLOATING_TYPES(p.dtype, "kla_scan", [&] {
    forward<scalar_t>(inputs_of<scalar_t>(p),
                      Outputs<scalar_t>{mspan<scalar_t>(y), mspan<scalar_t>(y_var), mspan<scalar_t>(lam_T),
                                        mspan<scalar_t>(eta_T)},
                      cpu_options());
  });
  return {y, y_var, lam_T, eta_T};
}

// The CPU kernels save no states for the backward: an empty one.
Tensor5 forward_saving_cpu(const Tensor& v, const Tensor& lam_v, const Tensor& k, const Tensor& q, const Tensor& a_bar,
                           const Tensor& p_bar, const optional<Tensor>& lam0, const optional<Tensor>& eta0) {
  auto [y, y_var, lam_T, eta_T] = forward_cpu(v, lam_v, k, q, a_bar, p_bar, lam0, eta0);
  return {y, y_var, lam_T, eta_T, at::empty({0}, v.options().dtype(at::kByte))};
}

// Gradients of Σ grad_out·out; lam0/eta0 gradients are returned for the given (or default) carried
// state; all eight are in the arithmetic dtype. `saved` (kla_scan_saving's, for the CUDA kernels)
// is not used.
Tensor8 backward_cpu(const Tensor& v, const Tensor& lam_v, const Tensor& k, const Tensor& q, const Tensor& a_bar,
                     const Tensor& p_bar, const optional<Tensor>& lam0, const optional<Tensor>& eta0,
                     const optional<Tensor>& grad_y, const optional<Tensor>& grad_y_var,
                     const optional<Tensor>& grad_lam_T, const optional<Tensor>& grad_eta_T, const optional<Tensor>&) {
  const Prepared p = prepare(v, lam_v, k, q, a_bar, p_bar, lam0, eta0);
  const Cotangents4 c = prepare_cotangents(p, grad_y, grad_y_var, grad_lam_T, grad_eta_T);
  auto [dv, dlv, dk, dq, da, dp, dl0, de0] = empty_gradients(p);
  AT_DISPATCH_FLOATING_TYPES(p.dtype, "kla_scan_backward", [&] {
    using T = scalar_t;
    backward<T>(inputs_of<T>(p), Cotangents<T>{cspan<T>(c.y), cspan<T>(c.y_var), cspan<T>(c.lam_T), cspan<T>(c.eta_T)},
                Gradients<T>{mspan<T>(dv), mspan<T>(dlv), mspan<T>(dk), mspan<T>(dq), mspan<T>(da), mspan<T>(dp),
                             mspan<T>(dl0), mspan<T>(de0)},
                cpu_options());
  });
  return {dv, dlv, dk, dq, da, dp, dl0, de0};
}

const auto& forward_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("kalmanscan::kla_scan", "")
                             .typed<Tensor4(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                            const Tensor&, const optional<Tensor>&, const optional<Tensor>&)>();
  return op;
}

const auto& forward_saving_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("kalmanscan::kla_scan_saving", "")
                             .typed<Tensor5(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                            const Tensor&, const optional<Tensor>&, const optional<Tensor>&)>();
  return op;
}

const auto& backward_op() {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("kalmanscan::kla_scan_backward", "")
          .typed<Tensor8(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                         const optional<Tensor>&, const optional<Tensor>&, const optional<Tensor>&,
                         const optional<Tensor>&, const optional<Tensor>&, const optional<Tensor>&,
                         const optional<Tensor>&)>();
  return op;
}

optional<Tensor> defined_or_none(const Tensor& t) { return t.defined() ? optional<Tensor>(t) : c10::nullopt; }

// Autograd: saves the inputs and the opaque states that kla_scan_saving's kernels keep for the
// backward (the CUDA wide kernels' checkpoints, kalmanscan/kla/cuda.hpp SavedStates; empty on the
// CPU), and runs kla_scan_backward on the same device.
class KlaScanFunction : public torch::autograd::Function<KlaScanFunction> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const Tensor& v,
                                                const Tensor& lam_v, const Tensor& k, const Tensor& q,
                                                const Tensor& a_bar, const Tensor& p_bar, const optional<Tensor>& lam0,
                                                const optional<Tensor>& eta0) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->set_materialize_grads(false);
    auto [y, y_var, lam_T, eta_T, states] = forward_saving_op().call(v, lam_v, k, q, a_bar, p_bar, lam0, eta0);
    ctx->save_for_backward(
        {v, lam_v, k, q, a_bar, p_bar, lam0.value_or(Tensor()), eta0.value_or(Tensor()), states});
    return {y, y_var, lam_T, eta_T};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    if (torch::GradMode::is_enabled())
      throw Error("kla_scan: the backward is not differentiable (no double backward / create_graph)");
    const auto saved = ctx->get_saved_variables();
    const Tensor &lam0 = saved[6], &eta0 = saved[7];
    auto [dv, dlv, dk, dq, da, dp, dl0, de0] = backward_op().call(
        saved[0], saved[1], saved[2], saved[3], saved[4], saved[5], defined_or_none(lam0), defined_or_none(eta0),
        defined_or_none(grad[0]), defined_or_none(grad[1]), defined_or_none(grad[2]), defined_or_none(grad[3]),
        saved[8]);
    return {dv, dlv, dk, dq, da, dp, lam0.defined() ? dl0 : Tensor(), eta0.defined() ? de0 : Tensor()};
  }
};

bool requires_grad(const optional<Tensor>& t) { return t && t->defined() && t->requires_grad(); }

Tensor4 forward_autograd(const Tensor& v, const Tensor& lam_v, const Tensor& k, const Tensor& q, const Tensor& a_bar,
                         const Tensor& p_bar, const optional<Tensor>& lam0, const optional<Tensor>& eta0) {
  // Without a graph to record (no_grad, or no input requiring grad), the plain forward: no states
  // kept for a backward that cannot come.
  if (!torch::GradMode::is_enabled() ||
      !(v.requires_grad() || lam_v.requires_grad() || k.requires_grad() || q.requires_grad() ||
        a_bar.requires_grad() || p_bar.requires_grad() || requires_grad(lam0) || requires_grad(eta0))) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return forward_op().call(v, lam_v, k, q, a_bar, p_bar, lam0, eta0);
  }
  auto out = KlaScanFunction::apply(v, lam_v, k, q, a_bar, p_bar, lam0, eta0);
  return {out[0], out[1], out[2], out[3]};
}

}  // namespace

TORCH_LIBRARY(kalmanscan, m) {
  m.def(
      "kla_scan(Tensor v, Tensor lam_v, Tensor k, Tensor q, Tensor a_bar, Tensor p_bar, Tensor? lam0=None, "
      "Tensor? eta0=None) -> (Tensor y, Tensor y_var, Tensor lam_T, Tensor eta_T)");
  // kla_scan plus the opaque states its kernels keep for kla_scan_backward (`saved`; empty where
  // they keep none), which then skips recomputing them.
  m.def(
      "kla_scan_saving(Tensor v, Tensor lam_v, Tensor k, Tensor q, Tensor a_bar, Tensor p_bar, Tensor? lam0=None, "
      "Tensor? eta0=None) -> (Tensor y, Tensor y_var, Tensor lam_T, Tensor eta_T, Tensor saved)");
  m.def(
      "kla_scan_backward(Tensor v, Tensor lam_v, Tensor k, Tensor q, Tensor a_bar, Tensor p_bar, Tensor? lam0, "
      "Tensor? eta0, Tensor? grad_y, Tensor? grad_y_var, Tensor? grad_lam_T, Tensor? grad_eta_T, "
      "Tensor? saved=None) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(kalmanscan, CPU, m) {
  m.impl("kla_scan", &forward_cpu);
  m.impl("kla_scan_saving", &forward_saving_cpu);
  m.impl("kla_scan_backward", &backward_cpu);
}

TORCH_LIBRARY_IMPL(kalmanscan, Autograd, m) { m.impl("kla_scan", &forward_autograd); }

ScanResult kla_scan(const Tensor& v, const Tensor& lam_v, const Tensor& k, const Tensor& q, const Tensor& a_bar,
                    const Tensor& p_bar, const optional<Tensor>& lam0, const optional<Tensor>& eta0) {
  auto [y, y_var, lam_T, eta_T] = forward_op().call(v, lam_v, k, q, a_bar, p_bar, lam0, eta0);
  return {y, y_var, lam_T, eta_T};
}

bool kla_scan_has_kernel(const c10::Device& device) {
  return c10::Dispatcher::singleton().findSchemaOrThrow("kalmanscan::kla_scan", "").hasKernelForDispatchKey(
      c10::computeDispatchKey(c10::nullopt, c10::nullopt, device));
}

ScanResult kla_scan_recurrent(const Tensor& v, const Tensor& lam_v, const Tensor& k, const Tensor& q,
                              const Tensor& a_bar, const Tensor& p_bar, const optional<Tensor>& lam0,
                              const optional<Tensor>& eta0) {
  const Checked p = check(v, lam_v, k, q, a_bar, p_bar, lam0, eta0);
  const auto& s = p.shape;
  const int64_t B = s.B, L = s.L, M = s.M, S = s.S;
  const auto opts = v.options().dtype(p.dtype);
  auto as = [&](const Tensor& t) { return t.to(p.dtype); };  // differentiable, unlike Prepared's copies
  const Tensor V = as(v), LV = as(lam_v), K = as(k), Q = as(q);
  const Tensor a = as(a_bar), pb = at::clamp_min(as(p_bar), p_bar_floor), a2 = a * a;
  Tensor lam = present(lam0) ? as(*lam0) : at::ones({B, M, S}, opts);
  Tensor eta = present(eta0) ? as(*eta0) : at::zeros({B, M, S}, opts);
  std::vector<Tensor> ys, yvars;
  for (int64_t t = 0; t < L; ++t) {
    const Tensor lv = LV.select(1, t).unsqueeze(2), vt = V.select(1, t).unsqueeze(2);  // [B, M, 1]
    const Tensor kt = K.select(1, t).unsqueeze(1), qt = Q.select(1, t).unsqueeze(1);   // [B, 1, S]
    const Tensor phi = at::clamp_min(lv * kt * kt, phi_floor), r = lv * vt * kt;
    const Tensor D = a2 + pb * lam;
    lam = ((1 + pb * phi) * lam + a2 * phi) / D;  // Möbius map [[1 + p̄φ, ā²φ], [p̄, ā²]]
    eta = (a / D) * eta + r;                      // affine given λ
    ys.push_back((qt * eta / lam).sum(2));
    yvars.push_back((qt * qt / lam).sum(2));
  }
  if (L == 0) return {at::zeros({B, 0, M}, opts), at::zeros({B, 0, M}, opts), lam, eta};
  return {at::stack(ys, 1), at::stack(yvars, 1), lam, eta};
}

}  // namespace kalmanscan::kla::nn
