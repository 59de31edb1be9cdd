// Recording of a stream's accepted measurements (issue 7): a record file of LogRecord messages in
// the format `kalmanscan smooth` reads (formats/record_file.hpp), plus the stream's model spec as
// JSON beside it, so that
//     kalmanscan smooth --model DIR/NAME.<id>.model.json --input DIR/NAME.<id>.ksrec
// reproduces the filtered estimates the service sent.
//
// Flush policy: appended records wait in a user-space buffer; flush() hands the buffer to the
// operating system with write(2). The server flushes every stream a micro-batch touched at the
// end of that batch, before it sends the batch's estimates, so an estimate is only ever sent for
// a measurement already in the file as far as the OS is concerned: a crash of the server process
// (even kill -9) loses no measurement that was answered, only those of the batch in progress.
// close() flushes and fsync(2)s, so a graceful shutdown also survives a power loss. The file is
// written front to back, so a file cut anywhere reads up to its last whole record.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "kalmanscan/log.pb.h"
#include "kalmanscan/model.pb.h"

namespace kalmanscan::net {

class Recording {
 public:
  /// Creates `stem`.ksrec (refusing to overwrite: O_EXCL) with the record-file preamble and
  /// `stem`.model.json holding `model`; both are flushed before returning. Throws
  /// Error(ERROR_RECORDING) naming the path when a file cannot be created or written.
  Recording(const std::filesystem::path& stem, const proto::ModelSpec& model, const std::string& source);
  ~Recording();  ///< close(), swallowing errors
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;

  /// Buffers one record (no system call).
  void append(const proto::LogRecord& record);
  /// Writes the buffer to the OS. Throws Error(ERROR_RECORDING) naming the file on failure.
  void flush();
  /// flush(), fsync(), close. Idempotent.
  void close();

  const std::filesystem::path& path() const { return path_; }
  std::uint64_t records() const { return records_; }
  std::size_t buffered_bytes() const;

 private:
  struct Buffer;
  std::filesystem::path path_;
  int fd_ = -1;
  std::unique_ptr<Buffer> buffer_;
  std::uint64_t records_ = 0;
};

}  // namespace kalmanscan::net
