// How the CPU kernels split a problem over threads (kla.hpp, "Work is split …").
#pragma once

#include <algorithm>
#include <cstddef>

#include "kalmanscan/kla/kla.hpp"
#include "kalmanscan/scan/parallel.hpp"

namespace kalmanscan::kla::detail {

struct Plan {
  unsigned threads;
  bool time_split;            ///< channels one at a time, each time-parallel on the engine
  std::size_t channel_block;  ///< otherwise: tasks are (b, block of this many consecutive channels)
  std::size_t blocks;         ///< ⌈M / channel_block⌉ blocks per batch entry
};

/// Slot-steps (B·L·M·S) below which the default is one thread: waking a pool costs more.
inline constexpr std::size_t single_thread_work = 1u << 15;

inline Plan make_plan(const Shape& s, const Options& o) {
  const unsigned p = o.threads                                              ? o.threads
                     : s.B * s.L * s.M * s.S < single_thread_work ? 1u
                                                                            : scan::default_threads();
  const std::size_t channels = s.B * s.M;
  const bool split = o.time_split == TimeSplit::always ||
                     (o.time_split == TimeSplit::automatic && p > 1 && channels < p && s.L >= time_split_min_length);
  // About four tasks per thread, never splitting a channel.
  const std::size_t want_blocks = std::max<std::size_t>(1, (4 * std::size_t(p) + s.B - 1) / std::max<std::size_t>(s.B, 1));
  const std::size_t block = std::max<std::size_t>(1, (s.M + want_blocks - 1) / want_blocks);
  return {p, split, block, s.M ? (s.M + block - 1) / block : 0};
}

/// The checkpoint interval K of the step-by-step backward: the option, or ⌈√L⌉ (at least 1).
inline std::size_t checkpoint_interval(const Shape& s, const Options& o) {
  if (o.checkpoint_interval) return o.checkpoint_interval;
  std::size_t k = 1;
  while (k * k < s.L) ++k;
  return k;
}

}  // namespace kalmanscan::kla::detail
