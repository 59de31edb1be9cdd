// `kalmanscan smooth` as a library call: read a log in chunks, filter each chunk from the
// previous one's carry, spill filtered chunks to a temporary file when there is more than one,
// smooth the chunks from last to first (each from the smoothed state after it) and write the
// per-step estimates in time order (DESIGN.md §3, §5). Memory is bounded by the chunk size,
// whatever the log's length; results equal those of one whole-log run.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "kalmanscan/estimate.pb.h"
#include "kalmanscan/filters/model.hpp"
#include "kalmanscan/filters/trajectory.hpp"
#include "kalmanscan/formats/writers.hpp"

namespace kalmanscan::cli {

enum class OutputFormat { csv, records };

struct SmoothJob {
  std::filesystem::path model;
  std::filesystem::path input;
  /// Where estimates go: a file (written under a temporary name, renamed when complete), an
  /// open stream (stdout), or nowhere (neither set).
  std::optional<std::filesystem::path> output;
  std::ostream* output_stream = nullptr;
  bool filter_only = false;
  bool with_filtered = false;  ///< also write each step's filtered estimate beside the smoothed one
  std::string backend = "auto";   ///< auto | cpu | sequential | threaded | cuda
  std::string precision = "f64";  ///< f64 | f32
  formats::CovarianceOutput covariance = formats::CovarianceOutput::diagonal;
  OutputFormat format = OutputFormat::csv;
  std::size_t chunk_steps = 0;  ///< steps per chunk; 0 = as many as fit in chunk_memory_bytes
  std::size_t chunk_memory_bytes = std::size_t(256) << 20;
  std::filesystem::path temp_dir;  ///< spill files; empty = the system's temporary directory
  bool progress = false;           ///< draw a progress bar on stderr
  /// Called once per chunk, after it is smoothed (or filtered, with filter_only), in the order
  /// chunks are finished: last to first when smoothing. Used by the demo to score estimates.
  std::function<void(const filters::Measurements&, const filters::Trajectory&)> observe;
};

/// Runs the job; throws formats::FormatError for bad input (naming file, line, field),
/// filters::Error for a model the filters reject or a numerical breakdown, std::runtime_error
/// for I/O. No output file is left behind unless the run succeeds.
proto::SmoothSummary run_smooth(const SmoothJob& job);

/// The summary as the lines printed on stderr.
std::string format_summary(const proto::SmoothSummary& summary);
/// The summary as JSON (protobuf's JSON mapping, field names as in estimate.proto).
std::string summary_json(const proto::SmoothSummary& summary);

}  // namespace kalmanscan::cli
