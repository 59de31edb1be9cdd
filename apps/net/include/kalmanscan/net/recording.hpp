// Recording of a stream's accepted measurements (issue 7): a record file of LogRecord messages in
// the format `kalmanscan smooth` reads (formats/record_file.hpp), plus the stream's model spec as
// JSON beside it, so that
//     kalmanscan smooth --model DIR/NAME.<id>.model.json --input DIR/NAME.<id>.ksrec
// reproduces the filtered estimates the service sent.
//
// Flush policy: appended records wait in a user-space buffer; flush() hands that buffer to the
// server's RecordingWriter (recording_writer.hpp), whose thread writes it to the OS with write(2)
// at once, while the io thread goes on and sends the batch's estimates without waiting for the
// write. The server flushes every stream a micro-batch touched at the end of that batch. A crash
// of the server process (even kill -9) therefore loses only records handed over and not yet
// written, at most the writer's queue bound (ServerOptions::record_queue_bytes; in practice the
// last few milliseconds), and the records of the batch in progress, which were not answered.
// close() queues the rest, fsync(2) and close(2); a graceful shutdown waits for them, so it
// also survives a power loss. The file is written front to back, so a file cut anywhere reads up
// to its last whole record.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "kalmanscan/log.pb.h"
#include "kalmanscan/model.pb.h"
#include "kalmanscan/net/recording_writer.hpp"

namespace kalmanscan::net {

class Recording {
 public:
  /// Creates `stem`.model.json holding `model` (written before returning) and `stem`.ksrec
  /// (refusing to overwrite: O_EXCL), whose record-file preamble goes to `writer`. Throws
  /// Error(ERROR_RECORDING) naming the path when a file cannot be created or written. `writer`
  /// must outlive the recording.
  Recording(RecordingWriter& writer, const std::filesystem::path& stem, const proto::ModelSpec& model,
            const std::string& source);
  ~Recording();  ///< close(), swallowing errors
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;

  /// Buffers one record (no system call).
  void append(const proto::LogRecord& record);
  /// Hands the buffer to the writer (waiting only while the writer is over its queue bound).
  /// Throws Error(ERROR_RECORDING) naming the file when an earlier write of it failed.
  void flush();
  /// flush(), then queues fsync and close with the writer; returns at once. Idempotent.
  void close();

  const std::filesystem::path& path() const { return path_; }
  std::uint64_t records() const { return records_; }
  std::size_t buffered_bytes() const;

 private:
  struct Buffer;
  RecordingWriter& writer_;
  std::filesystem::path path_;
  std::shared_ptr<RecordingWriter::File> file_;  ///< null once closed
  std::unique_ptr<Buffer> buffer_;
  std::uint64_t records_ = 0;
};

}  // namespace kalmanscan::net
