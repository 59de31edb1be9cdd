// The background writer of a server's recordings (issue 7): one thread that hands the record
// files' bytes to the operating system with write(2), so that no system call of the recording
// sits between a measurement and its estimate.
//
// Contract between the server's io thread (the producer) and the writer thread:
//  - submit(file, bytes) appends bytes to what that file has queued and returns at once, unless
//    the bytes queued over all files and not yet written exceed the bound given at construction:
//    then it waits until the writer has caught up (back-pressure on the io thread: a recording is
//    never dropped, a disk slower than the traffic slows the service instead);
//  - the writer takes everything queued each time it wakes, one write(2) per file (batches queued
//    for one file while it was writing go out as one write), front to back, so a file cut at any
//    point reads up to its last whole record;
//  - a crash of the process loses what was queued and not yet written: at most the bound's worth
//    of bytes (in practice the last round, a few milliseconds);
//  - close(file) queues the file's end: its remaining bytes, fsync(2), close(2);
//  - finish() (and the destructor) writes, fsyncs and closes everything queued, then stops the
//    thread; later submit()/close() calls do their work in the calling thread.
// A failed write is remembered: the file takes no more bytes and the next submit() of it throws
// Error(ERROR_RECORDING) naming the file and the system error.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kalmanscan::net {

class RecordingWriter {
 public:
  struct File;  ///< one record file (an open descriptor) as the writer sees it

  /// Starts the thread. `max_queued_bytes` must be positive.
  explicit RecordingWriter(std::size_t max_queued_bytes);
  ~RecordingWriter();  ///< finish()
  RecordingWriter(const RecordingWriter&) = delete;
  RecordingWriter& operator=(const RecordingWriter&) = delete;

  /// Takes ownership of `fd`, open for writing on `path`.
  std::shared_ptr<File> adopt(int fd, std::filesystem::path path);
  /// Queues `bytes` for `file` (moved from: left empty); see the contract above. Throws
  /// Error(ERROR_RECORDING) when an earlier write of the file failed.
  void submit(const std::shared_ptr<File>& file, std::string& bytes);
  /// Queues the file's remaining bytes, fsync and close; returns at once. Idempotent. A failure
  /// at that point is printed on stderr (nobody is left to tell).
  void close(const std::shared_ptr<File>& file);
  /// Writes and closes everything queued and stops the thread. Idempotent.
  void finish();

  std::size_t max_queued_bytes() const { return max_queued_bytes_; }

 private:
  void run();
  /// Puts `file` on the writer's list (or, once finished, writes it here). Holds `lock`.
  void enqueue(const std::shared_ptr<File>& file, std::unique_lock<std::mutex>& lock);
  /// Writes what `file` took from its queue, and closes it when asked; returns the bytes taken.
  static std::size_t write_out(File& file);

  const std::size_t max_queued_bytes_;
  std::mutex mutex_;
  std::condition_variable work_cv_;   ///< the writer waits for ready_ or finishing_
  std::condition_variable space_cv_;  ///< submit() waits for queued_bytes_ to go down
  std::vector<std::shared_ptr<File>> ready_;  ///< files with queued bytes or a close, in order
  std::size_t queued_bytes_ = 0;
  bool finishing_ = false, finished_ = false;
  std::thread thread_;
};

}  // namespace kalmanscan::net
