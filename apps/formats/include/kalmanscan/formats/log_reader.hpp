// Reading logs step by step, in bounded memory: CSV (csv_reader.hpp) or record files
// (record_file.hpp), told apart by the record files' magic string.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/formats/source.hpp"
#include "kalmanscan/formats/steps.hpp"

namespace kalmanscan::formats {

class LogReader {
 public:
  virtual ~LogReader() = default;
  /// Clears `out` and fills it with up to `max_steps` (≥ 1) complete steps, in time order.
  /// Returns false when the log has no steps left (then `out` is empty). Throws FormatError
  /// naming the source, line (or record) and field for bad input.
  virtual bool read(StepBlock& out, std::size_t max_steps) = 0;
  virtual const ReadStats& stats() const = 0;
  /// Size of the whole input in bytes when known, else 0 (for progress reports).
  virtual std::uint64_t total_bytes() const = 0;
  /// A note on how the input ended when it did not end cleanly (a truncated record file),
  /// else empty. Valid once read() returned false.
  virtual std::string warning() const { return {}; }
};

enum class LogFormat { csv, records };

/// The format of a log whose first bytes are `head`: records when it starts with the magic string.
LogFormat detect_log_format(std::string_view head);

/// Opens a log for `model` from `source`, detecting its format. The model must outlive the reader.
std::unique_ptr<LogReader> open_log(std::unique_ptr<ByteSource> source, const Model& model);
/// Same, for the file at `path`.
std::unique_ptr<LogReader> open_log(const std::filesystem::path& path, const Model& model);

}  // namespace kalmanscan::formats
