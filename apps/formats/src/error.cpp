#include "kalmanscan/formats/error.hpp"

#include <cstdio>

namespace kalmanscan::formats {
namespace {

std::string prefix(const Location& w) {
  std::string s = w.file.empty() ? std::string("<input>") : w.file;
  if (w.line) s += std::string(":") + w.unit + std::to_string(w.line);
  s += ": ";
  if (!w.field.empty()) s += "field '" + w.field + "': ";
  return s;
}

}  // namespace

FormatError::FormatError(Location where, const std::string& expected, const std::string& found)
    : std::runtime_error(prefix(where) + "expected " + expected + ", found " + found), where_(std::move(where)) {}

FormatError::FormatError(Location where, const std::string& message)
    : std::runtime_error(prefix(where) + message), where_(std::move(where)) {}

std::string quote_found(std::string_view text) {
  constexpr std::size_t max_shown = 40;
  std::string s = "'";
  for (std::size_t i = 0; i < text.size() && i < max_shown; ++i) {
    const unsigned char ch = static_cast<unsigned char>(text[i]);
    if (ch < 0x20 || ch == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      s += buf;
    } else {
      s += static_cast<char>(ch);
    }
  }
  if (text.size() > max_shown) s += "...";
  return s + "'";
}

}  // namespace kalmanscan::formats
