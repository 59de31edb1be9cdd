#include "kalmanscan/net/recording.hpp"

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <ostream>
#include <streambuf>

#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/formats/record_file.hpp"
#include "kalmanscan/net/error.hpp"

namespace kalmanscan::net {

namespace {
/// A streambuf that appends everything to a std::string: the user-space buffer.
class StringSink final : public std::streambuf {
 public:
  std::string data;

 protected:
  int_type overflow(int_type c) override {
    if (c != traits_type::eof()) data.push_back(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    data.append(s, static_cast<std::size_t>(n));
    return n;
  }
};

Error recording_error(const std::filesystem::path& path, const std::string& what) {
  return Error("recording " + path.string() + ": " + what + ": " + std::strerror(errno), proto::ERROR_RECORDING);
}
}  // namespace

struct Recording::Buffer {
  StringSink sink;
  std::ostream out{&sink};
  formats::RecordWriter writer;
  Buffer(const std::string& source) : writer(out, proto::RecordFileHeader::LOG, source) {}
};

Recording::Recording(RecordingWriter& writer, const std::filesystem::path& stem, const proto::ModelSpec& model,
                     const std::string& source)
    : writer_(writer), path_(stem.string() + ".ksrec") {
  // The record file first (O_EXCL: an existing recording is never touched), then the model.
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw recording_error(path_, "cannot create");
  file_ = writer_.adopt(fd, path_);
  const std::filesystem::path model_path = stem.string() + ".model.json";
  std::ofstream m(model_path, std::ios::binary | std::ios::trunc);
  m << formats::format_model_spec(model, formats::SpecSyntax::json);
  m.flush();
  if (!m) {
    const Error error = recording_error(model_path, "cannot write the model spec");
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);  // the empty record file we created
    throw error;
  }
  buffer_ = std::make_unique<Buffer>(source);  // writes the preamble into the buffer
  flush();
}

Recording::~Recording() {
  try {
    close();
  } catch (const Error&) {
  }
}

std::size_t Recording::buffered_bytes() const { return buffer_ ? buffer_->sink.data.size() : 0; }

void Recording::append(const proto::LogRecord& record) {
  buffer_->writer.write(record);
  ++records_;
}

void Recording::flush() {
  if (file_) writer_.submit(file_, buffer_->sink.data);
}

void Recording::close() {
  if (!file_) return;
  const auto file = std::move(file_);
  struct Closer {  // queue the close even when the last flush throws
    RecordingWriter& writer;
    const std::shared_ptr<RecordingWriter::File>& file;
    ~Closer() { writer.close(file); }
  } closer{writer_, file};
  writer_.submit(file, buffer_->sink.data);
}

}  // namespace kalmanscan::net
