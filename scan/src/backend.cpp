#include <string>

#include "kalmanscan/scan/scan.hpp"

namespace kalmanscan::scan {

const char* to_string(Backend b) {
  switch (b) {
    case Backend::automatic: return "auto";
    case Backend::sequential: return "sequential";
    case Backend::threaded: return "threaded";
    case Backend::cuda: return "cuda";
  }
  return "unknown";
}

Backend parse_backend(const std::string& s) {
  if (s == "auto" || s == "automatic") return Backend::automatic;
  if (s == "sequential" || s == "seq") return Backend::sequential;
  if (s == "threaded" || s == "cpu") return Backend::threaded;
  if (s == "cuda" || s == "gpu") return Backend::cuda;
  throw Error("backend: expected one of auto, sequential, threaded (cpu), cuda; found '" + s + "'");
}

Backend resolve_cpu_backend(const Options& options, std::size_t total) {
  switch (options.backend) {
    case Backend::sequential: return Backend::sequential;
    case Backend::threaded: return Backend::threaded;
    case Backend::cuda:
      throw Error(
          "scan: backend cuda is unsupported for host functor leaves/sinks; device functors run through "
          "kalmanscan/scan/cuda/device_scan.cuh in CUDA code, host arrays through the array overload");
    case Backend::automatic: break;
  }
  const unsigned p = options.threads ? options.threads : default_threads();
  return (p < 2 || total < threaded_crossover) ? Backend::sequential : Backend::threaded;
}

}  // namespace kalmanscan::scan
