// Time-parallel processing of one channel on the engine's threaded backend (kla.hpp): the
// slots in tiles of `lanes` side by side, λ a scan of Mobius2Op, η a scan of AffineOp whose
// leaves read λ, the adjoints a reverse scan of AdjointOp. Used when there are fewer channels
// than threads; each function uses every thread on one channel, and keeps O(L · lanes) scratch.
#pragma once

#include "channel.hpp"

namespace kalmanscan::kla::detail {

/// Slots per tile of the time-parallel scans.
inline constexpr int lanes = 8;

/// Forward of one channel: writes its y, y_var and final state.
template <class T>
void forward_time_parallel(const Channel<T>& ch, const Outputs<T>& out, unsigned threads);

/// Backward of one channel: writes its lam0, eta0 gradients and adds its terms to its v, lam_v
/// gradients, to the k, q gradients of batch entry b and to the ā, p̄ gradients of channel m
/// (which the caller zeroes first). Channels must be processed one after another: they share
/// those sums.
template <class T>
void backward_time_parallel(const Channel<T>& ch, const Cotangents<T>& cot, const Gradients<T>& grad,
                            unsigned threads);

}  // namespace kalmanscan::kla::detail
