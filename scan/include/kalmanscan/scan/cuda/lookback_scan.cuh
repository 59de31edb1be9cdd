// Single-pass scan of small elements with decoupled look-back (Merrill & Garland, "Single-pass
// Parallel Prefix Scan with Decoupled Look-back", 2016): every element is read once and written
// once, so the scan runs near the speed of a copy. One chain of tiles per sequence of a batch,
// so batched scans need no keys.
//
// A block scans one tile of `tile` consecutive scan positions of one sequence:
//   1. load the tile striped (coalesced) into shared memory, read it back blocked (each thread
//      owns `items` consecutive positions) and fold each thread's items;
//   2. scan the thread aggregates across the block (warp shuffles, then the warp totals);
//   3. publish the tile's aggregate, then look back over the predecessor tiles of the same
//      sequence (warp 0, 32 tiles at a time) until one has published its inclusive prefix;
//      publish this tile's inclusive prefix;
//   4. rescan the items from their exclusive prefixes and store them back through shared
//      memory, striped, to the sink.
// Tiles take their index from an atomic counter in launch order, so every tile a block waits for
// has started: the look-back cannot deadlock.
//
// Combines are in scan order (TimeOrderCombine swaps the arguments back for reverse scans), so
// the operator's associativity — not commutativity — is all that is used.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kalmanscan/scan/cuda/adapters.cuh"

namespace kalmanscan::scan::cuda::detail {

/// Tile shape for elements of type E: 256 threads, about 128 bytes of elements per thread.
template <class E>
struct LookbackShape {
  static constexpr int threads = 256;
  static constexpr int warps = threads / 32;
  static constexpr int items = 128 / int(sizeof(E)) < 2 ? 2 : (128 / int(sizeof(E)) > 16 ? 16 : 128 / int(sizeof(E)));
  static constexpr int tile = threads * items;
  /// Shared-memory slot of tile position j: one element of padding after each thread's items
  /// keeps the blocked reads free of bank conflicts.
  __device__ static constexpr int slot(int j) { return j + j / items; }
  static constexpr int slots = tile + threads;
};

/// Per-tile state of the look-back: a flag and two values per tile, and the tile counter.
enum : unsigned { tile_empty = 0, tile_aggregate = 1, tile_inclusive = 2 };

template <class E>
struct TileStates {
  unsigned* counter;  ///< next tile index to hand out
  unsigned* flags;    ///< tile_empty / tile_aggregate / tile_inclusive
  E* aggregates;
  E* inclusives;

  static std::size_t align(std::size_t bytes) { return (bytes + 255) / 256 * 256; }
  /// Bytes of scratch for `tiles` tiles; the counter and flags come first (zeroed per scan).
  static std::size_t flag_bytes(std::size_t tiles) { return align((tiles + 1) * sizeof(unsigned)); }
  static std::size_t bytes(std::size_t tiles) { return flag_bytes(tiles) + 2 * align(tiles * sizeof(E)); }
  static TileStates carve(void* scratch, std::size_t tiles) {
    auto* p = static_cast<unsigned char*>(scratch);
    TileStates s;
    s.counter = reinterpret_cast<unsigned*>(p);
    s.flags = s.counter + 1;
    s.aggregates = reinterpret_cast<E*>(p + flag_bytes(tiles));
    s.inclusives = reinterpret_cast<E*>(p + flag_bytes(tiles) + align(tiles * sizeof(E)));
    return s;
  }
};

/// Reads an element another block published, from L2 (L1 is not coherent between SMs).
template <class E>
__device__ E load_published(const E* p) {
  static_assert(sizeof(E) % 4 == 0, "elements are whole 32-bit words");
  unsigned words[sizeof(E) / 4];
  const auto* src = reinterpret_cast<const unsigned*>(p);
#pragma unroll
  for (int w = 0; w < int(sizeof(E) / 4); ++w) words[w] = __ldcg(src + w);
  E e;
  std::memcpy(&e, words, sizeof(E));
  return e;
}

/// Moves an element between lanes word by word; `shuffle` is one of the __shfl_*_sync intrinsics
/// applied to a 32-bit word.
template <class E, class Shuffle>
__device__ E shuffle_words(const E& e, Shuffle shuffle) {
  unsigned words[sizeof(E) / 4];
  std::memcpy(words, &e, sizeof(E));
#pragma unroll
  for (int w = 0; w < int(sizeof(E) / 4); ++w) words[w] = shuffle(words[w]);
  E out;
  std::memcpy(&out, words, sizeof(E));
  return out;
}
/// __shfl_down_sync / __shfl_up_sync of a whole element.
template <class E>
__device__ E shuffle_down(const E& e, unsigned delta) {
  return shuffle_words(e, [delta](unsigned w) { return __shfl_down_sync(0xffffffffu, w, delta); });
}
template <class E>
__device__ E shuffle_up(const E& e, unsigned delta) {
  return shuffle_words(e, [delta](unsigned w) { return __shfl_up_sync(0xffffffffu, w, delta); });
}

/// Warp 0: the exclusive prefix of tile k (> 0) of the sequence whose tiles start at `first`,
/// from its predecessors' published aggregates and inclusive prefixes. Valid in lane 0.
template <class Op, bool Reverse>
__device__ element_t<Op> look_back(const TileStates<element_t<Op>>& st, std::size_t first, long long k) {
  using E = element_t<Op>;
  const TimeOrderCombine<Op, Reverse> comb;
  const int lane = int(threadIdx.x % 32);
  E exclusive = Op::identity();
  for (long long window = k - 1;; window -= 32) {
    const long long t = window - lane;  // lane 0 looks at the nearest predecessor
    unsigned flag = tile_inclusive;     // before the sequence's first tile: identity, final
    E value = Op::identity();
    if (t >= 0) {
      const volatile unsigned* f = st.flags + first + std::size_t(t);
      while ((flag = *f) == tile_empty) __nanosleep(32);  // back off: spinning loads crowd L2
      __threadfence();
      value = load_published(flag == tile_inclusive ? st.inclusives + first + t : st.aggregates + first + t);
    }
    const unsigned inclusive_lanes = __ballot_sync(0xffffffffu, flag == tile_inclusive);
    const int count = inclusive_lanes ? __ffs(int(inclusive_lanes)) : 32;  // lanes [0, count) are used
    if (lane >= count) value = Op::identity();
    // Fold the window in scan order (lane count-1 earliest, lane 0 latest) as a tree: after the
    // step with offset d, lane l holds lanes [l, l + 2d) folded, so lane 0 ends with them all.
#pragma unroll
    for (unsigned d = 1; d < 32; d *= 2) value = comb(shuffle_down(value, d), value);
    exclusive = comb(value, exclusive);  // the window comes before what was folded so far
    if (inclusive_lanes) return exclusive;
  }
}

// At least 4 blocks per SM (≤ 64 registers a thread) keep enough loads in flight.
template <class Op, bool Reverse, class Leaf, class Sink>
__global__ void __launch_bounds__(LookbackShape<element_t<Op>>::threads, 4)
    lookback_scan_kernel(Leaf leaf, Sink sink, std::size_t length, std::size_t tiles_per_sequence,
                         const element_t<Op>* carry_in, element_t<Op>* carry_out, TileStates<element_t<Op>> st) {
  using E = element_t<Op>;
  using Shape = LookbackShape<E>;
  constexpr int items = Shape::items, threads = Shape::threads;
  const TimeOrderCombine<Op, Reverse> comb;
  // Raw storage: elements may have default member initialisers, which __shared__ forbids.
  constexpr std::size_t align = alignof(E) > 16 ? alignof(E) : 16;
  __shared__ alignas(align) unsigned char buffer_bytes[Shape::slots * sizeof(E)];
  __shared__ alignas(align) unsigned char totals_bytes[(Shape::warps + 1) * sizeof(E)];
  __shared__ unsigned tile_index;
  E* buffer = reinterpret_cast<E*>(buffer_bytes);
  E* warp_totals = reinterpret_cast<E*>(totals_bytes);
  E& tile_prefix = warp_totals[Shape::warps];
  const int t = int(threadIdx.x), lane = t % 32, warp = t / 32;

  if (t == 0) tile_index = atomicAdd(st.counter, 1u);
  __syncthreads();
  const std::size_t tile = tile_index, b = tile / tiles_per_sequence, k = tile % tiles_per_sequence;
  const std::size_t base = k * std::size_t(Shape::tile);  // first scan position of the tile
  const int valid = length - base < std::size_t(Shape::tile) ? int(length - base) : Shape::tile;
  auto index_of = [&](int j) { return Reverse ? length - 1 - (base + j) : base + j; };

  // 1. Striped load, blocked fold.
#pragma unroll
  for (int r = 0; r < items; ++r) {
    const int j = r * threads + t;
    if (j < valid) buffer[Shape::slot(j)] = leaf(b, index_of(j));
  }
  __syncthreads();
  E thread_total = Op::identity();
#pragma unroll
  for (int r = 0; r < items; ++r) {
    const int j = t * items + r;
    if (j < valid) thread_total = r == 0 ? buffer[Shape::slot(j)] : comb(thread_total, buffer[Shape::slot(j)]);
  }

  // 2. Block scan of the thread totals: inclusive within the warp, then the warps before.
  E inclusive = thread_total;
#pragma unroll
  for (unsigned d = 1; d < 32; d *= 2) {
    const E earlier = shuffle_up(inclusive, d);
    if (lane >= int(d)) inclusive = comb(earlier, inclusive);
  }
  E exclusive = shuffle_up(inclusive, 1);
  if (lane == 31) warp_totals[warp] = inclusive;
  __syncthreads();
  E before_warp = Op::identity();
  for (int w = 0; w < warp; ++w) before_warp = comb(before_warp, warp_totals[w]);
  exclusive = lane == 0 ? before_warp : comb(before_warp, exclusive);

  // 3. Look-back: the prefix of everything before this tile in its sequence.
  if (warp == 0) {
    E aggregate = warp_totals[0];
    for (int w = 1; w < Shape::warps; ++w) aggregate = comb(aggregate, warp_totals[w]);
    const std::size_t first = b * tiles_per_sequence;
    E prefix = Op::identity();
    if (k == 0) {
      if (carry_in) prefix = carry_in[b];
    } else {
      if (lane == 0) {
        st.aggregates[tile] = aggregate;
        __threadfence();
        atomicExch(st.flags + tile, unsigned(tile_aggregate));
      }
      prefix = look_back<Op, Reverse>(st, first, (long long)k);
    }
    if (lane == 0) {
      const E tile_inclusive_prefix = comb(prefix, aggregate);
      st.inclusives[tile] = tile_inclusive_prefix;
      __threadfence();
      atomicExch(st.flags + tile, unsigned(tile_inclusive));
      if (carry_out && k + 1 == tiles_per_sequence) carry_out[b] = tile_inclusive_prefix;
      tile_prefix = prefix;
    }
  }
  __syncthreads();

  // 4. Rescan the items (still in shared memory: fewer registers, more resident blocks) from
  // their prefixes, in place; write out striped.
  E acc = comb(tile_prefix, exclusive);
#pragma unroll
  for (int r = 0; r < items; ++r) {
    const int j = t * items + r;
    if (j < valid) {
      acc = comb(acc, buffer[Shape::slot(j)]);
      buffer[Shape::slot(j)] = acc;
    }
  }
  __syncthreads();
#pragma unroll
  for (int r = 0; r < items; ++r) {
    const int j = r * threads + t;
    if (j < valid) sink(b, index_of(j), buffer[Shape::slot(j)]);
  }
}

/// Tiles per sequence of a look-back scan.
template <class Op>
std::size_t lookback_tiles_per_sequence(std::size_t length) {
  constexpr std::size_t tile = LookbackShape<element_t<Op>>::tile;
  return (length + tile - 1) / tile;
}

/// Whether the look-back scan suits this shape: one sequence, or sequences of at least half a
/// tile (shorter ones leave most threads idle; CUB's scan by key packs them instead).
template <class Op>
bool lookback_suits(std::size_t batch, std::size_t length) {
  const std::size_t tiles = batch * lookback_tiles_per_sequence<Op>(length);
  return length > 0 && tiles < (1ull << 31) &&
         (batch == 1 || 2 * length >= std::size_t(LookbackShape<element_t<Op>>::tile));
}

/// CUB-style: with d_temp == nullptr only sets temp_bytes. Requires lookback_suits(batch, length).
template <class Op, bool Reverse, class Leaf, class Sink>
cudaError_t lookback_scan(void* d_temp, std::size_t& temp_bytes, Leaf leaf, Sink sink, std::size_t batch,
                          std::size_t length, const element_t<Op>* d_carry_in, element_t<Op>* d_carry_out,
                          cudaStream_t stream) {
  using States = TileStates<element_t<Op>>;
  const std::size_t per_sequence = lookback_tiles_per_sequence<Op>(length), tiles = batch * per_sequence;
  if (!d_temp) {
    temp_bytes = States::bytes(tiles);
    return cudaSuccess;
  }
  if (temp_bytes < States::bytes(tiles)) return cudaErrorInvalidValue;
  if (cudaError_t e = cudaMemsetAsync(d_temp, 0, States::flag_bytes(tiles), stream); e != cudaSuccess) return e;
  lookback_scan_kernel<Op, Reverse><<<unsigned(tiles), LookbackShape<element_t<Op>>::threads, 0, stream>>>(
      leaf, sink, length, per_sequence, d_carry_in, d_carry_out, States::carve(d_temp, tiles));
  return cudaGetLastError();
}

}  // namespace kalmanscan::scan::cuda::detail
