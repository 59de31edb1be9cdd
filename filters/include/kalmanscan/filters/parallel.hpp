// The parallel-in-time Kalman filter and RTS smoother on the scan engine (Särkkä &
// García-Fernández 2021; elements and operators in parallel_elements.hpp).
//
//   filter:   a forward scan of filtering elements, the first built from the prior (or, for a
//             continued chunk, an ordinary element after the carry-in posterior (0, m, P, 0, 0));
//             a step without measurements is a prediction-only element.
//   smoother: a reverse scan of smoothing elements built from the filtered states, the last
//             from the last filtered state (or the reverse carry-in (0, mˢ, Pˢ) of the step after).
//   log-likelihood and NIS: a map over the steps after the scan, each step's innovation from
//             the predicted state of the previous filtered one (kalman.hpp innovate), summed —
//             exact, and no step inverts C or F P Fᵀ + Q.
//
// State sizes: the operators are compiled for the sizes in parallel_state_sizes; a model of
// size n runs on the smallest compiled N ≥ n, padded with states that are exactly zero (zero
// transition, noise, prior and measurement columns), which leaves the first n components
// unchanged. Larger models (or any model, with ParallelOptions::dynamic_size) run the same
// elements and operators on the CPU over Eigen heap matrices of size n (the dynamic path:
// storage reused per thread, leaves and combines written in place). Measurement sizes are
// free: measurements enter through their information Hᵀ R⁻¹ H, Hᵀ R⁻¹ (z - d), prepared in
// double per step (R factorised once per sensor model).
#pragma once

#include <array>
#include <optional>

#include "kalmanscan/filters/model.hpp"
#include "kalmanscan/filters/smooth.hpp"
#include "kalmanscan/filters/trajectory.hpp"
#include "kalmanscan/scan/scan.hpp"

namespace kalmanscan::filters {

/// The compiled state sizes of the parallel forms (fast paths 2, 4, 6, 12; the others serve
/// every size up to 64 by padding).
inline constexpr std::array<int, 10> parallel_state_sizes{2, 4, 6, 8, 12, 16, 24, 32, 48, 64};

struct ParallelOptions {
  /// sequential or threaded scan (or automatic); cuda runs the same elements on the GPU (the
  /// leaf inputs are prepared on the host, NIS/log-likelihood and cross-covariances are host
  /// maps; every state size up to 32); Error when built without CUDA, for a larger state, or
  /// without a device.
  scan::Backend backend = scan::Backend::threaded;
  unsigned threads = 0;                             ///< 0 = all cores
  bool diagnostics = true;                          ///< compute NIS and the log-likelihood
  /// cuda, float: build and combine the elements in double, keep inputs and results in float
  /// (closer to the double result, for double arithmetic's cost: docs/BENCHMARKS.md).
  bool mixed_precision = false;
  /// CPU backends: run the dynamic-size path even where a compiled size exists (tests and
  /// benchmarks compare the two); states above parallel_state_sizes.back() always take it.
  bool dynamic_size = false;
};

/// Parallel filter of a run of steps, from the prior (no carry_in) or continuing a carry; same
/// contract and results (to rounding) as kalman_filter in kalman.hpp. T = float or double.
template <class T>
BasicTrajectory<T> parallel_filter(const Model& model, const Measurements& meas, const std::optional<StepState>& carry_in,
                                   StepState* carry_out, const ParallelOptions& options = {});

/// Parallel RTS smoother of a filtered run, in place; same contract as rts_smooth in rts.hpp.
template <class T>
void parallel_smooth(const Model& model, const Measurements& meas, BasicTrajectory<T>& trajectory,
                     const std::optional<StepState>& after, bool cross, const ParallelOptions& options = {});

}  // namespace kalmanscan::filters
