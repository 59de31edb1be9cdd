// Recurrent (streaming) KLA inference: tokens arrive a few at a time, the state (λ, η) of every
// (b, m, s) is carried from one call to the next. Pushing a sequence token by token, or in
// chunks of any sizes, gives the outputs of kla::forward on the whole sequence (DESIGN.md §2:
// carry-out of one chunk = carry-in of the next).
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "kalmanscan/kla/kla.hpp"

namespace kalmanscan::kla {

template <class T>
class Stream {
 public:
  /// B streams of M channels with S slots each, parameters ā, p̄ [M, S], starting from the
  /// prior λ = 1, η = 0. Throws Error when a_bar or p_bar has the wrong size or domain.
  Stream(std::size_t B, std::size_t M, std::size_t S, std::vector<T> a_bar, std::vector<T> p_bar, Options options = {})
      : shape_{B, 0, M, S}, a_bar_(std::move(a_bar)), p_bar_(std::move(p_bar)), options_(options) {
    Shape s = shape_;
    validate(Inputs<T>{s, {}, {}, {}, {}, a_bar_, p_bar_});
    reset();
  }

  /// Back to the prior λ = 1, η = 0.
  void reset() {
    lam_.assign(shape_.state_size(), T(1));
    eta_.assign(shape_.state_size(), T(0));
  }

  /// Replaces the state (λ, η) [B, M, S]; throws Error for a wrong size or λ ≤ 0.
  void set_state(std::vector<T> lam, std::vector<T> eta) {
    Shape s = shape_;
    validate(Inputs<T>{s, {}, {}, {}, {}, a_bar_, p_bar_, lam, eta});
    if (lam.size() != s.state_size() || eta.size() != s.state_size())
      throw Error("kla stream: state needs " + std::to_string(s.state_size()) + " values of lam and of eta");
    lam_ = std::move(lam);
    eta_ = std::move(eta);
  }

  /// The next n tokens: v, lam_v [B, n, M] and k, q [B, n, S] in, y, y_var [B, n, M] out; the
  /// state advances by n tokens. Throws Error (state unchanged) for tensors of the wrong size.
  void push(std::size_t n, std::span<const T> v, std::span<const T> lam_v, std::span<const T> k, std::span<const T> q,
            std::span<T> y, std::span<T> y_var) {
    Shape s = shape_;
    s.L = n;
    next_lam_.resize(s.state_size());
    next_eta_.resize(s.state_size());
    forward(Inputs<T>{s, v, lam_v, k, q, a_bar_, p_bar_, lam_, eta_}, Outputs<T>{y, y_var, next_lam_, next_eta_},
            options_);
    std::swap(lam_, next_lam_);
    std::swap(eta_, next_eta_);
  }

  std::span<const T> lam() const { return lam_; }  ///< precisions λ [B, M, S] after the last token
  std::span<const T> eta() const { return eta_; }  ///< information means η [B, M, S]

 private:
  Shape shape_;  ///< L unused
  std::vector<T> a_bar_, p_bar_;
  Options options_;
  std::vector<T> lam_, eta_, next_lam_, next_eta_;
};

}  // namespace kalmanscan::kla
