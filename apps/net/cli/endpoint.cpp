#include "endpoint.hpp"

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace kalmanscan::net::cli {

Endpoint parse_endpoint(const std::string& text) {
  Endpoint e{"127.0.0.1", 0};
  std::string port = text;
  if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    std::string host = text.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (!host.empty()) e.host = host;
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535)
    throw std::invalid_argument("'" + text + "' is not HOST:PORT (a port from 0 to 65535)");
  e.port = static_cast<std::uint16_t>(value);
  return e;
}

std::string read_token(const std::string& file) {
  if (!file.empty()) {
    std::ifstream in(file);
    std::string line;
    if (!in || !std::getline(in, line)) throw std::runtime_error("cannot read a token from " + file);
    return line;
  }
  const char* env = std::getenv("KALMANSCAN_TOKEN");
  return env ? env : "";
}

}  // namespace kalmanscan::net::cli
