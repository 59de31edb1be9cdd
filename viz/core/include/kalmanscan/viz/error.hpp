// How the dashboard's Qt-free core reports bad input (STYLE.md): an exception naming the series,
// sample, file or field, with what was expected against what was found.
#pragma once

#include <stdexcept>
#include <string>

namespace kalmanscan::viz {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace kalmanscan::viz
