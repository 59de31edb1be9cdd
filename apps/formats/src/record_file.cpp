#include "kalmanscan/formats/record_file.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>

#include "kalmanscan/formats/error.hpp"

namespace kalmanscan::formats {
namespace {

namespace pbio = google::protobuf::io;

class SourceAdaptor final : public pbio::CopyingInputStream {
 public:
  explicit SourceAdaptor(ByteSource& source) : source_(source) {}
  int Read(void* buffer, int size) override {
    return static_cast<int>(source_.read(static_cast<char*>(buffer), static_cast<std::size_t>(size)));
  }

 private:
  ByteSource& source_;
};

const char* content_name(proto::RecordFileHeader::Content c) {
  switch (c) {
    case proto::RecordFileHeader::LOG: return "LOG";
    case proto::RecordFileHeader::ESTIMATES: return "ESTIMATES";
    default: return "CONTENT_UNSPECIFIED";
  }
}

}  // namespace

RecordWriter::RecordWriter(std::ostream& out, proto::RecordFileHeader::Content content, const std::string& source)
    : out_(out) {
  out_.write(record_magic.data(), static_cast<std::streamsize>(record_magic.size()));
  proto::FormatVersion version;
  version.set_major(record_major_version);
  version.set_minor(record_minor_version);
  proto::RecordFileHeader header;
  header.set_content(content);
  header.set_source(source);
  write(version);
  write(header);
}

void RecordWriter::write(const google::protobuf::MessageLite& record) {
  if (!google::protobuf::util::SerializeDelimitedToOstream(record, &out_) || !out_)
    throw std::runtime_error("record file: writing a " + record.GetTypeName() + " failed");
}

struct RecordReader::Stream {
  explicit Stream(ByteSource& source)
      : adaptor(source),
        input(&adaptor, static_cast<int>(source.size() ? std::clamp<std::uint64_t>(source.size(), 256, 1 << 16) : 1 << 16)) {}
  SourceAdaptor adaptor;
  pbio::CopyingInputStreamAdaptor input;
};

RecordReader::RecordReader(std::unique_ptr<ByteSource> source, proto::RecordFileHeader::Content expected)
    : source_(std::move(source)), stream_(std::make_unique<Stream>(*source_)) {
  const std::string& file = source_->name();
  {
    pbio::CodedInputStream coded(&stream_->input);
    std::string magic;
    if (!coded.ReadString(&magic, static_cast<int>(record_magic.size())) || magic != record_magic)
      throw FormatError({file, 0, ""}, "a record file starting with '" + std::string(record_magic) + "'",
                        quote_found(magic));
    bytes_ += record_magic.size();
  }
  if (read_delimited(scratch_) != Got::message || !version_.ParseFromString(scratch_))
    throw FormatError({file, 0, "version"}, "a FormatVersion after the magic string", "none");
  if (version_.major() != record_major_version)
    throw FormatError({file, 0, "version"}, "format version " + std::to_string(record_major_version) + ".x",
                      std::to_string(version_.major()) + "." + std::to_string(version_.minor()) +
                          " (written by a newer or older kalmanscan)");
  if (read_delimited(scratch_) != Got::message || !header_.ParseFromString(scratch_))
    throw FormatError({file, 0, "header"}, "a RecordFileHeader after the version", "none");
  if (header_.content() != expected)
    throw FormatError({file, 0, "header.content"}, std::string("a file of ") + content_name(expected) + " records",
                      std::string("one of ") + content_name(header_.content()) + " records");
}

RecordReader::~RecordReader() = default;

RecordReader::Got RecordReader::read_delimited(std::string& bytes) {
  // A fresh CodedInputStream per record (as delimited_message_util does) keeps its byte limit
  // per record rather than per file; its destructor hands unread bytes back to the stream.
  pbio::CodedInputStream coded(&stream_->input);
  const void* data = nullptr;
  int available = 0;
  if (!coded.GetDirectBufferPointer(&data, &available)) return Got::end;
  std::uint32_t size = 0;
  if (!coded.ReadVarint32(&size)) {
    if (!coded.GetDirectBufferPointer(&data, &available)) return Got::truncated;
    throw FormatError({source_->name(), records_ + 1, "", "record "}, "a varint record length", "malformed bytes");
  }
  if (size > max_record_bytes)
    throw FormatError({source_->name(), records_ + 1, "", "record "},
                      "a record of at most " + std::to_string(max_record_bytes) + " bytes", std::to_string(size) + " bytes");
  if (!coded.ReadString(&bytes, static_cast<int>(size))) return Got::truncated;
  bytes_ += static_cast<std::uint64_t>(coded.CurrentPosition());
  return Got::message;
}

bool RecordReader::next(google::protobuf::MessageLite& message) {
  if (truncated_) return false;
  switch (read_delimited(scratch_)) {
    case Got::end: return false;
    case Got::truncated: truncated_ = true; return false;
    case Got::message: break;
  }
  ++records_;
  if (!message.ParseFromString(scratch_))
    throw FormatError({source_->name(), records_, "", "record "}, "a " + message.GetTypeName() + " message",
                      std::to_string(scratch_.size()) + " bytes that do not parse as one");
  return true;
}

RecordLogReader::RecordLogReader(std::unique_ptr<ByteSource> source, const Model& model)
    : reader_(std::move(source), proto::RecordFileHeader::LOG), model_(model),
      assembler_(model.measurement_dim(), model.control_dim()) {
  at_.file = reader_.source().name();
  at_.unit = "record ";
}

void RecordLogReader::add(const proto::LogRecord& r, StepBlock& out) {
  at_.line = reader_.records();
  at_.field = "timestamp";
  assembler_.begin_row(r.timestamp(), at_, out);
  const auto& sensors = model_.sensors();
  std::size_t s = 0;
  if (!(r.sensor().empty() && sensors.size() == 1)) {
    while (s < sensors.size() && sensors[s].name != r.sensor()) ++s;
    if (s == sensors.size()) {
      std::string names;
      for (const auto& sensor : sensors) names += (names.empty() ? "'" : ", '") + sensor.name + "'";
      at_.field = "sensor";
      throw FormatError(at_, "one of the sensors " + names, quote_found(r.sensor()));
    }
  }
  const SensorLayout& sensor = sensors[s];
  if (static_cast<std::size_t>(r.values_size()) != sensor.size) {
    at_.field = "values";
    throw FormatError(at_, std::to_string(sensor.size) + " values (sensor '" + sensor.name + "')",
                      std::to_string(r.values_size()));
  }
  for (std::size_t j = 0; j < sensor.size; ++j) {
    const double v = r.values(static_cast<int>(j));
    if (std::isinf(v)) {
      at_.field = "values[" + std::to_string(j) + "]";
      throw FormatError(at_, "a finite number or NaN (missing)", std::to_string(v));
    }
    at_.field = "values";
    assembler_.measure(sensor.offset + j, v, at_);
  }
  if (!r.controls().empty()) {
    if (static_cast<std::size_t>(r.controls_size()) != model_.control_dim()) {
      at_.field = "controls";
      throw FormatError(at_, std::to_string(model_.control_dim()) + " controls (or none)", std::to_string(r.controls_size()));
    }
    for (int j = 0; j < r.controls_size(); ++j) {
      at_.field = "controls[" + std::to_string(j) + "]";
      if (std::isinf(r.controls(j))) throw FormatError(at_, "a finite number or NaN (missing)", std::to_string(r.controls(j)));
      assembler_.control(static_cast<std::size_t>(j), r.controls(j), at_);
    }
  }
}

bool RecordLogReader::read(StepBlock& out, std::size_t max_steps) {
  out.clear();
  out.m = model_.measurement_dim();
  out.k = model_.control_dim();
  while (out.size() < max_steps) {
    if (!reader_.next(record_)) {
      assembler_.finish(out);
      break;
    }
    add(record_, out);
  }
  assembler_.stats().bytes = reader_.bytes();
  return out.size() > 0;
}

std::string RecordLogReader::warning() const {
  if (!reader_.truncated()) return {};
  return reader_.source().name() + ": the file ends inside record " + std::to_string(reader_.records() + 1) +
         " (cut short?); read the " + std::to_string(reader_.records()) + " whole records before it";
}

}  // namespace kalmanscan::formats
