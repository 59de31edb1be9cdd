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

/// Whether (T, N) is compiled into the CUDA library; must match src/cuda/*.cu. The fast-path
/// sizes 2, 4, 6, 12 in float always, in double with KALMANSCAN_CUDA_FULL_INSTANTIATIONS; the
/// sizes 8, 16, 24, 32 only with KALMANSCAN_CUDA_LARGE_FILTER_SIZES (off by default: nvcc unrolls
/// the fixed-size solves fully and takes tens of minutes on them).
template <class T, int N>
constexpr bool compiled() {
  constexpr bool fast = N == 2 || N == 4 || N == 6 || N == 12;
  constexpr bool large = (N == 8 || N == 16 || N == 24 || N == 32) && KALMANSCAN_CUDA_LARGE_FILTER_SIZES;
  constexpr bool type = sizeof(T) == 4 || KALMANSCAN_CUDA_FULL_INSTANTIATIONS;
  return KALMANSCAN_HAS_CUDA && (fast || large) && type;
}

/// Filtered means/covariances (padded) into host arrays; *failed_step receives the first local
/// step whose prefix broke down (or steps when none did). Synchronous.
template <class T, int N>
scan::Status filter(const FilterProblem<T>& problem, T* mean, T* cov, std::size_t* failed_step);

/// Smoothed means/covariances (padded) into host arrays. Synchronous.
template <class T, int N>
scan::Status smooth(const SmoothProblem<T>& problem, T* mean, T* cov);

}  // namespace kalmanscan::filters::gpu
