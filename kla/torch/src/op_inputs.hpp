// Private helpers of the kla_scan kernels (op.cpp, op_cuda.cpp): shape, dtype and device checks
// that name the offending tensor, conversion to the arithmetic dtype, spans over tensors.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <span>
#include <string>
#include <tuple>

#include "kalmanscan/kla/error.hpp"
#include "kalmanscan/kla/tensors.hpp"

namespace kalmanscan::kla::nn::detail {

using at::Tensor;
using c10::optional;
using Tensor4 = std::tuple<Tensor, Tensor, Tensor, Tensor>;
using Tensor5 = std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor>;
using Tensor8 = std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor>;

inline std::string sizes_string(c10::IntArrayRef sizes) {
  std::string s = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}
inline std::string sizes_string(const Tensor& t) { return t.defined() ? sizes_string(t.sizes()) : "(undefined)"; }

// Throws kla::Error unless `t` is a floating tensor on `device` with exactly the sizes `dims`.
inline void check_tensor(const char* name, const Tensor& t, std::initializer_list<int64_t> dims, const char* dims_text,
                  const c10::Device& device) {
  if (!t.defined()) throw Error(std::string("kla_scan: ") + name + " is an undefined tensor");
  const bool ok = t.dim() == int64_t(dims.size()) && std::equal(dims.begin(), dims.end(), t.sizes().begin());
  if (!ok)
    throw Error(std::string("kla_scan: ") + name + " has shape " + sizes_string(t) + ", expected " + dims_text + " = " +
                sizes_string(c10::IntArrayRef(dims)));
  if (!at::isFloatingType(t.scalar_type()))
    throw Error(std::string("kla_scan: ") + name + " has dtype " + std::string(c10::toString(t.scalar_type())) +
                ", expected a floating dtype (float64, float32, bfloat16 or float16)");
  if (t.device() != device)
    throw Error(std::string("kla_scan: ") + name + " is on " + t.device().str() + ", v on " + device.str());
}

inline bool present(const optional<Tensor>& t) { return t.has_value() && t->defined(); }

// The shape of the problem and its arithmetic dtype (fp64 if any input is fp64, else fp32).
struct Checked {
  Shape shape;
  at::ScalarType dtype;
};

// Throws kla::Error naming the first tensor of the wrong rank, shape, dtype or device.
inline Checked check(const Tensor& v, const Tensor& lam_v, const Tensor& k, const Tensor& q, const Tensor& a_bar,
              const Tensor& p_bar, const optional<Tensor>& lam0, const optional<Tensor>& eta0) {
  if (!v.defined() || v.dim() != 3) throw Error("kla_scan: v has shape " + sizes_string(v) + ", expected [B, L, M]");
  if (!k.defined() || k.dim() != 3) throw Error("kla_scan: k has shape " + sizes_string(k) + ", expected [B, L, S]");
  const int64_t B = v.size(0), L = v.size(1), M = v.size(2), S = k.size(2);
  const c10::Device dev = v.device();
  check_tensor("v", v, {B, L, M}, "[B, L, M]", dev);
  check_tensor("lam_v", lam_v, {B, L, M}, "[B, L, M]", dev);
  check_tensor("k", k, {B, L, S}, "[B, L, S]", dev);
  check_tensor("q", q, {B, L, S}, "[B, L, S]", dev);
  check_tensor("a_bar", a_bar, {M, S}, "[M, S]", dev);
  check_tensor("p_bar", p_bar, {M, S}, "[M, S]", dev);
  if (present(lam0)) check_tensor("lam0", *lam0, {B, M, S}, "[B, M, S]", dev);
  if (present(eta0)) check_tensor("eta0", *eta0, {B, M, S}, "[B, M, S]", dev);
  bool any_double = false;
  for (const Tensor* t : {&v, &lam_v, &k, &q, &a_bar, &p_bar}) any_double |= t->scalar_type() == at::kDouble;
  if (present(lam0)) any_double |= lam0->scalar_type() == at::kDouble;
  if (present(eta0)) any_double |= eta0->scalar_type() == at::kDouble;
  return {Shape{std::size_t(B), std::size_t(L), std::size_t(M), std::size_t(S)}, any_double ? at::kDouble : at::kFloat};
}

// The inputs checked, converted to the arithmetic dtype and made contiguous.
struct Prepared {
  Shape shape;
  at::ScalarType dtype;
  Tensor v, lam_v, k, q, a_bar, p_bar, lam0, eta0;  // lam0/eta0 undefined when absent
};

inline Prepared prepare(const Tensor& v, const Tensor& lam_v, const Tensor& k, const Tensor& q, const Tensor& a_bar,
                 const Tensor& p_bar, const optional<Tensor>& lam0, const optional<Tensor>& eta0) {
  const Checked c = check(v, lam_v, k, q, a_bar, p_bar, lam0, eta0);
  auto conv = [&](const Tensor& t) { return t.to(c.dtype).contiguous(); };
  return {c.shape,        c.dtype,     conv(v),
          conv(lam_v),    conv(k),     conv(q),
          conv(a_bar),    conv(p_bar), present(lam0) ? conv(*lam0) : Tensor(),
          present(eta0) ? conv(*eta0) : Tensor()};
}

template <class T>
inline std::span<const T> cspan(const Tensor& t) {
  if (!t.defined()) return {};
  return {t.data_ptr<T>(), std::size_t(t.numel())};
}
template <class T>
inline std::span<T> mspan(const Tensor& t) {
  if (!t.defined()) return {};
  return {t.data_ptr<T>(), std::size_t(t.numel())};
}

template <class T>
inline Inputs<T> inputs_of(const Prepared& p) {
  return {p.shape, cspan<T>(p.v), cspan<T>(p.lam_v), cspan<T>(p.k), cspan<T>(p.q), cspan<T>(p.a_bar),
          cspan<T>(p.p_bar), cspan<T>(p.lam0), cspan<T>(p.eta0)};
}

struct Cotangents4 {
  Tensor y, y_var, lam_T, eta_T;  // undefined = zero
};

// The cotangents of the outputs checked against the problem's shape and converted like its inputs.
inline Cotangents4 prepare_cotangents(const Prepared& p, const optional<Tensor>& grad_y,
                                      const optional<Tensor>& grad_y_var, const optional<Tensor>& grad_lam_T,
                                      const optional<Tensor>& grad_eta_T) {
  const int64_t B = p.shape.B, L = p.shape.L, M = p.shape.M, S = p.shape.S;
  auto cot = [&](const optional<Tensor>& g, const char* name, std::initializer_list<int64_t> dims,
                 const char* dims_text) -> Tensor {
    if (!present(g)) return {};
    check_tensor(name, *g, dims, dims_text, p.v.device());
    return g->to(p.dtype).contiguous();
  };
  return {cot(grad_y, "grad_y", {B, L, M}, "[B, L, M]"), cot(grad_y_var, "grad_y_var", {B, L, M}, "[B, L, M]"),
          cot(grad_lam_T, "grad_lam_T", {B, M, S}, "[B, M, S]"), cot(grad_eta_T, "grad_eta_T", {B, M, S}, "[B, M, S]")};
}

// y, y_var [B, L, M], lam_T, eta_T [B, M, S], uninitialised, like the prepared inputs.
inline Tensor4 empty_outputs(const Prepared& p) {
  const int64_t B = p.shape.B, L = p.shape.L, M = p.shape.M, S = p.shape.S;
  const auto o = p.v.options();
  return {at::empty({B, L, M}, o), at::empty({B, L, M}, o), at::empty({B, M, S}, o), at::empty({B, M, S}, o)};
}

// Gradients of v, lam_v [B, L, M], k, q [B, L, S], a_bar, p_bar [M, S], lam0, eta0 [B, M, S].
inline Tensor8 empty_gradients(const Prepared& p) {
  const int64_t B = p.shape.B, L = p.shape.L, M = p.shape.M, S = p.shape.S;
  const auto o = p.v.options();
  return {at::empty({B, L, M}, o), at::empty({B, L, M}, o), at::empty({B, L, S}, o), at::empty({B, L, S}, o),
          at::empty({M, S}, o),    at::empty({M, S}, o),    at::empty({B, M, S}, o), at::empty({B, M, S}, o)};
}

}  // namespace kalmanscan::kla::nn::detail
