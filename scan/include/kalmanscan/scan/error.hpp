// How the engine reports failures (STYLE.md): bad caller input and unsupported requests
// throw kalmanscan::scan::Error naming the argument; GPU entry points return a Status that
// carries the CUDA error code and a message. The engine never aborts the process.
#pragma once

#include <stdexcept>
#include <string>

namespace kalmanscan::scan {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Result of a GPU entry point. `code` is the cudaError_t value (0 = success); kept as an
/// int so that CPU-only consumers never include cuda_runtime.h.
struct Status {
  int code = 0;
  std::string message;
  bool ok() const { return code == 0; }
  /// Throws Error(message) unless ok().
  void throw_if_error() const {
    if (!ok()) throw Error(message);
  }
};

}  // namespace kalmanscan::scan
