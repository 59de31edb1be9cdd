// Where readers take their bytes from: a file read in blocks, or memory (tests, fuzzing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace kalmanscan::formats {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  /// Copies up to `n` bytes into `buf`; returns how many (0 only at the end). Throws FormatError
  /// on a read error.
  virtual std::size_t read(char* buf, std::size_t n) = 0;
  /// Total size in bytes when known (files), else 0.
  virtual std::uint64_t size() const = 0;
  /// The name used in error messages.
  virtual const std::string& name() const = 0;
};

/// Opens `path` for reading; throws FormatError naming it when it cannot be opened.
std::unique_ptr<ByteSource> open_file_source(const std::filesystem::path& path);
/// Reads `bytes` (not copied: they must outlive the source).
std::unique_ptr<ByteSource> memory_source(std::string_view bytes, std::string name);

}  // namespace kalmanscan::formats
