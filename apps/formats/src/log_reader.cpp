#include "kalmanscan/formats/log_reader.hpp"

#include <cstring>

#include "kalmanscan/formats/csv_reader.hpp"
#include "kalmanscan/formats/record_file.hpp"

namespace kalmanscan::formats {
namespace {

/// Replays the bytes already read to tell the format apart, then reads on from the source.
class Replay final : public ByteSource {
 public:
  Replay(std::string head, std::unique_ptr<ByteSource> rest) : head_(std::move(head)), rest_(std::move(rest)) {}
  std::size_t read(char* buf, std::size_t n) override {
    if (pos_ < head_.size()) {
      const std::size_t got = std::min(n, head_.size() - pos_);
      std::memcpy(buf, head_.data() + pos_, got);
      pos_ += got;
      return got;
    }
    return rest_->read(buf, n);
  }
  std::uint64_t size() const override { return rest_->size(); }
  const std::string& name() const override { return rest_->name(); }

 private:
  std::string head_;
  std::unique_ptr<ByteSource> rest_;
  std::size_t pos_ = 0;
};

}  // namespace

LogFormat detect_log_format(std::string_view head) {
  return head.substr(0, record_magic.size()) == record_magic ? LogFormat::records : LogFormat::csv;
}

std::unique_ptr<LogReader> open_log(std::unique_ptr<ByteSource> source, const Model& model) {
  std::string head(record_magic.size(), '\0');
  std::size_t got = 0;
  while (got < head.size()) {
    const std::size_t n = source->read(head.data() + got, head.size() - got);
    if (n == 0) break;
    got += n;
  }
  head.resize(got);
  const LogFormat format = detect_log_format(head);
  auto replay = std::make_unique<Replay>(std::move(head), std::move(source));
  if (format == LogFormat::records) return std::make_unique<RecordLogReader>(std::move(replay), model);
  return std::make_unique<CsvReader>(std::move(replay), model);
}

std::unique_ptr<LogReader> open_log(const std::filesystem::path& path, const Model& model) {
  return open_log(open_file_source(path), model);
}

}  // namespace kalmanscan::formats
