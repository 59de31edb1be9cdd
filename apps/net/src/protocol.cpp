#include "kalmanscan/net/protocol.hpp"

#include "kalmanscan/net/error.hpp"
#include "kalmanscan/net/frame.hpp"

namespace kalmanscan::net {

std::string decode_client_frame(std::string_view payload, proto::ClientFrame& frame) {
  if (!frame.ParseFromArray(payload.data(), static_cast<int>(payload.size())))
    return "frame payload of " + std::to_string(payload.size()) + " bytes is not a ClientFrame";
  if (frame.body_case() == proto::ClientFrame::BODY_NOT_SET)
    return "ClientFrame has no body (expected one of hello, open, measurement, subscribe, close, ping)";
  return {};
}

std::string decode_server_frame(std::string_view payload, proto::ServerFrame& frame) {
  if (!frame.ParseFromArray(payload.data(), static_cast<int>(payload.size())))
    return "frame payload of " + std::to_string(payload.size()) + " bytes is not a ServerFrame";
  if (frame.body_case() == proto::ServerFrame::BODY_NOT_SET) return "ServerFrame has no body";
  return {};
}

void check_stream_name(std::string_view name) {
  if (name.empty() || name.size() > max_stream_name)
    throw Error("name: expected 1 to " + std::to_string(max_stream_name) + " characters, found " +
                std::to_string(name.size()));
  if (name.front() == '.') throw Error("name: must not start with '.'");
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok)
      throw Error("name: character " + std::to_string(i) + " (byte " +
                  std::to_string(static_cast<unsigned char>(c)) + ") is not one of [A-Za-z0-9._-]");
  }
}

void append_message(std::string& out, const google::protobuf::MessageLite& message, std::size_t max_frame_bytes) {
  const std::size_t n = message.ByteSizeLong();
  if (n == 0 || n > max_frame_bytes)
    throw Error("frame: message of " + std::to_string(n) + " bytes does not fit 1..max_frame_bytes = " +
                    std::to_string(max_frame_bytes),
                proto::ERROR_FRAME_TOO_LARGE);
  const std::size_t at = out.size();
  out.resize(at + frame_header_bytes + n);
  char* p = out.data() + at;
  put_frame_header(p, static_cast<std::uint32_t>(n));
  message.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(p + frame_header_bytes));
}

proto::ServerFrame error_frame(std::uint64_t request_id, proto::ErrorCode code, const std::string& message,
                               bool fatal, std::uint64_t stream_id, std::uint64_t seq) {
  proto::ServerFrame f;
  f.set_request_id(request_id);
  auto* e = f.mutable_error();
  e->set_code(code);
  e->set_message(message);
  e->set_fatal(fatal);
  e->set_stream_id(stream_id);
  e->set_seq(seq);
  return f;
}

}  // namespace kalmanscan::net
