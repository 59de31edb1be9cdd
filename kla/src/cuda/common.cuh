// Pieces shared by the KLA CUDA kernels (split.cuh, wide.cuh): device tensors, the double-buffered
// round pipeline, unrolled token loops. Per-slot arithmetic: ../step.hpp (shared with the CPU).
#pragma once

#include <cuda_pipeline.h>
#include <cuda_runtime.h>

#include <cstddef>

namespace kalmanscan::kla::cuda::detail {

constexpr int rounds_per_checkpoint = 16;  ///< rounds between the checkpoints the backward sweeps itself

struct DeviceIn {
  const float *v, *lam_v, *k, *q, *a_bar, *p_bar, *lam0, *eta0;  ///< lam0, eta0 may be null
};
struct DeviceOut {
  float *y, *y_var, *lam_T, *eta_T;  ///< lam_T, eta_T may be null
};
struct DeviceCot {
  const float *y, *y_var, *lam_T, *eta_T;  ///< any may be null (zero)
};
struct DeviceGrad {
  float *v, *lam_v, *k, *q, *a_bar, *p_bar, *lam0, *eta0;  ///< lam0, eta0 may be null
};

/// Rounds of `round` tokens covering L tokens, and the backward's checkpoints over them, one per
/// `per` rounds.
__host__ __device__ inline long long round_count(long long L, int round) { return (L + round - 1) / round; }
__host__ __device__ inline long long checkpoint_count(long long L, int round, int per = rounds_per_checkpoint) {
  return (round_count(L, round) + per - 1) / per;
}

/// Runs the `count` rounds first, first + dir, … (dir = ±1) through a two-buffer pipeline:
/// stage(which, r) issues the asynchronous copies (cp.async) of round r into buffer `which`
/// (0 or 1), and body(which, r) computes round r from that buffer while the next round's copies
/// are in flight. Contains __syncthreads (before and after body, which may synchronise too):
/// every thread of the block calls it. (A third buffer, to drop the barrier after body, measured
/// no faster on the H200.)
template <class Stage, class Body>
__device__ inline void pipelined_rounds(long long first, long long count, int dir, Stage stage, Body body) {
  if (count <= 0) return;
  stage(0, first);
  __pipeline_commit();
  for (long long i = 0; i < count; ++i) {
    if (i + 1 < count) stage(int((i + 1) & 1), first + dir * (i + 1));
    __pipeline_commit();  // empty after the last round: round i's group is always the second newest
    __pipeline_wait_prior(1);
    __syncthreads();
    body(int(i & 1), first + dir * i);
    __syncthreads();  // this buffer is refilled for round i + 2
  }
}

/// Calls f(k) for k = 0 … n−1 (n ≤ K), unrolled; without bounds checks when n = K (every round
/// but the last), so that the compiler can interleave consecutive tokens' independent work.
template <int K, class F>
__device__ __forceinline__ void for_tokens(int n, F&& f) {
  if (n == K) {
#pragma unroll
    for (int k = 0; k < K; ++k) f(k);
  } else {
#pragma unroll
    for (int k = 0; k < K; ++k)
      if (k < n) f(k);
  }
}

/// The same for k = n−1 … 0.
template <int K, class F>
__device__ __forceinline__ void for_tokens_reverse(int n, F&& f) {
  if (n == K) {
#pragma unroll
    for (int k = K - 1; k >= 0; --k) f(k);
  } else {
#pragma unroll
    for (int k = K - 1; k >= 0; --k)
      if (k < n) f(k);
  }
}

/// Tokens of round r (of `round` tokens) that lie before L: 0 … round.
__device__ inline int tokens_in_round(long long L, long long r, int round) {
  const long long left = L - r * round;
  return left <= 0 ? 0 : left < round ? int(left) : round;
}

}  // namespace kalmanscan::kla::cuda::detail
