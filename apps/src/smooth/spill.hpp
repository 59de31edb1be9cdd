// Temporary storage of the smoother's out-of-core pass: an unnamed file (unlinked as soon as
// it is open, so nothing is left behind whatever happens) holding filtered chunks, read back
// in any order for the backward pass.
#pragma once

#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "kalmanscan/filters/model.hpp"
#include "kalmanscan/filters/trajectory.hpp"

namespace kalmanscan::cli {

/// An unnamed read/write file in `dir` (empty = the system's temporary directory); throws
/// std::runtime_error naming the directory on failure. Close with std::fclose.
std::FILE* open_unnamed_file(const std::filesystem::path& dir);

class SpillFile {
 public:
  explicit SpillFile(const std::filesystem::path& dir);
  ~SpillFile();
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;

  /// Appends a chunk (its measurements and filtered trajectory); chunks are numbered from 0.
  void append(const filters::Measurements& meas, const filters::Trajectory& filtered);
  /// Reads chunk `index` back.
  void read(std::size_t index, filters::Measurements& meas, filters::Trajectory& filtered);
  std::size_t chunks() const { return offsets_.size(); }

 private:
  std::FILE* file_;
  std::vector<long long> offsets_;
};

}  // namespace kalmanscan::cli
