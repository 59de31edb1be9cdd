#include "kalmanscan/net/recording_writer.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "kalmanscan/net/error.hpp"

namespace kalmanscan::net {

struct RecordingWriter::File {
  std::filesystem::path path;
  int fd = -1;
  // Guarded by the writer's mutex.
  std::string queued;            ///< submitted, not yet taken by the writer
  bool listed = false;           ///< on the writer's ready list
  bool close_requested = false;
  std::string error;             ///< the first failure; the file takes no more bytes
  // Used only by whoever writes (the writer thread; the caller once the thread has finished).
  std::string taken;             ///< being written
  bool close_now = false;        ///< close after writing `taken`
  std::string failure;           ///< set by write_out, copied into `error` under the mutex

  ~File() {
    if (fd >= 0) ::close(fd);  // never closed through the writer (only when abandoned)
  }
};

namespace {
/// Moves a file's queue into its `taken` buffer (under the mutex).
void take(RecordingWriter::File& f) {
  f.taken.swap(f.queued);  // `taken` is empty (cleared by the last write_out), keeping its capacity
  f.listed = false;
  f.close_now = f.close_requested;
}
}  // namespace

RecordingWriter::RecordingWriter(std::size_t max_queued_bytes) : max_queued_bytes_(max_queued_bytes) {
  if (max_queued_bytes == 0) throw Error("recording writer: the queue bound must be positive");
  thread_ = std::thread([this] { run(); });
}

RecordingWriter::~RecordingWriter() { finish(); }

std::shared_ptr<RecordingWriter::File> RecordingWriter::adopt(int fd, std::filesystem::path path) {
  auto f = std::make_shared<File>();
  f->path = std::move(path);
  f->fd = fd;
  return f;
}

void RecordingWriter::submit(const std::shared_ptr<File>& file, std::string& bytes) {
  std::unique_lock lock(mutex_);
  if (!file->error.empty()) throw Error("recording " + file->path.string() + ": " + file->error, proto::ERROR_RECORDING);
  if (bytes.empty() || file->close_requested) return;
  // Back-pressure: wait while the writer is more than the bound behind (a submit larger than
  // the bound on its own goes through once the queue is empty).
  space_cv_.wait(lock, [&] {
    return finished_ || queued_bytes_ == 0 || queued_bytes_ + bytes.size() <= max_queued_bytes_;
  });
  queued_bytes_ += bytes.size();
  if (file->queued.empty()) file->queued.swap(bytes);  // hand the buffer over; the caller gets an empty one
  else file->queued += bytes;
  bytes.clear();
  enqueue(file, lock);
}

void RecordingWriter::close(const std::shared_ptr<File>& file) {
  std::unique_lock lock(mutex_);
  if (file->close_requested) return;
  file->close_requested = true;
  enqueue(file, lock);
}

void RecordingWriter::finish() {
  {
    std::lock_guard lock(mutex_);
    if (finishing_) return;
    finishing_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  finished_ = true;
  space_cv_.notify_all();
}

void RecordingWriter::enqueue(const std::shared_ptr<File>& file, std::unique_lock<std::mutex>& lock) {
  (void)lock;  // held by the caller
  if (finished_) {
    // No thread any more: write here.
    take(*file);
    queued_bytes_ -= write_out(*file);
    if (!file->failure.empty() && file->error.empty()) file->error = file->failure;
    return;
  }
  if (file->listed) return;
  file->listed = true;
  ready_.push_back(file);
  work_cv_.notify_one();
}

std::size_t RecordingWriter::write_out(File& f) {
  const std::size_t n = f.taken.size();
  std::size_t done = 0;
  while (f.fd >= 0 && done < n) {
    const ssize_t w = ::write(f.fd, f.taken.data() + done, n - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      f.failure = std::string("write failed: ") + std::strerror(errno);
      ::close(f.fd);
      f.fd = -1;
      break;
    }
    done += static_cast<std::size_t>(w);
  }
  f.taken.clear();
  if (f.close_now && f.fd >= 0) {
    if (::fsync(f.fd) != 0) f.failure = std::string("fsync failed: ") + std::strerror(errno);
    ::close(f.fd);
    f.fd = -1;
  }
  if (f.close_now && !f.failure.empty())
    std::cerr << "kalmanscan serve: recording " << f.path.string() << ": " << f.failure << "\n";
  return n;
}

void RecordingWriter::run() {
  std::vector<std::shared_ptr<File>> work;
  std::unique_lock lock(mutex_);
  for (;;) {
    work_cv_.wait(lock, [&] { return !ready_.empty() || finishing_; });
    if (ready_.empty()) return;  // finishing, and everything is written
    work.swap(ready_);
    for (auto& f : work) take(*f);
    lock.unlock();
    std::size_t done = 0;
    for (auto& f : work) done += write_out(*f);
    lock.lock();
    for (auto& f : work)
      if (!f->failure.empty() && f->error.empty()) f->error = f->failure;
    queued_bytes_ -= done;
    space_cv_.notify_all();
    work.clear();
  }
}

}  // namespace kalmanscan::net
