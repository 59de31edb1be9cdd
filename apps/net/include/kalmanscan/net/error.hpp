// How kalmanscan_net reports failures (STYLE.md): bad caller input and protocol violations
// throw kalmanscan::net::Error naming the field; on the wire they become an Error frame
// (stream.proto) carrying an ErrorCode. The service never aborts on anything a peer sends.
#pragma once

#include <stdexcept>
#include <string>

#include "kalmanscan/stream.pb.h"

namespace kalmanscan::net {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, proto::ErrorCode code = proto::ERROR_INVALID_ARGUMENT)
      : std::runtime_error(message), code_(code) {}
  proto::ErrorCode code() const { return code_; }

 private:
  proto::ErrorCode code_;
};

}  // namespace kalmanscan::net
