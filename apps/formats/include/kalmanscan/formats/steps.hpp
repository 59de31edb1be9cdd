// The steps of a log, as the readers hand them to the smoother. A step gathers every log row
// (CSV line or record) with the same timestamp: its measurement z stacks all sensors of the
// model (Model::sensors() gives each sensor's rows), NaN where a component was not measured;
// its control u holds the last value given for each control input (0 before the first).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kalmanscan/formats/error.hpp"
#include "kalmanscan/formats/model.hpp"

namespace kalmanscan::formats {

/// Steps stored column by column: step i has time[i], z[i·m … i·m + m), u[i·k … i·k + k).
struct StepBlock {
  std::size_t m = 0, k = 0;
  std::vector<double> time;
  std::vector<double> z;
  std::vector<double> u;
  std::vector<std::uint64_t> line;  ///< first line (or record) of each step in its source

  std::size_t size() const { return time.size(); }
  void clear() {
    time.clear();
    z.clear();
    u.clear();
    line.clear();
  }
};

/// Counts a reader keeps while it reads.
struct ReadStats {
  std::uint64_t rows = 0;            ///< CSV data lines or records
  std::uint64_t steps = 0;           ///< distinct timestamps
  std::uint64_t values = 0;          ///< measurement cells read (a row's own sensor's columns)
  std::uint64_t missing_values = 0;  ///< of those, empty or NaN
  std::uint64_t bytes = 0;           ///< bytes consumed from the source
};

/// Builds steps from rows. Rows arrive in file order; a row whose timestamp equals the pending
/// step's joins it, a later one completes the pending step, an earlier one is an error.
/// Throws FormatError (with the row's location) for timestamps that go backwards or are not
/// finite, and for a component or control given twice at one timestamp.
class StepAssembler {
 public:
  StepAssembler(std::size_t m, std::size_t k);

  /// Starts a row at time t. Completes the pending step into `out` when t is later than it.
  /// `where.field` should name the time column.
  void begin_row(double t, const Location& where, StepBlock& out);
  /// Sets measurement component `slot` of the current step (NaN = missing, counted).
  void measure(std::size_t slot, double value, const Location& where);
  /// Sets control input `j` from this step on.
  void control(std::size_t j, double value, const Location& where);
  /// Completes the pending step into `out` (at the end of the input).
  void finish(StepBlock& out);

  const ReadStats& stats() const { return stats_; }
  ReadStats& stats() { return stats_; }

 private:
  void flush(StepBlock& out);

  std::size_t m_, k_;
  bool pending_ = false;
  double t_ = 0;
  std::uint64_t line_ = 0;
  std::vector<double> z_, u_;
  std::vector<char> u_given_;
  ReadStats stats_;
};

}  // namespace kalmanscan::formats
