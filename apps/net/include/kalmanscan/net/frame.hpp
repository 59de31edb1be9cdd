// Length-prefixed frames on a byte stream (DESIGN.md §5).
//
// On the wire a frame is a 4-byte big-endian payload length N followed by N bytes of payload
// (one serialized protobuf message: ClientFrame towards the server, ServerFrame back).
// Preconditions enforced before any payload byte is used: 1 <= N <= max_frame_bytes. A length
// outside that range cannot be resynchronised, so the decoder enters a sticky error state and
// the connection must be closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kalmanscan::net {

/// Bytes of the length prefix.
inline constexpr std::size_t frame_header_bytes = 4;
/// Default bound on a frame's payload (a model of state size 32 with time-varying parts fits).
inline constexpr std::size_t default_max_frame_bytes = 1u << 20;
/// Largest accepted max_frame_bytes (protobuf parses at most 2 GiB; far above any sane frame).
inline constexpr std::size_t max_max_frame_bytes = 1u << 30;

/// Writes the 4-byte big-endian length `n` at `p`.
void put_frame_header(char* p, std::uint32_t n);

/// Appends the header and `payload` to `out`. Throws Error when the payload is empty or longer
/// than `max_frame_bytes` (the peer would refuse it).
void append_frame(std::string& out, std::string_view payload, std::size_t max_frame_bytes = default_max_frame_bytes);

/// Incremental decoder: bytes go in as they arrive (any split), whole payloads come out in order.
class FrameDecoder {
 public:
  enum class Status {
    frame,       ///< `payload` holds the next frame's payload
    incomplete,  ///< need more bytes
    empty,       ///< a frame announced length 0 (sticky error)
    too_large,   ///< a frame announced more than max_frame_bytes (sticky error)
  };
  struct Next {
    Status status;
    std::string_view payload;   ///< valid until the next call to append()/space()/next()
    std::uint32_t announced{};  ///< the announced length (for error messages)
  };

  explicit FrameDecoder(std::size_t max_frame_bytes = default_max_frame_bytes);

  /// Copies `bytes` into the internal buffer.
  void append(std::span<const char> bytes);
  /// A writable region of at least `min_bytes` to read into directly; follow with commit(n).
  std::span<char> space(std::size_t min_bytes);
  void commit(std::size_t n);

  /// The next complete frame, or why there is none. After `empty` or `too_large` every call
  /// returns the same status.
  Next next();

  /// Bytes received but not yet returned as frames.
  std::size_t buffered() const { return end_ - begin_; }
  std::size_t max_frame_bytes() const { return max_; }

 private:
  void compact();

  std::size_t max_;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
  Status error_ = Status::incomplete;  ///< incomplete = no sticky error
  std::uint32_t error_length_ = 0;
};

/// A human-readable description of a decoder failure, naming the announced length and the limit.
std::string describe(const FrameDecoder::Next& next, std::size_t max_frame_bytes);

}  // namespace kalmanscan::net
