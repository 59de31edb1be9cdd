// Record files (proto/kalmanscan/log.proto): the magic string, a length-delimited FormatVersion,
// a length-delimited RecordFileHeader, then length-delimited records, each a varint byte count
// followed by the message (google::protobuf::util::delimited_message_util's layout).
// Readers refuse another major version; a file that ends inside a record (a crash or a copy cut
// short) reads up to its last whole record and says so.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>

#include <google/protobuf/message_lite.h>

#include "kalmanscan/formats/log_reader.hpp"
#include "kalmanscan/formats/source.hpp"
#include "kalmanscan/log.pb.h"
#include "kalmanscan/version.pb.h"

namespace kalmanscan::formats {

inline constexpr std::string_view record_magic = "KSCANREC";
inline constexpr std::uint32_t record_major_version = 1;
inline constexpr std::uint32_t record_minor_version = 0;
/// Largest record a reader accepts (a larger length prefix means a corrupt file).
inline constexpr std::uint32_t max_record_bytes = 1u << 26;

/// Writes a record file to `out` (opened in binary mode): the preamble on construction, one
/// record per write(). Throws std::runtime_error when the stream fails.
class RecordWriter {
 public:
  RecordWriter(std::ostream& out, proto::RecordFileHeader::Content content, const std::string& source);
  void write(const google::protobuf::MessageLite& record);

 private:
  std::ostream& out_;
};

/// Reads the messages of a record file one by one.
class RecordReader {
 public:
  /// Reads and checks the preamble; throws FormatError for a missing magic string, a major
  /// version other than record_major_version, or a header of another content than `expected`.
  RecordReader(std::unique_ptr<ByteSource> source, proto::RecordFileHeader::Content expected);
  ~RecordReader();

  /// Reads the next record into `message`. Returns false at the end of the file, or when the file
  /// ends inside a record (then truncated() is true). Throws FormatError for a record that does
  /// not parse or whose length exceeds max_record_bytes.
  bool next(google::protobuf::MessageLite& message);

  std::uint64_t records() const { return records_; }
  std::uint64_t bytes() const { return bytes_; }
  bool truncated() const { return truncated_; }
  const proto::FormatVersion& version() const { return version_; }
  const proto::RecordFileHeader& header() const { return header_; }
  const ByteSource& source() const { return *source_; }

 private:
  enum class Got { message, end, truncated };
  Got read_delimited(std::string& bytes);

  std::unique_ptr<ByteSource> source_;
  struct Stream;
  std::unique_ptr<Stream> stream_;
  proto::FormatVersion version_;
  proto::RecordFileHeader header_;
  std::string scratch_;
  std::uint64_t records_ = 0, bytes_ = 0;
  bool truncated_ = false;
};

/// A LogReader over a record file of LogRecord messages (see log.proto for their meaning).
class RecordLogReader final : public LogReader {
 public:
  RecordLogReader(std::unique_ptr<ByteSource> source, const Model& model);

  bool read(StepBlock& out, std::size_t max_steps) override;
  const ReadStats& stats() const override { return assembler_.stats(); }
  std::uint64_t total_bytes() const override { return reader_.source().size(); }
  std::string warning() const override;

 private:
  void add(const proto::LogRecord& record, StepBlock& out);

  RecordReader reader_;
  const Model& model_;
  StepAssembler assembler_;
  proto::LogRecord record_;
  Location at_;
};

}  // namespace kalmanscan::formats
