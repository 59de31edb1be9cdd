// Block-level building blocks for consumers that scan several sequences side by side and
// combine them at every step (DESIGN.md §2): KLA's readout sums over the S slots of a channel
// at each token, inside the block, without atomics.
//
// A tile is Lanes independent sequences ("lanes", e.g. the slots of one channel) of a common
// length n. Time is split into Chunks consecutive chunks, one thread per (chunk, lane):
//   thread t: lane = t % Lanes, chunk = t / Lanes;   blockDim.x must be Lanes · Chunks.
// Lanes is a power of two ≤ 32, so the lanes of one chunk sit in one warp and advance through
// the same time steps together; `lane_sum` reduces a value across them with shuffles — the
// cross-lane hook. The pieces, usable on their own (KLA chains two scans with them):
//   chunk_bounds   the time range of this thread's chunk;
//   reduce_chunk   fold the chunk into its aggregate;
//   chunk_carries  exchange aggregates through shared memory: the carry into this chunk (from
//                  the chunks before it, or after it for reverse scans) and the lane's total;
//   lane_sum       sum a value over the lanes of this chunk.
// `run` strings them together for one operator: reduce, exchange, rescan with a step callback.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "kalmanscan/scan/operator.hpp"

namespace kalmanscan::scan::cuda {

template <class Op, int Lanes, int Chunks>
struct TileScan {
  static_assert(Lanes >= 1 && Lanes <= 32 && (Lanes & (Lanes - 1)) == 0, "Lanes must be a power of two <= 32");
  static_assert(Chunks >= 1, "at least one chunk");
  static constexpr int threads = Lanes * Chunks;
  using element = element_t<Op>;

  struct TempStorage {
    element aggs[Chunks][Lanes];
  };

  __device__ static int lane() { return int(threadIdx.x) % Lanes; }
  __device__ static int chunk() { return int(threadIdx.x) / Lanes; }

  /// This thread's chunk of [0, n): [lo, hi), possibly empty; every chunk but the last has
  /// `steps` = ceil(n / Chunks) elements, so all threads may loop `steps` times in lockstep.
  __device__ static void chunk_bounds(std::size_t n, std::size_t& lo, std::size_t& hi, std::size_t& steps) {
    steps = (n + Chunks - 1) / Chunks;
    lo = steps * std::size_t(chunk());
    hi = lo + steps < n ? lo + steps : n;
    if (lo > n) lo = n;
  }

  /// x_lo ∘ … ∘ x_{hi-1} for this lane, identity() when the chunk is empty.
  template <class Leaf>
  __device__ static element reduce_chunk(Leaf& leaf, std::size_t lo, std::size_t hi) {
    element acc = Op::identity();
    for (std::size_t t = lo; t < hi; ++t) acc = Op::combine(acc, leaf(lane(), t));
    return acc;
  }

  /// Exchanges chunk aggregates. Returns the carry into this thread's chunk: carry_in ∘ (chunks
  /// before it) forward, (chunks after it) ∘ carry_in reverse. If `total` is non-null, the
  /// lane's aggregate including carry_in is written to it (by the lane's chunk-0 thread).
  /// carry_in may be null (identity). Contains __syncthreads: call from all threads.
  __device__ static element chunk_carries(TempStorage& s, const element& agg, const element* carry_in, Direction dir,
                                          element* total = nullptr) {
    const int l = lane(), c = chunk();
    s.aggs[c][l] = agg;
    __syncthreads();
    if (c == 0) {  // one thread per lane turns aggregates into exclusive carries, in time order
      element acc = carry_in ? *carry_in : Op::identity();
      if (dir == Direction::forward) {
        for (int k = 0; k < Chunks; ++k) {
          const element a = s.aggs[k][l];
          s.aggs[k][l] = acc;
          acc = Op::combine(acc, a);
        }
      } else {
        for (int k = Chunks - 1; k >= 0; --k) {
          const element a = s.aggs[k][l];
          s.aggs[k][l] = acc;
          acc = Op::combine(a, acc);
        }
      }
      if (total) *total = acc;
    }
    __syncthreads();
    const element carry = s.aggs[c][l];
    __syncthreads();  // storage may be reused after return
    return carry;
  }

  /// Sum of v over the Lanes threads of this chunk (all of them must call it together).
  template <class T>
  __device__ static T lane_sum(T v) {
    const unsigned warp_lane = threadIdx.x % 32u;
    const unsigned group_mask =
        Lanes == 32 ? 0xffffffffu : (((1u << Lanes) - 1u) << (warp_lane & ~unsigned(Lanes - 1)));
    for (int offset = Lanes / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(group_mask, v, offset);
    return v;
  }

  /// Scan of every lane: leaf(lane, t) → element; step(lane, t, prefix) is called for every t in
  /// scan order within each chunk, lanes of a chunk in lockstep (so step may call lane_sum).
  /// carry_in / total: per-lane pointers as in chunk_carries (total[lane] written if non-null).
  template <class Leaf, class Step>
  __device__ static void run(TempStorage& s, std::size_t n, Direction dir, Leaf leaf, Step step,
                             const element* carry_in, element* total) {
    std::size_t lo, hi, steps;
    chunk_bounds(n, lo, hi, steps);
    const element agg = reduce_chunk(leaf, lo, hi);
    element acc = chunk_carries(s, agg, carry_in ? carry_in + lane() : nullptr, dir, total ? total + lane() : nullptr);
    if (dir == Direction::forward) {
      for (std::size_t t = lo; t < hi; ++t) {
        acc = Op::combine(acc, leaf(lane(), t));
        step(lane(), t, acc);
      }
    } else {
      for (std::size_t t = hi; t-- > lo;) {
        acc = Op::combine(leaf(lane(), t), acc);
        step(lane(), t, acc);
      }
    }
  }
};

}  // namespace kalmanscan::scan::cuda
