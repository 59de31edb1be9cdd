// Where the sequences of a batch lie: `batch` independent sequences, either all of `length`
// elements (sequence b occupies flat indices [b·length, (b+1)·length)) or of varying lengths
// given by `offsets` (batch + 1 ascending entries; sequence b occupies [offsets[b], offsets[b+1])).
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "kalmanscan/scan/error.hpp"

namespace kalmanscan::scan {

struct Layout {
  std::size_t batch = 1;
  std::size_t length = 0;                  ///< used when offsets is empty
  std::span<const std::size_t> offsets{};  ///< batch + 1 entries, or empty for uniform lengths

  static Layout uniform(std::size_t batch, std::size_t length) { return {batch, length, {}}; }
  static Layout single(std::size_t length) { return {1, length, {}}; }
  static Layout ragged(std::span<const std::size_t> offsets) {
    return {offsets.empty() ? 0 : offsets.size() - 1, 0, offsets};
  }

  bool is_uniform() const { return offsets.empty(); }
  std::size_t start(std::size_t b) const { return is_uniform() ? b * length : offsets[b] - offsets[0]; }
  std::size_t size(std::size_t b) const { return is_uniform() ? length : offsets[b + 1] - offsets[b]; }
  std::size_t total() const { return is_uniform() ? batch * length : offsets[batch] - offsets[0]; }
  std::size_t longest() const {
    if (is_uniform()) return length;
    std::size_t m = 0;
    for (std::size_t b = 0; b < batch; ++b) m = size(b) > m ? size(b) : m;
    return m;
  }

  /// Throws Error when offsets are given but are not batch + 1 ascending entries.
  void validate() const {
    if (is_uniform()) return;
    if (offsets.size() != batch + 1)
      throw Error("scan layout: offsets has " + std::to_string(offsets.size()) + " entries, expected batch + 1 = " +
                  std::to_string(batch + 1));
    for (std::size_t b = 0; b < batch; ++b)
      if (offsets[b + 1] < offsets[b])
        throw Error("scan layout: offsets must ascend, but offsets[" + std::to_string(b + 1) +
                    "] = " + std::to_string(offsets[b + 1]) + " < offsets[" + std::to_string(b) +
                    "] = " + std::to_string(offsets[b]));
  }
};

}  // namespace kalmanscan::scan
