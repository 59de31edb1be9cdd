// libFuzzer harness for the service's frame decoder (issue 7): arbitrary bytes, split into
// arbitrary chunks, through FrameDecoder and decode_client_frame, as a connection would see them.
// Invariants checked (a violation traps): frames come out only with 1 <= size <= the limit; an
// error state is sticky; a decoded ClientFrame always has a body and re-encodes as one frame.
// Run it with scripts/fuzz-frames.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kalmanscan/net/error.hpp"
#include "kalmanscan/net/frame.hpp"
#include "kalmanscan/net/protocol.hpp"

using namespace kalmanscan;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // Byte 0 picks the frame limit (64 … 4144 bytes), byte 1 the first chunk size.
  const std::size_t max = 64 + std::size_t{data[0]} * 16;
  std::size_t chunk = 1 + data[1] % 97;
  const char* bytes = reinterpret_cast<const char*>(data) + 2;
  const std::size_t n = size - 2;
  net::FrameDecoder decoder(max);
  std::size_t at = 0;
  bool failed = false;
  while (at < n) {
    const std::size_t k = chunk < n - at ? chunk : n - at;
    decoder.append({bytes + at, k});
    at += k;
    chunk = 1 + (chunk * 7 + 3) % 97;
    for (;;) {
      const net::FrameDecoder::Next next = decoder.next();
      if (next.status == net::FrameDecoder::Status::incomplete) break;
      if (next.status != net::FrameDecoder::Status::frame) {
        if (net::describe(next, max).empty()) __builtin_trap();
        failed = true;
        break;
      }
      if (failed || next.payload.empty() || next.payload.size() > max) __builtin_trap();
      proto::ClientFrame frame;
      if (!net::decode_client_frame(next.payload, frame).empty()) continue;
      if (frame.body_case() == proto::ClientFrame::BODY_NOT_SET) __builtin_trap();
      std::string wire;
      net::append_message(wire, frame, net::max_max_frame_bytes);
      net::FrameDecoder again(net::max_max_frame_bytes);
      again.append(wire);
      if (again.next().status != net::FrameDecoder::Status::frame || again.buffered() != 0) __builtin_trap();
      if (frame.has_open()) {
        try {
          net::check_stream_name(frame.open().name());
        } catch (const net::Error&) {
        }
      }
    }
    if (failed) {
      // Sticky: nothing more comes out of a decoder in error.
      decoder.append({bytes, n < 8 ? n : 8});
      if (decoder.next().status == net::FrameDecoder::Status::frame) __builtin_trap();
      return 0;
    }
  }
  return 0;
}
