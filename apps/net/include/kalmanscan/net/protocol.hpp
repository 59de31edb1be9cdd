// The message layer of the stream protocol (proto/kalmanscan/stream.proto) over frames (frame.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <google/protobuf/arena.h>

#include "kalmanscan/stream.pb.h"

namespace kalmanscan::net {

/// The protocol version this library speaks (Hello.protocol_version, Welcome.protocol_version).
inline constexpr std::uint32_t protocol_version = 1;
/// Longest stream name.
inline constexpr std::size_t max_stream_name = 128;

/// Parses a frame payload as a ClientFrame and checks that it has a body. Returns an empty string
/// on success, otherwise why it was refused (the payload is untrusted: any bytes are fine).
std::string decode_client_frame(std::string_view payload, proto::ClientFrame& frame);
/// The same for a ServerFrame (client side).
std::string decode_server_frame(std::string_view payload, proto::ServerFrame& frame);

/// Decoded frames' messages on one reused arena, so that a steady flow of frames allocates
/// nothing (a message parsed on the heap allocates each of its sub-messages and fields).
/// fresh() resets the arena: the message it returned before is gone.
class MessageArena {
 public:
  MessageArena() : arena_(options(initial_)) {}
  MessageArena(const MessageArena&) = delete;
  MessageArena& operator=(const MessageArena&) = delete;

  template <class Message>
  Message& fresh() {
    arena_.Reset();
    return *google::protobuf::Arena::CreateMessage<Message>(&arena_);
  }

 private:
  static google::protobuf::ArenaOptions options(char* block) {
    google::protobuf::ArenaOptions o;
    o.initial_block = block;
    o.initial_block_size = sizeof initial_;
    return o;
  }
  alignas(16) char initial_[8192];  ///< typical frames fit here; larger ones take heap blocks until the next reset
  google::protobuf::Arena arena_;
};

/// Throws Error(ERROR_INVALID_ARGUMENT) unless `name` has 1..max_stream_name characters, all of
/// [A-Za-z0-9._-], and does not start with '.' (names become file names of recordings).
void check_stream_name(std::string_view name);

/// Appends `message` to `out` as one frame. Throws Error when it would exceed max_frame_bytes.
void append_message(std::string& out, const google::protobuf::MessageLite& message, std::size_t max_frame_bytes);

/// An ErrorReply frame.
proto::ServerFrame error_frame(std::uint64_t request_id, proto::ErrorCode code, const std::string& message,
                               bool fatal, std::uint64_t stream_id = 0, std::uint64_t seq = 0);

}  // namespace kalmanscan::net
