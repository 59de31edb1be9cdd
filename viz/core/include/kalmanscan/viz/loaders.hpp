// Turning files into series (run on an ingest thread; each batch of appends is one
// SeriesSet::Lock, so the view fills in while a long file loads):
//   - estimates as `kalmanscan smooth` writes them (apps/formats/writers.hpp): a record file of
//     EstimateRecord (its kind says filtered or smoothed) or the CSV
//       step,t,<state names>[,std_<name>…][,cov_<a>_<b>…],nis,nis_dof
//     → per state component a band (mean ± σ; σ = 0 when the file has no uncertainty), and for
//     filtered estimates the NIS of steps that observed something;
//   - a log with its model → measurements drawn on the state component they observe: a
//     measurement row of H with exactly one non-zero entry h at component j gives the point
//     (t, (z − d)/h) on panel j; rows that mix components are counted, not drawn.
// Panels are named after the state components (the model's names, the CSV header's, else x0, x1, …).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "kalmanscan/viz/series_set.hpp"

namespace kalmanscan::viz {

/// Counts of what a loader did, for the status bar.
struct LoadReport {
  std::uint64_t records = 0;  ///< estimates or log steps read
  std::uint64_t points = 0;   ///< samples appended
  std::uint64_t skipped = 0;  ///< measurement components not drawn (missing, or H row mixes components)
  std::string warning;        ///< e.g. a record file cut short; empty when clean
};

struct EstimateLoadOptions {
  /// Role of CSV estimates (a CSV does not say; required for CSV). Record files carry their kind.
  std::optional<Role> csv_role;
  /// Panel names by state component; empty = the CSV header's names, else x0, x1, ….
  std::vector<std::string> state_names{};
  std::size_t batch = 4096;  ///< records per lock
};

/// The name of state component j when nothing names it: "x0", "x1", ….
std::string default_state_name(std::size_t j);

/// Loads an estimates file (record file or CSV, told apart by the record magic string).
/// Throws Error naming the file, the line or record and the field for malformed input
/// (a CSV without a role, a row with the wrong number of cells, a mean count that changes).
LoadReport load_estimates(const std::filesystem::path& path, SeriesSet& set, const EstimateLoadOptions& options);

/// The state component names of the model spec at `path` (x, y, vx, … for motion models).
/// Throws the formats library's FormatError for a malformed model.
std::vector<std::string> model_state_names(const std::filesystem::path& model);

/// Loads the measurements of the log at `log` for the model at `model` (see above).
LoadReport load_measurements(const std::filesystem::path& log, const std::filesystem::path& model, SeriesSet& set,
                             std::size_t batch = 4096);

}  // namespace kalmanscan::viz
