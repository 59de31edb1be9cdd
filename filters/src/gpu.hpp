// Host-facing interface of the private CUDA library kalmanscan_filters_cuda (no CUDA header).
// The CPU side prepares the per-step leaf inputs; the library runs the element operators of
// parallel_elements.hpp on the GPU and returns the filtered/smoothed means and covariances.
//
// Paths, chosen by the state size n (1 … 32): the compiled fast paths n = 2, 4, 6 (each thread
// filters/smooths a chunk of steps sequentially from the chunk's start state, found by a scan
// over the chunks' elements: cuda/fixed_run.cuh; float always, double and mixed precision with
// KALMANSCAN_CUDA_FULL_INSTANTIATIONS); every other n (and the variants not
// compiled) on the group path (one thread block per element combine, n chosen at run time;
// cuda/group_run.cuh).
//
// Layout: arrays are dense in n (row-major n × n matrices, n-vectors), one entry per local
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
  const T* c;              ///< c + B u
  bool invariant = false;  ///< one entry (F, Q, c) for every step instead of one per step
};

template <class T>
struct FilterProblem {
  std::size_t steps = 0;
  Transitions<T> into{};
  const T* Psi = nullptr;  ///< Σ Hᵀ R⁻¹ H per step (one for every step when Psi_invariant)
  const T* psi = nullptr;  ///< Σ Hᵀ R⁻¹ (z - d) per step
  const T* m = nullptr;    ///< prior mean (fresh) or carry posterior mean (continued)
  const T* P = nullptr;
  bool continued = false;
  bool Psi_invariant = false;
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

struct DeviceOptions {
  bool mixed = false;     ///< T = float: every step computed in double, stored in float (the fast
                          ///< paths build and scan chunk elements in double either way)
  void* stream = nullptr; ///< cudaStream_t (null: the default stream)
  std::size_t fast_chunk = 0;  ///< fast paths: steps per thread (0: chosen by the length; for benchmarks)
  // Fast-path variants under measurement (issue 3; off = the default code, docs/BENCHMARKS.md):
  bool fast_float_chunks = false;  ///< float arithmetic (not mixed): the chunks' elements and their scan
                                   ///< (phases 1–2) in float too, instead of double
  bool fast_vector_io = false;     ///< steps' rows (ψ, means, covariances) read and written by 16-byte
                                   ///< vector accesses where their length and the arrays' alignment allow
  bool fast_register_scan = false; ///< the filter's scan over chunk elements with FilterOp's solves in
                                   ///< registers (fast::RegisterSolver) instead of local memory
  bool fast_one_solve = false;     ///< phase 1 of the filter with one LU per step instead of two
                                   ///< (fast::ChunkFilter's OneSolve)
  bool fast_reciprocal_pivots = false;  ///< the smoother's steps' LDLᵀ solves with one division per
                                        ///< pivot (scan::ldlt_solve's Reciprocal)
};

/// The largest state size with a GPU path.
inline constexpr int max_state_size = 32;

/// Whether the build has a GPU path for state size N in T.
template <class T, int N>
constexpr bool compiled() {
  return KALMANSCAN_HAS_CUDA && N >= 1 && N <= max_state_size;
}

/// Whether (T, n, mixed) runs on a compiled fast path (else on the group path).
template <class T>
bool fast_path(int n, bool mixed);

/// Filtered means/covariances of a problem whose arrays are in DEVICE memory, into device
/// arrays; *failed_step receives the first local step whose prefix broke down (a zero pivot,
/// or values not finite in T), steps when none did. Synchronises the stream before returning.
template <class T>
scan::Status filter_device(int n, const FilterProblem<T>& problem, T* mean, T* cov, std::size_t* failed_step,
                           const DeviceOptions& options = {});

/// Smoothed means/covariances (device arrays, as filter_device); *failed_step: the first local
/// step whose smoothed values are not finite in T, or steps.
template <class T>
scan::Status smooth_device(int n, const SmoothProblem<T>& problem, T* mean, T* cov, std::size_t* failed_step,
                           const DeviceOptions& options = {});

/// The same with every array in HOST memory (uploaded, run, downloaded).
template <class T>
scan::Status filter(int n, const FilterProblem<T>& problem, T* mean, T* cov, std::size_t* failed_step,
                    const DeviceOptions& options = {});
template <class T>
scan::Status smooth(int n, const SmoothProblem<T>& problem, T* mean, T* cov, std::size_t* failed_step,
                    const DeviceOptions& options = {});

}  // namespace kalmanscan::filters::gpu
