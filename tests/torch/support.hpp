// Random KLA problems as LibTorch tensors, with every input of order one (so that normwise errors
// of outputs and gradients are meaningful), the fp64 reference of kalmanscan_kla run on them, and
// the normwise error the tests state accuracy in.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <span>
#include <vector>

#include "kalmanscan/kla/reference.hpp"
#include "kalmanscan/kla/torch/op.hpp"

namespace kalmanscan::kla::nn::testing {

struct Problem {
  at::Tensor v, lam_v, k, q, a_bar, p_bar, lam0, eta0;  // lam0/eta0 undefined: default prior

  std::vector<at::Tensor> inputs() const {
    std::vector<at::Tensor> x{v, lam_v, k, q, a_bar, p_bar};
    if (lam0.defined()) x.insert(x.end(), {lam0, eta0});
    return x;
  }
  /// The problem with its inputs replaced, in the order of inputs().
  static Problem from(const std::vector<at::Tensor>& x) {
    return {x[0], x[1], x[2], x[3], x[4], x[5], x.size() > 6 ? x[6] : at::Tensor(), x.size() > 7 ? x[7] : at::Tensor()};
  }
  Problem to(at::ScalarType dtype) const {
    std::vector<at::Tensor> x;
    for (const auto& t : inputs()) x.push_back(t.to(dtype));
    return from(x);
  }
  Problem to(const at::Device& device, at::ScalarType dtype) const {
    std::vector<at::Tensor> x;
    for (const auto& t : inputs()) x.push_back(t.to(device, dtype));
    return from(x);
  }
};

inline const char* const input_names[] = {"v", "lam_v", "k", "q", "a_bar", "p_bar", "lam0", "eta0"};
inline const char* const output_names[] = {"y", "y_var", "lam_T", "eta_T"};

inline c10::optional<at::Tensor> opt(const at::Tensor& t) {
  return t.defined() ? c10::optional<at::Tensor>(t) : c10::nullopt;
}

/// kla_scan (through the dispatcher, autograd included) on a problem.
inline ScanResult run_op(const Problem& p) {
  return kla_scan(p.v, p.lam_v, p.k, p.q, p.a_bar, p.p_bar, opt(p.lam0), opt(p.eta0));
}

inline std::vector<at::Tensor> outputs(const ScanResult& r) { return {r.y, r.y_var, r.lam_T, r.eta_T}; }

/// A problem size for parameterised tests, and its test-name suffix.
struct Case {
  int64_t B, L, M, S;
  bool carried;  ///< with a carried state (λ₀, η₀) or the default prior
};
inline std::string case_name(const Case& c) {
  std::ostringstream s;
  s << "B" << c.B << "_L" << c.L << "_M" << c.M << "_S" << c.S << (c.carried ? "_carried" : "_prior");
  return s.str();
}

/// v ~ N(0, 1), Λv ~ U(0.5, 1.5), k, q ~ N(0, 1/S), ā ~ U(0.6, 0.99), p̄ ~ U(0.02, 0.2), and when
/// carried λ₀ ~ U(0.5, 3), η₀ ~ N(0, 1); fp64.
inline Problem random_problem(int64_t B, int64_t L, int64_t M, int64_t S, uint64_t seed, bool carried) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  auto normal = [&](at::IntArrayRef sizes, double sd) { return at::normal(0.0, sd, sizes, gen, f64); };
  auto uniform = [&](at::IntArrayRef sizes, double lo, double hi) {
    return at::empty(sizes, f64).uniform_(lo, hi, gen);
  };
  const double ks = 1.0 / std::sqrt(double(std::max<int64_t>(S, 1)));
  Problem p{normal({B, L, M}, 1.0),     uniform({B, L, M}, 0.5, 1.5), normal({B, L, S}, ks), normal({B, L, S}, ks),
            uniform({M, S}, 0.6, 0.99), uniform({M, S}, 0.02, 0.2),   {},                    {}};
  if (carried) {
    p.lam0 = uniform({B, M, S}, 0.5, 3.0);
    p.eta0 = normal({B, M, S}, 1.0);
  }
  return p;
}

/// Cotangents of y, y_var [B, L, M] and lam_T, eta_T [B, M, S], N(0, 1), fp64.
inline std::vector<at::Tensor> random_cotangents(const Problem& p, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const int64_t B = p.v.size(0), L = p.v.size(1), M = p.v.size(2), S = p.k.size(2);
  return {at::normal(0, 1, {B, L, M}, gen, f64), at::normal(0, 1, {B, L, M}, gen, f64),
          at::normal(0, 1, {B, M, S}, gen, f64), at::normal(0, 1, {B, M, S}, gen, f64)};
}

/// Σ cot·out over the four outputs.
inline at::Tensor contract(const ScanResult& r, const std::vector<at::Tensor>& cot) {
  return (r.y * cot[0]).sum() + (r.y_var * cot[1]).sum() + (r.lam_T * cot[2]).sum() + (r.eta_T * cot[3]).sum();
}

using ScanFn = std::function<ScanResult(const Problem&)>;

/// Gradients of Σ cot·f(p) with respect to every input, by LibTorch's autograd through f.
inline std::vector<at::Tensor> autograd_gradients(const ScanFn& f, const Problem& p, const std::vector<at::Tensor>& cot) {
  std::vector<at::Tensor> x;
  for (const auto& t : p.inputs()) x.push_back(t.detach().clone().requires_grad_(true));
  const at::Tensor loss = contract(f(Problem::from(x)), cot);
  return torch::autograd::grad({loss}, x);
}

/// ‖got − ref‖ / ‖ref‖ (the absolute ‖got‖ where ref is exactly zero), in fp64. Tensors of
/// different shapes are a test failure naming both shapes, never broadcast against each other (a
/// [B, L, 1] against a [B, L, M] would otherwise be compared column by column); the error is then
/// +∞, so the caller's bound fails too.
inline double rel_error(const at::Tensor& got, const at::Tensor& ref) {
  if (!got.sizes().equals(ref.sizes())) {
    ADD_FAILURE() << "rel_error: got has shape " << got.sizes() << ", the reference " << ref.sizes();
    return std::numeric_limits<double>::infinity();
  }
  const double den = ref.to(at::kDouble).norm().item<double>();
  const double num = (got.to(at::kDouble) - ref.to(at::kDouble)).norm().item<double>();
  return den > 0 ? num / den : num;
}

inline std::span<const double> cview(const at::Tensor& t) {
  return t.defined() ? std::span<const double>(t.data_ptr<double>(), std::size_t(t.numel())) : std::span<const double>();
}
inline std::span<double> mview(const at::Tensor& t) { return {t.data_ptr<double>(), std::size_t(t.numel())}; }

/// The fp64 step-by-step reference (kalmanscan/kla/reference.hpp) on a problem: outputs and the
/// gradients of Σ cot·out, in the order of Problem::inputs().
struct Reference {
  ScanResult out;
  std::vector<at::Tensor> grads;
};

inline Reference reference(const Problem& p0, const std::vector<at::Tensor>& cot0) {
  const Problem p = Problem::from([&] {
    std::vector<at::Tensor> x;
    for (const auto& t : p0.inputs()) x.push_back(t.detach().to(at::kDouble).contiguous());
    return x;
  }());
  std::vector<at::Tensor> cot;
  for (const auto& c : cot0) cot.push_back(c.to(at::kDouble).contiguous());
  const int64_t B = p.v.size(0), L = p.v.size(1), M = p.v.size(2), S = p.k.size(2);
  const Shape shape{std::size_t(B), std::size_t(L), std::size_t(M), std::size_t(S)};
  const Inputs<double> in{shape,        cview(p.v),     cview(p.lam_v), cview(p.k),   cview(p.q),
                          cview(p.a_bar), cview(p.p_bar), cview(p.lam0),  cview(p.eta0)};
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  Reference r{{at::empty({B, L, M}, f64), at::empty({B, L, M}, f64), at::empty({B, M, S}, f64),
               at::empty({B, M, S}, f64)},
              {}};
  reference_forward(in, Outputs<double>{mview(r.out.y), mview(r.out.y_var), mview(r.out.lam_T), mview(r.out.eta_T)});
  for (const auto& x : p.inputs()) r.grads.push_back(at::empty_like(x));
  const bool carried = p.lam0.defined();
  reference_backward(in, Cotangents<double>{cview(cot[0]), cview(cot[1]), cview(cot[2]), cview(cot[3])},
                     Gradients<double>{mview(r.grads[0]), mview(r.grads[1]), mview(r.grads[2]), mview(r.grads[3]),
                                       mview(r.grads[4]), mview(r.grads[5]),
                                       carried ? mview(r.grads[6]) : std::span<double>(),
                                       carried ? mview(r.grads[7]) : std::span<double>()});
  return r;
}

}  // namespace kalmanscan::kla::nn::testing
