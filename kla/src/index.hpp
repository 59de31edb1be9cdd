// Flat row-major indices of the KLA tensors (layouts in tensors.hpp).
#pragma once

#include <cstddef>
#include <span>

#include "kalmanscan/kla/tensors.hpp"

namespace kalmanscan::kla::detail {

struct Index {
  Shape s;
  std::size_t seq(std::size_t b, std::size_t t, std::size_t m) const { return (b * s.L + t) * s.M + m; }
  std::size_t key(std::size_t b, std::size_t t, std::size_t j) const { return (b * s.L + t) * s.S + j; }
  std::size_t param(std::size_t m, std::size_t j) const { return m * s.S + j; }
  std::size_t state(std::size_t b, std::size_t m, std::size_t j) const { return (b * s.M + m) * s.S + j; }
};

/// Entry i of an optional tensor: an empty span stands for all zeros (cotangents not given).
template <class T>
T at_or_zero(std::span<const T> x, std::size_t i) {
  return x.empty() ? T(0) : x[i];
}

}  // namespace kalmanscan::kla::detail
