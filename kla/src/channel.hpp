// One (b, m) channel of a KLA problem: its slice of every tensor and its slot parameters.
#pragma once

#include <vector>

#include "index.hpp"
#include "step.hpp"

namespace kalmanscan::kla::detail {

template <class T>
struct Channel {
  const Inputs<T>& in;
  Index ix;
  std::size_t b, m;

  std::size_t seq(std::size_t t) const { return ix.seq(b, t, m); }
  const T* k(std::size_t t) const { return &in.k[ix.key(b, t, 0)]; }
  const T* q(std::size_t t) const { return &in.q[ix.key(b, t, 0)]; }
  T lam_v(std::size_t t) const { return in.lam_v[seq(t)]; }
  T v(std::size_t t) const { return in.v[seq(t)]; }
  std::size_t state(std::size_t j) const { return ix.state(b, m, j); }
  T lam0(std::size_t j) const { return in.lam0.empty() ? T(1) : in.lam0[state(j)]; }
  T eta0(std::size_t j) const { return in.eta0.empty() ? T(0) : in.eta0[state(j)]; }
  SlotParams<T> params(std::size_t j) const {
    return slot_params(in.a_bar[ix.param(m, j)], in.p_bar[ix.param(m, j)]);
  }
};

}  // namespace kalmanscan::kla::detail
