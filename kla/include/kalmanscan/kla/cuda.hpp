// The KLA scan on the GPU (fp32), host-facing: no CUDA header is included, so a CPU-only
// consumer can call these and gets Status{"built without CUDA"} or "no CUDA device" back.
// Same equations, tensors, floors and semantics as kla.hpp (DESIGN.md §4).
//
// Entry points with device pointers (CUB style) take the tensors as spans over DEVICE memory
// (their sizes are checked, their values are not: the host wrappers validate values), an
// explicit stream (a cudaStream_t passed as void*; nullptr = the default stream) and, for the
// backward, caller-provided scratch whose size comes from backward_scratch_bytes. They are
// asynchronous and report launch errors through the returned Status; bad sizes throw Error.
//
// Kernels (kla/src/cuda/): one block per batch entry and tile of channels, the time axis in
// rounds of tokens staged in shared memory (S padded to a power of two ≤ 128). When there are
// enough blocks for every multiprocessor, the wide kernels run: each of a block's 128 threads
// steps G consecutive slots of one channel (G = 4; 8 from 64 slots; 1 below 4) through the whole
// sequence, in registers — G independent dependency chains per thread, a token's key and query
// read once per G slots, the readout summed over G slots before the block's sum. With too few
// blocks, the split kernels put one (channel, slot) on each of 128 lanes and split each round of
// 32 tokens into 4 chunks, one per thread row: reduce chunk → scan the chunk aggregates across
// the block → rescan the chunk. The readout's sum over slots and the v̄, Λv̄ (over slots) and k̄,
// q̄ (over the tile's channels) sums happen in shared memory in a fixed order; only the sums over
// tiles of k̄, q̄ (and over b of ā̄, p̄̄) are combined across blocks, with atomic adds, so those
// gradients may differ in the last bits from run to run. fp32 reciprocals use the hardware
// approximation (≤ 1 ulp). The backward recomputes states from checkpoints and never writes a
// [B, L, M, S] tensor. Its checkpoints are either swept by the backward itself (one per 16 rounds
// per slot, in the scratch) or, with the wide kernels, saved by the forward (SavedStates: every
// `spacing` tokens), which spares the backward its sweep and, at the spacing of one backward
// round, its span recompute too: each token is then stepped forward once in the forward and
// once in the backward, instead of once and three times.
#pragma once

#include <cstddef>

#include "kalmanscan/kla/tensors.hpp"
#include "kalmanscan/scan/error.hpp"

namespace kalmanscan::kla::cuda {

/// Largest state size S the kernels support.
inline constexpr std::size_t max_slots = 128;

/// Which kernels run (above): `automatic` picks `wide` when the shape has enough blocks to fill
/// the GPU, else `split`. Both give the same results; tests force each.
enum class Kernels { automatic, wide, split };

/// States the forward saves for the backward: every slot's (λ, η) before every `spacing`-th
/// token, in device memory that the caller owns from the forward to the backward (opaque; its
/// size from saved_states_bytes). Only the wide kernels save states (Kernels::wide, or automatic
/// where it picks them; for the others saved_states_bytes is 0 and the buffer is left unused).
/// `spacing`: a power of two from 8 to 256 tokens; 0 = default_spacing. Smaller spacings cost
/// more memory, 2·S/spacing [B, L, M] float tensors (S rounded up to a power of two), and spare
/// more of the backward's recompute (none at all at one backward round: 8 tokens, 4 from 64 slots)
/// — but on the H200 the forward that writes them costs more than the backward saves
/// (docs/BENCHMARKS.md, KLA run 11), hence the default's 128.
struct SavedStates {
  void* data = nullptr;  ///< device memory of saved_states_bytes(shape, kernels, spacing) bytes; null: none
  std::size_t bytes = 0;
  int spacing = 0;
};

/// The default spacing for sequences of L tokens: 128 tokens (the fastest forward+backward
/// measured at S = 16, and the least memory: 2·S/128 [B, L, M] float tensors, a quarter of one at
/// S = 16), or L rounded up to a power of two (at least 8) when that is shorter, so that a short
/// sequence's backward keeps no more span scratch than its rounds need.
inline int default_spacing(std::size_t L) {
  int spacing = 8;
  while (spacing < 128 && std::size_t(spacing) < L) spacing *= 2;
  return spacing;
}

/// Bytes of saved states the forward writes for this shape, kernels and spacing (0: the kernels
/// that run save none, and the backward sweeps its own checkpoints). Throws Error for a bad spacing.
std::size_t saved_states_bytes(const Shape& shape, Kernels kernels = Kernels::automatic, int spacing = 0);

/// Forward pass on device tensors: writes y, y_var and, when given, lam_T, eta_T; and, when
/// saved.data is not null (saved.bytes ≥ saved_states_bytes), the states for the backward.
scan::Status forward(const Inputs<float>& d_in, const Outputs<float>& d_out, void* stream,
                     Kernels kernels = Kernels::automatic, const SavedStates& saved = {});

/// Bytes of scratch the backward needs for this shape (the caller's only device memory besides
/// the tensors and the saved states: O(B·M·S·(L/64 + 16)) floats without saved states, one span's
/// round starts, O(B·M·S·spacing/4), with them; never [B, L, M, S]). `saved`: whether the
/// backward will be given states saved by the forward with this spacing.
std::size_t backward_scratch_bytes(const Shape& shape, Kernels kernels = Kernels::automatic, bool saved = false,
                                   int spacing = 0);

/// Exact backward on device tensors (gradients overwritten, like kla::backward). `saved`: the
/// states that the forward saved from the same inputs with the same kernels and spacing, or none
/// (data null: the backward sweeps its own checkpoints).
scan::Status backward(const Inputs<float>& d_in, const Cotangents<float>& d_cot, const Gradients<float>& d_grad,
                      void* d_scratch, std::size_t scratch_bytes, void* stream, Kernels kernels = Kernels::automatic,
                      const SavedStates& saved = {});

/// Convenience for tests and tools: host tensors in and out (validates values, allocates device
/// memory, copies, runs, copies back, synchronises, frees).
scan::Status forward_host(const Inputs<float>& in, const Outputs<float>& out, Kernels kernels = Kernels::automatic);
scan::Status backward_host(const Inputs<float>& in, const Cotangents<float>& cot, const Gradients<float>& grad,
                           Kernels kernels = Kernels::automatic);
/// Forward then backward in one device session, the backward from the states the forward saved
/// with this spacing (0 = default_spacing).
scan::Status forward_backward_host(const Inputs<float>& in, const Outputs<float>& out, const Cotangents<float>& cot,
                                   const Gradients<float>& grad, Kernels kernels = Kernels::automatic,
                                   int spacing = 0);

}  // namespace kalmanscan::kla::cuda
