#include "spill.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace kalmanscan::cli {
namespace {

void fail(const char* what) { throw std::runtime_error(std::string("spill file: ") + what + ": " + std::strerror(errno)); }

template <class T>
void put(std::FILE* f, const std::vector<T>& v) {
  const std::uint64_t n = v.size();
  if (std::fwrite(&n, sizeof n, 1, f) != 1 || (n && std::fwrite(v.data(), sizeof(T), n, f) != n)) fail("write failed (disk full?)");
}
template <class T>
void put(std::FILE* f, const T& x) {
  if (std::fwrite(&x, sizeof x, 1, f) != 1) fail("write failed (disk full?)");
}
template <class T>
void get(std::FILE* f, std::vector<T>& v) {
  std::uint64_t n = 0;
  if (std::fread(&n, sizeof n, 1, f) != 1) fail("read failed");
  v.resize(n);
  if (n && std::fread(v.data(), sizeof(T), n, f) != n) fail("read failed");
}
template <class T>
void get(std::FILE* f, T& x) {
  if (std::fread(&x, sizeof x, 1, f) != 1) fail("read failed");
}

}  // namespace

std::FILE* open_unnamed_file(const std::filesystem::path& dir) {
  const auto base = dir.empty() ? std::filesystem::temp_directory_path() : dir;
  std::string pattern = (base / "kalmanscan-XXXXXX").string();
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0) throw std::runtime_error("cannot create a temporary file in " + base.string() + ": " + std::strerror(errno));
  ::unlink(pattern.c_str());
  std::FILE* f = ::fdopen(fd, "w+b");
  if (!f) {
    ::close(fd);
    throw std::runtime_error("cannot open a temporary file in " + base.string());
  }
  return f;
}

SpillFile::SpillFile(const std::filesystem::path& dir) : file_(open_unnamed_file(dir)) {}

SpillFile::~SpillFile() { std::fclose(file_); }

void SpillFile::append(const filters::Measurements& meas, const filters::Trajectory& tr) {
  if (std::fseek(file_, 0, SEEK_END) != 0) fail("seek failed");
  offsets_.push_back(::ftello(file_));
  put(file_, meas.first_step), put(file_, meas.times), put(file_, meas.control_dim), put(file_, meas.controls);
  put(file_, meas.step_begin), put(file_, meas.sensor), put(file_, meas.value_begin), put(file_, meas.values);
  put(file_, tr.first_step), put(file_, tr.steps), put(file_, tr.n), put(file_, tr.log_likelihood);
  put(file_, tr.filtered_mean), put(file_, tr.filtered_cov), put(file_, tr.nis), put(file_, tr.nis_dof);
}

void SpillFile::read(std::size_t index, filters::Measurements& meas, filters::Trajectory& tr) {
  if (::fseeko(file_, offsets_.at(index), SEEK_SET) != 0) fail("seek failed");
  get(file_, meas.first_step), get(file_, meas.times), get(file_, meas.control_dim), get(file_, meas.controls);
  get(file_, meas.step_begin), get(file_, meas.sensor), get(file_, meas.value_begin), get(file_, meas.values);
  tr = {};
  get(file_, tr.first_step), get(file_, tr.steps), get(file_, tr.n), get(file_, tr.log_likelihood);
  get(file_, tr.filtered_mean), get(file_, tr.filtered_cov), get(file_, tr.nis), get(file_, tr.nis_dof);
}

}  // namespace kalmanscan::cli
