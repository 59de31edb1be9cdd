#include "kalmanscan/net/frame.hpp"

#include <algorithm>
#include <cstring>

#include "kalmanscan/net/error.hpp"

namespace kalmanscan::net {

namespace {
std::uint32_t read_be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) | std::uint32_t{u[3]};
}
}  // namespace

void put_frame_header(char* p, std::uint32_t n) {
  p[0] = static_cast<char>(n >> 24);
  p[1] = static_cast<char>(n >> 16);
  p[2] = static_cast<char>(n >> 8);
  p[3] = static_cast<char>(n);
}

void append_frame(std::string& out, std::string_view payload, std::size_t max_frame_bytes) {
  if (payload.empty()) throw Error("frame: empty payload (frames carry at least one byte)");
  if (payload.size() > max_frame_bytes)
    throw Error("frame: payload of " + std::to_string(payload.size()) + " bytes exceeds max_frame_bytes = " +
                    std::to_string(max_frame_bytes),
                proto::ERROR_FRAME_TOO_LARGE);
  char header[frame_header_bytes];
  put_frame_header(header, static_cast<std::uint32_t>(payload.size()));
  out.append(header, frame_header_bytes);
  out.append(payload);
}

FrameDecoder::FrameDecoder(std::size_t max_frame_bytes) : max_(max_frame_bytes) {
  if (max_frame_bytes == 0 || max_frame_bytes > max_max_frame_bytes)
    throw Error("frame decoder: max_frame_bytes = " + std::to_string(max_frame_bytes) + " must be in [1, " +
                std::to_string(max_max_frame_bytes) + "]");
}

void FrameDecoder::compact() {
  if (begin_ == 0) return;
  std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
}

std::span<char> FrameDecoder::space(std::size_t min_bytes) {
  if (buf_.size() - end_ < min_bytes) {
    compact();
    if (buf_.size() - end_ < min_bytes) buf_.resize(end_ + min_bytes);
  }
  return {buf_.data() + end_, buf_.size() - end_};
}

void FrameDecoder::commit(std::size_t n) { end_ += std::min(n, buf_.size() - end_); }

void FrameDecoder::append(std::span<const char> bytes) {
  auto dst = space(bytes.size());
  std::memcpy(dst.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

FrameDecoder::Next FrameDecoder::next() {
  if (error_ != Status::incomplete) return {error_, {}, error_length_};
  if (end_ - begin_ < frame_header_bytes) return {Status::incomplete, {}, 0};
  const std::uint32_t n = read_be32(buf_.data() + begin_);
  // Validate the announced length before waiting for (or allocating) its payload.
  if (n == 0 || n > max_) {
    error_ = n == 0 ? Status::empty : Status::too_large;
    error_length_ = n;
    return {error_, {}, n};
  }
  if (end_ - begin_ - frame_header_bytes < n) return {Status::incomplete, {}, n};
  const std::string_view payload(buf_.data() + begin_ + frame_header_bytes, n);
  begin_ += frame_header_bytes + n;
  if (begin_ == end_) begin_ = end_ = 0;  // the payload stays readable: nothing overwrites it before the next call
  return {Status::frame, payload, n};
}

std::string describe(const FrameDecoder::Next& next, std::size_t max_frame_bytes) {
  switch (next.status) {
    case FrameDecoder::Status::empty:
      return "frame: announced payload length 0 (frames carry at least one byte)";
    case FrameDecoder::Status::too_large:
      return "frame: announced payload length " + std::to_string(next.announced) + " exceeds max_frame_bytes = " +
             std::to_string(max_frame_bytes);
    case FrameDecoder::Status::incomplete:
      return "frame: incomplete";
    case FrameDecoder::Status::frame:
      return "frame: ok";
  }
  return "frame: unknown status";
}

}  // namespace kalmanscan::net
