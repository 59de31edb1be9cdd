// The KLA scan on the CPU (DESIGN.md §4; Shaj et al., "Kalman Linear Attention: Parallel
// Bayesian Filtering for Efficient Language Modelling and State Tracking", arXiv 2602.10743):
// forward and exact backward, in fp32 or fp64 arithmetic, on the scan engine.
//
// Per batch b, channel m, slot s and token t (tensors and floors: tensors.hpp):
//   φ_t = max(Λv_t[m] k_t[s]², φ_min),   r_t = Λv_t[m] v_t[m] k_t[s],   D_t = ā² + p̄ λ_{t-1}
//   λ_t = λ_{t-1}/D_t + φ_t   (= ((1 + p̄φ_t)λ_{t-1} + ā²φ_t)/D_t, the Möbius map [[1+p̄φ, ā²φ], [p̄, ā²]])
//   η_t = (ā/D_t) η_{t-1} + r_t                                    (affine given λ)
//   y_t[m] = Σ_s q_t[s] η_t/λ_t,   y_var_t[m] = Σ_s q_t[s]²/λ_t
// (λ₀, η₀) is the carried state (the posterior before the first token; default 1, 0) and
// (λ_L, η_L) the carry-out, so that running a sequence in chunks, each starting from the
// previous chunk's carry-out, gives the same outputs as running it whole.
//
// Work is split over (b, m) channels when there are enough of them to occupy every thread:
// each channel then runs the sequential scan of its operators applied to its state (the step
// loop above, all S slots side by side). With fewer channels than threads and long sequences,
// each channel's time axis is split instead: λ is an engine scan of scan::Mobius2Op, η one of
// scan::AffineOp with leaves built from λ, and the adjoints one reverse scan of 2×2
// lower-triangular affine maps (kla/README.md), all on the engine's threaded backend.
// No [B, L, M, S] tensor is ever formed: the backward keeps the states at checkpoints every
// `checkpoint_interval` tokens per channel and recomputes the states in between.
#pragma once

#include <cstddef>

#include "kalmanscan/kla/tensors.hpp"

namespace kalmanscan::kla {

/// How a channel's time axis is processed.
enum class TimeSplit {
  automatic,  ///< split time only when there are fewer channels than threads and L is long
  never,      ///< one thread per channel, step by step
  always,     ///< every channel time-parallel on the engine's threaded backend
};

struct Options {
  unsigned threads = 0;  ///< 0: kalmanscan::scan::default_threads()
  TimeSplit time_split = TimeSplit::automatic;
  std::size_t checkpoint_interval = 0;  ///< backward, step by step: tokens between checkpoints; 0 = ⌈√L⌉
};

/// Sequence length from which TimeSplit::automatic splits the time axis of a channel.
inline constexpr std::size_t time_split_min_length = 8192;

/// Forward pass: writes y, y_var and, when given, the final state (lam_T, eta_T).
/// T = float or double is the arithmetic and storage type. Throws Error for tensors of the
/// wrong size or inputs outside their domain (tensors.hpp).
template <class T>
void forward(const Inputs<T>& in, const Outputs<T>& out, const Options& options = {});

/// Exact backward pass: the gradients of the loss Σ cot·out (out = y, y_var, lam_T, eta_T; absent
/// cotangents are zero) with respect to every input, overwritten into `grad`. Recomputes the
/// forward states from checkpoints; needs no saved forward outputs. Throws Error as forward does.
template <class T>
void backward(const Inputs<T>& in, const Cotangents<T>& cot, const Gradients<T>& grad, const Options& options = {});

}  // namespace kalmanscan::kla
