#include "kalmanscan/formats/atomic_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace kalmanscan::formats {

AtomicFile::AtomicFile(std::filesystem::path final_path) : final_(std::move(final_path)) {
  const auto dir = final_.has_parent_path() ? final_.parent_path() : std::filesystem::path(".");
  std::string pattern = (dir / ("." + final_.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0) throw std::runtime_error("cannot create a temporary file beside " + final_.string() + ": " + std::strerror(errno));
  // mkstemp creates the file 0600; give it the mode an ordinary new file would have.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);
  ::close(fd);
  temp_ = pattern;
  out_.open(temp_, std::ios::binary | std::ios::trunc);
  if (!out_) {
    std::filesystem::remove(temp_);
    throw std::runtime_error("cannot open " + temp_.string() + " for writing");
  }
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  out_.close();
  std::error_code ec;
  std::filesystem::remove(temp_, ec);
}

void AtomicFile::commit() {
  out_.flush();
  const bool ok = static_cast<bool>(out_);
  out_.close();
  if (!ok || out_.fail()) throw std::runtime_error("writing " + final_.string() + " failed (disk full?)");
  std::error_code ec;
  std::filesystem::rename(temp_, final_, ec);
  if (ec) throw std::runtime_error("cannot rename " + temp_.string() + " to " + final_.string() + ": " + ec.message());
  committed_ = true;
}

}  // namespace kalmanscan::formats
