// CSV logs: a header line names the columns, then one row per line (RFC 4180 without quoting).
//   - the model names the columns it reads: the time column, each sensor's columns, the
//     control columns and, optionally, a sensor column that says which sensor a row belongs to
//     (only that sensor's columns are read on that row; without it every sensor reads every row);
//     other columns are ignored;
//   - an empty cell, or nan (any case), is a missing value; surrounding blanks are ignored;
//   - rows with equal timestamps form one step; timestamps never decrease; without a time
//     column in the header, and for explicit dynamics only, each row is its own step;
//   - blank lines are skipped; "\r\n" line ends are accepted.
// The file is read in blocks of `block_bytes`: only one block of text (plus one line that
// crosses its end) is held at a time. Numbers are parsed with std::from_chars.
#pragma once

#include <memory>
#include <vector>

#include "kalmanscan/formats/log_reader.hpp"

namespace kalmanscan::formats {

/// Longest line accepted (a longer one is an error rather than unbounded memory).
inline constexpr std::size_t max_csv_line_bytes = std::size_t(1) << 24;

class CsvReader final : public LogReader {
 public:
  /// Reads the header; throws FormatError when a column the model needs is absent, a header name
  /// repeats, or the input is empty.
  CsvReader(std::unique_ptr<ByteSource> source, const Model& model, std::size_t block_bytes = std::size_t(1) << 20);

  bool read(StepBlock& out, std::size_t max_steps) override;
  const ReadStats& stats() const override { return assembler_.stats(); }
  std::uint64_t total_bytes() const override { return source_->size(); }

 private:
  // A column a row reads: the cell at `column` goes to measurement `slot`.
  struct Read {
    std::size_t column;
    std::size_t slot;
  };
  bool next_line(std::string_view& line);
  void parse_header(std::string_view line);
  void parse_row(std::string_view line, StepBlock& out);
  const Location& where(std::size_t column);
  double number(std::size_t column);

  std::unique_ptr<ByteSource> source_;
  const Model& model_;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  std::uint64_t line_no_ = 0;

  std::vector<std::string> header_;
  std::size_t time_col_ = npos_, sensor_col_ = npos_;
  std::vector<std::vector<Read>> sensor_reads_;  // per sensor
  std::vector<Read> all_reads_;                  // every sensor's, when there is no sensor column
  std::vector<std::size_t> control_cols_;
  std::vector<std::string_view> cells_;
  std::vector<Location> where_;  // per column, with the current line filled in before use
  StepAssembler assembler_;
  static constexpr std::size_t npos_ = static_cast<std::size_t>(-1);
};

}  // namespace kalmanscan::formats
