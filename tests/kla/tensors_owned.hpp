// Owned KLA tensors for the tests: std::vectors behind the span views of tensors.hpp, fp64
// problems cast to the kernel's scalar type, and the normwise error the tests state accuracy in.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "kalmanscan/kla/tensors.hpp"

namespace kalmanscan::kla::testing {

template <class T>
struct OwnedInputs {
  Shape shape;
  std::vector<T> v, lam_v, k, q, a_bar, p_bar, lam0, eta0;  ///< lam0/eta0 empty = default prior

  Inputs<T> view() const { return {shape, v, lam_v, k, q, a_bar, p_bar, lam0, eta0}; }
  template <class U>
  OwnedInputs<U> cast() const {
    auto c = [](const std::vector<T>& x) { return std::vector<U>(x.begin(), x.end()); };
    return {shape, c(v), c(lam_v), c(k), c(q), c(a_bar), c(p_bar), c(lam0), c(eta0)};
  }
};

template <class T>
struct OwnedOutputs {
  std::vector<T> y, y_var, lam_T, eta_T;
  explicit OwnedOutputs(const Shape& s)
      : y(s.sequence_size()), y_var(s.sequence_size()), lam_T(s.state_size()), eta_T(s.state_size()) {}
  Outputs<T> view() { return {y, y_var, lam_T, eta_T}; }
};

template <class T>
struct OwnedCotangents {
  std::vector<T> y, y_var, lam_T, eta_T;
  Cotangents<T> view() const { return {y, y_var, lam_T, eta_T}; }
  template <class U>
  OwnedCotangents<U> cast() const {
    auto c = [](const std::vector<T>& x) { return std::vector<U>(x.begin(), x.end()); };
    return {c(y), c(y_var), c(lam_T), c(eta_T)};
  }
};

template <class T>
struct OwnedGradients {
  std::vector<T> v, lam_v, k, q, a_bar, p_bar, lam0, eta0;
  explicit OwnedGradients(const Shape& s)
      : v(s.sequence_size()), lam_v(s.sequence_size()), k(s.key_size()), q(s.key_size()), a_bar(s.param_size()),
        p_bar(s.param_size()), lam0(s.state_size()), eta0(s.state_size()) {}
  Gradients<T> view() { return {v, lam_v, k, q, a_bar, p_bar, lam0, eta0}; }
};

/// ‖got − ref‖₂ / ‖ref‖₂; the absolute ‖got‖₂ when ref is exactly zero; infinite when the sizes
/// differ (a missing or short result never passes a tolerance).
template <class T>
double rel_error(std::span<const double> ref, std::span<const T> got) {
  if (ref.size() != got.size()) return std::numeric_limits<double>::infinity();
  double num = 0, den = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = double(got[i]) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

template <class T>
bool all_finite(std::span<const T> x) {
  for (T e : x)
    if (!std::isfinite(double(e))) return false;
  return true;
}

}  // namespace kalmanscan::kla::testing
