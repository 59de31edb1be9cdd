// How the formats library reports bad input (STYLE.md: bad caller input → exception naming the
// field). Every message names where the problem is (file, line or record, field) and what was
// expected against what was found, e.g.
//   log.csv:17: field 'gps_x': expected a finite number, found 'inf'
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace kalmanscan::formats {

/// Where in an input a problem lies. `line` is 1-based (a CSV line, or a record's index + 1 in a
/// record file, see `unit`); 0 = the whole file. `field` may be empty.
struct Location {
  std::string file;
  std::uint64_t line = 0;
  std::string field;
  const char* unit = "";  ///< "" for text lines, "record " for record files
};

class FormatError : public std::runtime_error {
 public:
  /// "file:line: field 'f': expected <expected>, found <found>".
  FormatError(Location where, const std::string& expected, const std::string& found);
  /// "file:line: field 'f': <message>" for problems that are not a mismatch.
  FormatError(Location where, const std::string& message);

  const Location& where() const { return where_; }

 private:
  Location where_;
};

/// Quotes `text` for an error message, cut to a readable length, with control bytes escaped.
std::string quote_found(std::string_view text);

}  // namespace kalmanscan::formats
