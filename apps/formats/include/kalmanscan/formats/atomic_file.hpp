// An output file that appears complete or not at all: written under a temporary name in the
// same directory and renamed over the final name by commit() (rename(2) is atomic within a file
// system). Destroyed without commit() (an error, an exception), it removes the temporary file.
#pragma once

#include <filesystem>
#include <fstream>

namespace kalmanscan::formats {

class AtomicFile {
 public:
  /// Creates "<dir>/.<name>.tmp-XXXXXX"; throws std::runtime_error naming the path on failure.
  explicit AtomicFile(std::filesystem::path final_path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ostream& stream() { return out_; }
  const std::filesystem::path& temporary_path() const { return temp_; }
  /// Flushes, closes and renames to the final name; throws std::runtime_error when any fails.
  void commit();

 private:
  std::filesystem::path final_, temp_;
  std::ofstream out_;
  bool committed_ = false;
};

}  // namespace kalmanscan::formats
