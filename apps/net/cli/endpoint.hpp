// HOST:PORT parsing shared by the serve, send and load subcommands.
#pragma once

#include <cstdint>
#include <string>

namespace kalmanscan::net::cli {

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
};

/// "HOST:PORT" (IPv6 as "[ADDR]:PORT"), or ":PORT" / "PORT" for 127.0.0.1. Throws
/// std::invalid_argument naming the text when it does not parse.
Endpoint parse_endpoint(const std::string& text);

/// The token from the environment variable KALMANSCAN_TOKEN, or the first line of `file` when
/// given (tokens stay off the command line, where other users could read them in ps).
std::string read_token(const std::string& file);

}  // namespace kalmanscan::net::cli
