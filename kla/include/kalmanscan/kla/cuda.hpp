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
// approximation (≤ 1 ulp). The backward recomputes states from checkpoints (one per 16 rounds per
// slot, in the scratch) and never writes a [B, L, M, S] tensor.
#pragma once

#include <cstddef>

#include "kalmanscan/kla/tensors.hpp"
#include "kalmanscan/scan/error.hpp"

namespace kalmanscan::kla::cuda {

/// Largest state size S the kernels support.
inline constexpr std::size_t max_slots = 128;

/// Which kernels run (above): `automatic` picks `wide` when the shape has enough blocks to fill
/// the GPU, else `split`. Both give the same results; tests force each. `wide_previous`: the wide
/// kernels with the backward of commit a9b6b93 (three forward steps per token, its adjoint
/// arithmetic), kept only to be measured against the current one in the same run.
enum class Kernels { automatic, wide, split, wide_previous };

/// Forward pass on device tensors: writes y, y_var and, when given, lam_T, eta_T.
scan::Status forward(const Inputs<float>& d_in, const Outputs<float>& d_out, void* stream,
                     Kernels kernels = Kernels::automatic);

/// Bytes of scratch the backward needs for this shape (the caller's only device memory besides
/// the tensors: O(B·M·S·(L/64 + 16)) floats, never [B, L, M, S]).
std::size_t backward_scratch_bytes(const Shape& shape, Kernels kernels = Kernels::automatic);

/// Exact backward on device tensors (gradients overwritten, like kla::backward).
scan::Status backward(const Inputs<float>& d_in, const Cotangents<float>& d_cot, const Gradients<float>& d_grad,
                      void* d_scratch, std::size_t scratch_bytes, void* stream, Kernels kernels = Kernels::automatic);

/// Convenience for tests and tools: host tensors in and out (validates values, allocates device
/// memory, copies, runs, copies back, synchronises, frees).
scan::Status forward_host(const Inputs<float>& in, const Outputs<float>& out, Kernels kernels = Kernels::automatic);
scan::Status backward_host(const Inputs<float>& in, const Cotangents<float>& cot, const Gradients<float>& grad,
                           Kernels kernels = Kernels::automatic);

}  // namespace kalmanscan::kla::cuda
