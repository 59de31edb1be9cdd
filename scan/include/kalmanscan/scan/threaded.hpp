// The CPU multi-threaded backend: sequences in parallel when there are many, otherwise a
// blocked reduce–scan–apply over time within each sequence.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "kalmanscan/scan/layout.hpp"
#include "kalmanscan/scan/parallel.hpp"
#include "kalmanscan/scan/sequential.hpp"

namespace kalmanscan::scan::detail {

/// Below this many elements a sequence is not split across threads (Options::min_split_length's default).
inline constexpr std::size_t min_split_length = 1u << 13;

/// One sequence on p threads, time split into p + 1 equal chunks (the most a reduce–scan–apply
/// can gain is (p + 1)/2: the chunk that starts from the carry is scanned at once, the one
/// that ends the sequence is never reduced):
///   phase 1: the first chunk (in scan order) is scanned from the carry while chunks
///            1 … p-1 are reduced to their aggregates;
///   phase 2: the aggregates are combined in time order into the carry of each chunk;
///   phase 3: chunks 1 … p are scanned from their carries.
/// For a reverse scan "first" means latest in time, and carries are combined on the right.
template <ScanOperator Op, class Leaf, class Sink>
element_t<Op> split_scan(Direction dir, std::size_t b, std::size_t n, unsigned p, Leaf& leaf, Sink& sink,
                         const element_t<Op>* carry_in) {
  const std::size_t chunks = std::size_t(p) + 1;
  const bool fwd = dir == Direction::forward;
  // Chunk j in scan order covers [lo(j), hi(j)) in time.
  auto time_chunk = [&](std::size_t j) { return fwd ? j : chunks - 1 - j; };
  auto lo = [&](std::size_t j) { return n * time_chunk(j) / chunks; };
  auto hi = [&](std::size_t j) { return n * (time_chunk(j) + 1) / chunks; };

  std::vector<element_t<Op>> agg(chunks);
  parallel_tasks(p, p, [&](std::size_t j) {
    if (j == 0)
      agg[0] = scan_range<Op>(dir, b, lo(0), hi(0), leaf, sink, carry_in);
    else
      agg[j] = reduce_range<Op>(b, lo(j), hi(j), leaf);
  });
  // agg[j] becomes the carry into chunk j + 1 (scan order).
  for (std::size_t j = 1; j + 1 < chunks; ++j) agg[j] = fwd ? Op::combine(agg[j - 1], agg[j]) : Op::combine(agg[j], agg[j - 1]);
  element_t<Op> out{};
  parallel_tasks(p, p, [&](std::size_t t) {
    const std::size_t j = t + 1;
    const element_t<Op> r = scan_range<Op>(dir, b, lo(j), hi(j), leaf, sink, &agg[j - 1]);
    if (j == chunks - 1) out = r;
  });
  return out;
}

/// Threaded inclusive scan over a layout; carries are per sequence (either may be null).
template <ScanOperator Op, class Leaf, class Sink>
void threaded_scan(const Layout& layout, Direction dir, unsigned p, std::size_t min_split, Leaf& leaf, Sink& sink,
                   const element_t<Op>* carry_in, element_t<Op>* carry_out) {
  auto whole = [&](std::size_t b) {
    const element_t<Op>* c = carry_in ? carry_in + b : nullptr;
    // The leaf/sink see indices local to sequence b.
    const element_t<Op> r = scan_range<Op>(dir, b, 0, layout.size(b), leaf, sink, c);
    if (carry_out) carry_out[b] = r;
  };
  if (layout.batch >= p || p < 2) {
    // Many sequences: each thread takes a contiguous group of them.
    const std::size_t groups = std::min<std::size_t>(layout.batch, std::size_t(p) * 4);
    parallel_tasks(groups, p, [&](std::size_t g) {
      for (std::size_t b = layout.batch * g / groups; b < layout.batch * (g + 1) / groups; ++b) whole(b);
    });
    return;
  }
  for (std::size_t b = 0; b < layout.batch; ++b) {
    const std::size_t n = layout.size(b);
    if (n < std::max(min_split, 2 * (std::size_t(p) + 1))) {  // no empty chunks
      whole(b);
      continue;
    }
    const element_t<Op> r = split_scan<Op>(dir, b, n, p, leaf, sink, carry_in ? carry_in + b : nullptr);
    if (carry_out) carry_out[b] = r;
  }
}

}  // namespace kalmanscan::scan::detail
