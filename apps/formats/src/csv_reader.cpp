#include "kalmanscan/formats/csv_reader.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace kalmanscan::formats {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void split(std::string_view line, std::vector<std::string_view>& cells) {
  cells.clear();
  const char* p = line.data();
  const char* const end = p + line.size();
  for (;;) {
    const char* comma = static_cast<const char*>(std::memchr(p, ',', static_cast<std::size_t>(end - p)));
    if (!comma) {
      cells.emplace_back(p, static_cast<std::size_t>(end - p));
      return;
    }
    cells.emplace_back(p, static_cast<std::size_t>(comma - p));
    p = comma + 1;
  }
}

std::string list(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "'" : ", '") + n + "'";
  return s.empty() ? "none" : s;
}

}  // namespace

CsvReader::CsvReader(std::unique_ptr<ByteSource> source, const Model& model, std::size_t block_bytes)
    : source_(std::move(source)), model_(model),
      // a small input needs no more than its own size (the block grows if a line is longer)
      buf_(std::max<std::size_t>(64, source_->size() ? std::min<std::uint64_t>(block_bytes, source_->size() + 1) : block_bytes)),
      assembler_(model.measurement_dim(), model.control_dim()) {
  std::string_view line;
  do {
    if (!next_line(line)) throw FormatError({source_->name(), 0, ""}, "a header line naming the columns", "an empty file");
  } while (trim(line).empty());
  parse_header(line);
}

bool CsvReader::next_line(std::string_view& line) {
  for (;;) {
    if (begin_ < end_) {
      char* const first = buf_.data() + begin_;
      if (const char* nl = static_cast<const char*>(std::memchr(first, '\n', end_ - begin_))) {
        const std::size_t len = static_cast<std::size_t>(nl - first);
        line = std::string_view(first, len);
        begin_ += len + 1;
        assembler_.stats().bytes += len + 1;
        ++line_no_;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        return true;
      }
    }
    if (eof_) {
      if (begin_ == end_) return false;
      line = std::string_view(buf_.data() + begin_, end_ - begin_);
      assembler_.stats().bytes += end_ - begin_;
      begin_ = end_;
      ++line_no_;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      return true;
    }
    // Keep the unfinished line, then fill the rest of the block.
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    if (end_ == buf_.size()) {
      if (buf_.size() >= max_csv_line_bytes)
        throw FormatError({source_->name(), line_no_ + 1, ""}, "a line of at most " + std::to_string(max_csv_line_bytes) + " bytes",
                          "a longer one");
      buf_.resize(std::min(2 * buf_.size(), max_csv_line_bytes));
    }
    const std::size_t got = source_->read(buf_.data() + end_, buf_.size() - end_);
    if (got == 0) eof_ = true;
    end_ += got;
  }
}

void CsvReader::parse_header(std::string_view line) {
  split(line, cells_);
  const std::string& file = source_->name();
  for (std::size_t c = 0; c < cells_.size(); ++c) {
    std::string name(trim(cells_[c]));
    for (std::size_t prev = 0; prev < c; ++prev)
      if (header_[prev] == name)
        throw FormatError({file, line_no_, name}, "column names used once", "the name again in column " + std::to_string(c + 1));
    header_.push_back(name);
    where_.push_back({file, 0, name});
  }
  auto column = [&](const std::string& name, const std::string& role) {
    for (std::size_t c = 0; c < header_.size(); ++c)
      if (header_[c] == name) return c;
    throw FormatError({file, line_no_, name}, "a column named '" + name + "' (" + role + ") in the header",
                      "the columns " + list(header_));
  };
  bool has_time = false;
  for (const auto& h : header_) has_time |= h == model_.time_column();
  if (has_time || model_.uses_timestamps()) time_col_ = column(model_.time_column(), "timestamps");
  if (!model_.sensor_column().empty()) sensor_col_ = column(model_.sensor_column(), "the sensor of each row");
  for (const auto& s : model_.sensors()) {
    std::vector<Read> reads;
    for (std::size_t j = 0; j < s.size; ++j) reads.push_back({column(s.columns[j], "sensor '" + s.name + "'"), s.offset + j});
    all_reads_.insert(all_reads_.end(), reads.begin(), reads.end());
    sensor_reads_.push_back(std::move(reads));
  }
  for (const auto& name : model_.control_columns()) control_cols_.push_back(column(name, "a control input"));
}

const Location& CsvReader::where(std::size_t column) {
  where_[column].line = line_no_;
  return where_[column];
}

double CsvReader::number(std::size_t column) {
  std::string_view s = trim(cells_[column]);
  constexpr double missing = std::numeric_limits<double>::quiet_NaN();
  if (s.empty()) return missing;
  const char* first = s.data();
  const char* const last = first + s.size();
  if (*first == '+') ++first;
  double v = 0;
  const auto [ptr, ec] = std::from_chars(first, last, v);
  if (ec == std::errc::result_out_of_range) throw FormatError(where(column), "a number within double range", quote_found(s));
  if (ec != std::errc() || ptr != last || first == last) throw FormatError(where(column), "a number", quote_found(s));
  if (std::isnan(v)) return missing;
  if (std::isinf(v)) throw FormatError(where(column), "a finite number", quote_found(s));
  return v;
}

void CsvReader::parse_row(std::string_view line, StepBlock& out) {
  split(line, cells_);
  if (cells_.size() != header_.size())
    throw FormatError({source_->name(), line_no_, ""}, std::to_string(header_.size()) + " fields (as in the header)",
                      std::to_string(cells_.size()));
  double t = static_cast<double>(assembler_.stats().rows);
  if (time_col_ != npos_) {
    t = number(time_col_);
    if (std::isnan(t)) throw FormatError(where(time_col_), "a timestamp", quote_found(cells_[time_col_]));
  }
  assembler_.begin_row(t, where(time_col_ != npos_ ? time_col_ : 0), out);
  const std::vector<Read>* reads = &all_reads_;
  if (sensor_col_ != npos_) {
    const std::string_view name = trim(cells_[sensor_col_]);
    std::size_t s = 0;
    while (s < model_.sensors().size() && model_.sensors()[s].name != name) ++s;
    if (s == model_.sensors().size()) {
      std::vector<std::string> names;
      for (const auto& sensor : model_.sensors()) names.push_back(sensor.name);
      throw FormatError(where(sensor_col_), "one of the sensors " + list(names), quote_found(name));
    }
    reads = &sensor_reads_[s];
  }
  for (const Read& r : *reads) assembler_.measure(r.slot, number(r.column), where(r.column));
  for (std::size_t j = 0; j < control_cols_.size(); ++j) assembler_.control(j, number(control_cols_[j]), where(control_cols_[j]));
}

bool CsvReader::read(StepBlock& out, std::size_t max_steps) {
  out.clear();
  out.m = model_.measurement_dim();
  out.k = model_.control_dim();
  std::string_view line;
  while (out.size() < max_steps) {
    if (!next_line(line)) {
      assembler_.finish(out);
      break;
    }
    if (trim(line).empty()) continue;
    parse_row(line, out);
  }
  return out.size() > 0;
}

}  // namespace kalmanscan::formats
