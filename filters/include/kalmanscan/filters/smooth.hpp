// The high-level entry point: filter and smooth a recorded log, in one piece or in chunks
// (for logs larger than memory), on the sequential filter, the threaded parallel-in-time
// scan, or the GPU. This header is the stable interface that the `kalmanscan smooth` command
// uses.
//
// Whole log:
//   Trajectory tr = kalmanscan::filters::smooth(model, measurements, {.backend = Backend::threaded});
//
// Chunked (constant memory in the log's length): a forward pass filters chunk after chunk,
// each continuing from the previous chunk's carry (its last filtered posterior, which is
// predicted first); a backward pass then smooths the chunks from last to first, each given
// the smoothed state of the step after it. Results equal the whole-log computation.
//   std::optional<StepState> carry;                               // none: start from the prior
//   for (chunk c = 0 … C-1) { auto f = filter_chunk(model, meas[c], carry, opt); carry = f.carry_out; keep(f); }
//   std::optional<StepState> after;                               // none: the last chunk
//   for (chunk c = C-1 … 0)  { smooth_chunk(model, meas[c], tr[c], after, opt); after = first_smoothed(model, meas[c], tr[c]); }
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <string>

#include <Eigen/Core>

#include "kalmanscan/filters/error.hpp"
#include "kalmanscan/filters/model.hpp"
#include "kalmanscan/filters/trajectory.hpp"

namespace kalmanscan::filters {

enum class Backend {
  automatic,   ///< sequential for short logs and states above 64, else threaded from scan::threaded_crossover steps
  sequential,  ///< covariance Kalman filter (Joseph form) + RTS smoother, one thread
  threaded,    ///< parallel-in-time filter/smoother (Särkkä & García-Fernández 2021) on all cores
  cuda,        ///< the same parallel forms on the GPU (Error when not built with CUDA / no device)
};
enum class Precision { float64, float32 };

/// Parses "auto" | "sequential" | "threaded" (or "cpu") | "cuda" (or "gpu"); throws Error.
Backend parse_backend(const std::string&);
/// Parses "double" (or "float64") | "float" (or "float32"); throws Error.
Precision parse_precision(const std::string&);

struct SmoothOptions {
  Backend backend = Backend::automatic;
  Precision precision = Precision::float64;  ///< arithmetic of the filter; results are returned in double
  bool filter_only = false;                  ///< skip the smoother (smoothed_* stay empty)
  bool cross_covariances = false;            ///< also the lag-one smoothed cross-covariances
  unsigned threads = 0;                      ///< threaded backend: 0 = all cores
};

/// The Gaussian state of one step: a filter carry (the last filtered posterior of a chunk) or
/// a smoother boundary (the smoothed state of the first step after a chunk).
struct StepState {
  std::size_t step = 0;                                  ///< global step index
  double time = std::numeric_limits<double>::quiet_NaN();  ///< its timestamp (motion models)
  Eigen::VectorXd control;                               ///< u at this step (drives step → step+1); empty = 0
  Eigen::VectorXd mean;
  Eigen::MatrixXd cov;
};

/// Filters (and, unless options.filter_only, smooths) a whole log that starts from the prior.
/// Returns filtered and smoothed means/covariances, the log-likelihood and NIS per step.
/// Throws Error for bad input (see Model::validate, Measurements::validate) or breakdown.
Trajectory smooth(const Model& model, const Measurements& measurements, const SmoothOptions& options = {});

struct FilteredChunk {
  Trajectory trajectory;  ///< filtered only; log_likelihood is this chunk's share
  StepState carry_out;    ///< the last filtered posterior (the next chunk's carry_in)
};

/// Filters one chunk. Without carry_in the chunk starts from the prior (a fresh sequence,
/// normally first_step = 0); with it, step carry_in.step (= chunk.first_step - 1) is predicted
/// into the chunk's first step. An empty chunk returns carry_out = carry_in.
FilteredChunk filter_chunk(const Model& model, const Measurements& chunk, const std::optional<StepState>& carry_in,
                           const SmoothOptions& options = {});

/// Smooths a filtered chunk in place (fills trajectory.smoothed_*, and cross_cov when asked).
/// `after` is the smoothed state of step chunk.first_step + chunk.steps() (none for the last
/// chunk of the log); the transition into it uses the chunk's last control and after.time.
/// With `after`, cross_cov has one more entry: Cov(x_after, x_last) for the chunk's last step.
void smooth_chunk(const Model& model, const Measurements& chunk, Trajectory& trajectory,
                  const std::optional<StepState>& after, const SmoothOptions& options = {});

/// The smoothed state of a smoothed chunk's first step, as the `after` of the chunk before it.
StepState first_smoothed(const Measurements& chunk, const Trajectory& smoothed);

}  // namespace kalmanscan::filters
