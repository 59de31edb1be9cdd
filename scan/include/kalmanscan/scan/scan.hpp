// kalmanscan's associative-scan engine: the one entry point for host code.
//
//   using namespace kalmanscan::scan;
//   scan<AffineOp<double>>(Layout::uniform(B, L),
//       [&](std::size_t b, std::size_t i) { return Affine<double>{f[b][i], r[b][i]}; },   // leaf
//       [&](std::size_t b, std::size_t i, const Affine<double>& prefix) { eta[b][i] = prefix.b; },  // sink
//       {.direction = Direction::forward});
//
// Leaves are produced on the fly by leaf(b, i) (sequence b, index i within it) and every
// inclusive prefix (suffix, for reverse scans) is handed to sink(b, i, prefix); nothing is
// stored unless the caller's sink stores it. See operator.hpp for the operator contract.
// The sink may be called from several threads at once, for different (b, i), in any order;
// each (b, i) exactly once. Leaves may be requested more than once (the threaded backend
// reads a chunk twice), so leaf() must be a pure function of (b, i). leaf() may return a
// reference instead of a value (to a per-thread element it rebuilds in place): the backends
// use each leaf before they request the next one on the same thread.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "kalmanscan/scan/gpu.hpp"
#include "kalmanscan/scan/layout.hpp"
#include "kalmanscan/scan/operator.hpp"
#include "kalmanscan/scan/sequential.hpp"
#include "kalmanscan/scan/threaded.hpp"

namespace kalmanscan::scan {

enum class Backend {
  automatic,   ///< sequential below a measured size, threaded above; CUDA for large array scans
  sequential,  ///< CPU, one thread: the reference
  threaded,    ///< CPU, all cores (Options::threads)
  cuda,        ///< the GPU (array scans of the operators in gpu.hpp; functors only from CUDA code)
};

const char* to_string(Backend);
/// Parses "auto" | "sequential" | "threaded" | "cuda" (also "cpu" = threaded); throws Error otherwise.
Backend parse_backend(const std::string&);

struct Options {
  Backend backend = Backend::automatic;
  Direction direction = Direction::forward;
  unsigned threads = 0;  ///< threaded backend: 0 = default_threads()
  /// threaded backend: a sequence this long or longer is split across threads (shorter ones
  /// run whole); lower it for elements that cost far more than a fork–join (the filters'
  /// dynamic-size elements).
  std::size_t min_split_length = detail::min_split_length;
};

/// Per-sequence carries: `in` is empty or holds one element per sequence (the aggregate
/// before the first element, or after the last one for reverse scans); `out` is empty or
/// receives one element per sequence (carry-in combined with the whole sequence).
template <ScanOperator Op>
struct Carries {
  std::span<const element_t<Op>> in{};
  std::span<element_t<Op>> out{};
};

/// Elements below which the automatic choice stays sequential (measured: bench/scan_cpu_bench).
inline constexpr std::size_t threaded_crossover = 1u << 14;
/// Elements above which the automatic choice of an array scan moves to the GPU (host arrays
/// are copied there and back, so only long scans gain).
inline constexpr std::size_t cuda_crossover = 1u << 22;

/// The CPU backend that `options` selects for a problem of `total` elements.
/// Throws Error for Backend::cuda (functor scans run on the GPU only from CUDA code).
Backend resolve_cpu_backend(const Options& options, std::size_t total);

namespace detail {
template <ScanOperator Op>
void check_carries(const Layout& layout, const Carries<Op>& carries) {
  layout.validate();
  if (!carries.in.empty() && carries.in.size() != layout.batch)
    throw Error("scan: carries.in has " + std::to_string(carries.in.size()) + " elements, expected batch = " +
                std::to_string(layout.batch) + " (or none)");
  if (!carries.out.empty() && carries.out.size() != layout.batch)
    throw Error("scan: carries.out has " + std::to_string(carries.out.size()) + " elements, expected batch = " +
                std::to_string(layout.batch) + " (or none)");
}
}  // namespace detail

/// Inclusive scan with leaves produced by leaf(b, i) and prefixes consumed by sink(b, i, prefix).
template <ScanOperator Op, class Leaf, class Sink>
void scan(const Layout& layout, Leaf&& leaf, Sink&& sink, const Options& options = {}, Carries<Op> carries = {}) {
  detail::check_carries(layout, carries);
  const element_t<Op>* cin = carries.in.empty() ? nullptr : carries.in.data();
  element_t<Op>* cout = carries.out.empty() ? nullptr : carries.out.data();
  if (resolve_cpu_backend(options, layout.total()) == Backend::sequential) {
    for (std::size_t b = 0; b < layout.batch; ++b) {
      const element_t<Op> r = detail::scan_range<Op>(options.direction, b, 0, layout.size(b), leaf, sink, cin ? cin + b : nullptr);
      if (cout) cout[b] = r;
    }
    return;
  }
  const unsigned p = options.threads ? options.threads : default_threads();
  detail::threaded_scan<Op>(layout, options.direction, p, options.min_split_length, leaf, sink, cin, cout);
}

/// Inclusive scan of an array: in[layout.start(b) + i] → out[layout.start(b) + i]; `out` may
/// alias `in`. Backend::cuda (or automatic, for long scans when a GPU is present) runs on the
/// GPU for the operators listed in gpu.hpp; other operators throw Error("unsupported") there.
template <ScanOperator Op>
void scan(std::span<const element_t<Op>> in, std::span<element_t<Op>> out, const Layout& layout,
          const Options& options = {}, Carries<Op> carries = {}) {
  detail::check_carries(layout, carries);
  if (in.size() != layout.total() || out.size() != layout.total())
    throw Error("scan: input has " + std::to_string(in.size()) + " and output " + std::to_string(out.size()) +
                " elements, expected the layout's total of " + std::to_string(layout.total()));
  const bool want_gpu = options.backend == Backend::cuda ||
                        (options.backend == Backend::automatic && gpu::has_array_scan<Op> &&
                         layout.is_uniform() && layout.total() >= cuda_crossover && gpu::device_count() > 0);
  if (want_gpu) {
    if constexpr (gpu::has_array_scan<Op>) {
      if (!layout.is_uniform()) throw Error("scan: backend cuda supports uniform layouts only (no offsets)");
      gpu::scan_host_arrays<Op>(in.data(), out.data(), layout.batch, layout.length, options.direction,
                                carries.in.empty() ? nullptr : carries.in.data(),
                                carries.out.empty() ? nullptr : carries.out.data())
          .throw_if_error();
      return;
    } else {
      throw Error("scan: backend cuda is unsupported for this operator (no CUDA instantiation; see gpu.hpp)");
    }
  }
  // Each (b, i) is read before its own output is written, so in-place scans are safe.
  auto leaf = [&](std::size_t b, std::size_t i) { return in[layout.start(b) + i]; };
  auto sink = [&](std::size_t b, std::size_t i, const element_t<Op>& v) { out[layout.start(b) + i] = v; };
  scan<Op>(layout, leaf, sink, options, carries);
}

}  // namespace kalmanscan::scan
