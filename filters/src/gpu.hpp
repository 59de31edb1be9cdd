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
// Workspace: every call's device scratch comes from the library's own memory pool, which keeps
// it for the next call (release_cached_memory() returns it).
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
};

/// Float arithmetic on the fast paths builds and scans the chunks' elements in float from this
/// many steps on, in double below (cuda/fast_io.cuh: with_chunk_arithmetic). Measured on the H200
/// (docs/BENCHMARKS.md, session 4, call 1; error = normwise distance of the means from double):
/// float elements cut filter + smoother at state 4 by 10 % at T = 10⁶ and 24 % at 10⁷, but only
/// 4 % (0.03 ms) at 10⁴, and they cost accuracy on short logs — the smoothed means of a float run
/// were 2.0× (state 2, 2.44e-7 vs 1.20e-7), 1.75× (4) and 1.7× (6) the float sequential
/// filter's error at T = 10⁴, the filtered means 4.3× at 10³ — against 1.35–1.4× at 10⁵ and
/// ≤ 1.25× at 10⁶–10⁷. The bound is 2×: 10⁵ is the shortest measured length that keeps
/// it at every state size with margin.
inline constexpr std::size_t float_chunks_min_steps = 100000;

/// Memory held by the library's workspace pool on the current device (cuda/device_buffers.cuh):
/// reserved from the driver, and in use by allocations not yet freed (0 between calls).
struct PoolMemory {
  std::size_t reserved = 0, used = 0;
};

/// Returns the workspace memory that the library's pools cache between calls (every device's
/// pool trimmed to 0) to the driver. The next call allocates afresh (its cost: the benchmark's
/// `cold` rows). It synchronises every device that has a pool first (a free can still be pending in
/// its stream); call it with no call of the library in flight on any stream.
scan::Status release_cached_memory();

/// The current device's pool's memory (zeros where it cannot be read).
PoolMemory pool_memory();

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
