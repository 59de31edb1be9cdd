// Host-facing interface of the private CUDA library kalmanscan_filters_cuda (no CUDA header:
// the CPU side prepares the per-step leaf inputs in plain host arrays, the library uploads them,
// runs the same element operators (parallel_elements.hpp) through the engine's device scan and
// copies the prefixes back). Without CUDA, gpu_none.cpp answers every call with an error Status.
//
// Layout: all arrays are padded to N (row-major N × N matrices, N-vectors), one entry per local
// step. `into` holds the transition into step t (t = 0: from the carry, unused for a fresh
// sequence); `out` the transition out of step t (to t+1, or to the state after the chunk; the
// last entry is unused when there is none).
#pragma once

#include <cstddef>

#include "kalmanscan/config.hpp"
#include "kalmanscan/scan/error.hpp"

namespace kalmanscan::filters::gpu {

template <class T>
struct Transitions {
  const T* F;
  const T* Q;
  const T* c;  ///< c + B u
};

template <class T>
struct FilterProblem {
  std::size_t steps = 0;
  Transitions<T> into{};
  const T* Psi = nullptr;  ///< Σ Hᵀ R⁻¹ H per step
  const T* psi = nullptr;  ///< Σ Hᵀ R⁻¹ (z - d) per step
  const T* m = nullptr;    ///< prior mean (fresh) or carry posterior mean (continued)
  const T* P = nullptr;
  bool continued = false;
};

template <class T>
struct SmoothProblem {
  std::size_t steps = 0;
  Transitions<T> out{};
  const T* filtered_mean = nullptr;
  const T* filtered_cov = nullptr;
  const T* after_mean = nullptr;  ///< null: the chunk ends the log
  const T* after_cov = nullptr;
};

/// Whether (T, N) is compiled into the CUDA library (float always; double unless CI's reduced
/// list, KALMANSCAN_CUDA_FULL_INSTANTIATIONS = 0). N ∈ {2, 4, 6, 8, 12, 16, 24, 32}.
template <class T, int N>
constexpr bool compiled() {
  constexpr bool size = N == 2 || N == 4 || N == 6 || N == 8 || N == 12 || N == 16 || N == 24 || N == 32;
  constexpr bool type = sizeof(T) == 4 || KALMANSCAN_CUDA_FULL_INSTANTIATIONS;
  return KALMANSCAN_HAS_CUDA && size && type;
}

/// Filtered means/covariances (padded) into host arrays; *failed_step receives the first local
/// step whose prefix broke down (or steps when none did). Synchronous.
template <class T, int N>
scan::Status filter(const FilterProblem<T>& problem, T* mean, T* cov, std::size_t* failed_step);

/// Smoothed means/covariances (padded) into host arrays. Synchronous.
template <class T, int N>
scan::Status smooth(const SmoothProblem<T>& problem, T* mean, T* cov);

}  // namespace kalmanscan::filters::gpu
