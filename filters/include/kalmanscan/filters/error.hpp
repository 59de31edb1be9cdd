// How the filters report failures (STYLE.md): bad caller input (a dimension mismatch, a
// covariance that is not positive (semi-)definite, a non-finite value) and numerical breakdown
// (a singular innovation covariance) throw kalmanscan::filters::Error. The message names the
// step, the quantity and its dimensions, e.g.
//   "kalmanscan::filters: step 17: innovation covariance S (2x2) is not positive definite".
// No function of this module returns a silent NaN.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace kalmanscan::filters {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Sentinel for "not tied to a step" (model-level quantities such as the prior).
inline constexpr std::size_t no_step = static_cast<std::size_t>(-1);

/// Throws Error("kalmanscan::filters: step <step>: <what>") (no step prefix for no_step).
[[noreturn]] void fail(std::size_t step, const std::string& what);

}  // namespace kalmanscan::filters
