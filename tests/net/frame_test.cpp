// Length-prefixed frames: round trips under every split of the byte stream, the length bounds,
// and the message layer's refusal of undecodable payloads.
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kalmanscan/net/error.hpp"
#include "kalmanscan/net/frame.hpp"
#include "kalmanscan/net/protocol.hpp"

namespace kalmanscan::net {
namespace {

std::string payload(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + 31 * i);
  return s;
}

/// Feeds `wire` in chunks of the given sizes (cycled) and returns every frame decoded.
std::vector<std::string> decode_all(FrameDecoder& d, const std::string& wire, const std::vector<std::size_t>& chunks) {
  std::vector<std::string> out;
  std::size_t at = 0, c = 0;
  while (at < wire.size()) {
    const std::size_t n = std::min(chunks[c++ % chunks.size()], wire.size() - at);
    d.append({wire.data() + at, n});
    at += n;
    for (auto next = d.next(); next.status == FrameDecoder::Status::frame; next = d.next())
      out.emplace_back(next.payload);
  }
  return out;
}

TEST(Frame, HeaderIsBigEndianLength) {
  std::string wire;
  append_frame(wire, payload(0x0102, 'a'));
  ASSERT_EQ(wire.size(), 4u + 0x0102);
  EXPECT_EQ(wire.substr(0, 4), std::string("\x00\x00\x01\x02", 4));
}

TEST(Frame, RoundTripUnderEverySplit) {
  const std::vector<std::size_t> sizes = {1, 2, 3, 4, 5, 127, 128, 1000, 65537};
  std::string wire;
  std::vector<std::string> sent;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    sent.push_back(payload(sizes[i], static_cast<char>(i)));
    append_frame(wire, sent.back());
  }
  for (const std::vector<std::size_t>& chunks :
       std::vector<std::vector<std::size_t>>{{1}, {2}, {3}, {4}, {5}, {7, 1, 13}, {4096}, {wire.size()}}) {
    FrameDecoder d(1u << 20);
    EXPECT_EQ(decode_all(d, wire, chunks), sent) << "chunk pattern starting " << chunks[0];
    EXPECT_EQ(d.buffered(), 0u);
  }
  // Random splits, reading straight into the decoder's space().
  std::mt19937 rng(1);
  for (int trial = 0; trial < 50; ++trial) {
    FrameDecoder d(1u << 20);
    std::vector<std::string> got;
    std::size_t at = 0;
    while (at < wire.size()) {
      const std::size_t n = std::min<std::size_t>(1 + rng() % 3000, wire.size() - at);
      auto space = d.space(n);
      std::copy_n(wire.data() + at, n, space.data());
      d.commit(n);
      at += n;
      for (auto next = d.next(); next.status == FrameDecoder::Status::frame; next = d.next())
        got.emplace_back(next.payload);
    }
    EXPECT_EQ(got, sent) << "trial " << trial;
  }
}

TEST(Frame, LengthAtTheLimitPassesAndAboveIsRefusedBeforeThePayloadArrives) {
  FrameDecoder d(100);
  std::string wire;
  append_frame(wire, payload(100, 'x'), 100);
  d.append(wire);
  auto next = d.next();
  ASSERT_EQ(next.status, FrameDecoder::Status::frame);
  EXPECT_EQ(next.payload.size(), 100u);

  // Only the header of an oversized frame: refused at once, and the state is sticky.
  const std::string header("\x00\x00\x00\x65", 4);  // 101
  d.append(header);
  next = d.next();
  EXPECT_EQ(next.status, FrameDecoder::Status::too_large);
  EXPECT_EQ(next.announced, 101u);
  EXPECT_NE(describe(next, 100).find("101"), std::string::npos);
  d.append(payload(10, 'y'));
  EXPECT_EQ(d.next().status, FrameDecoder::Status::too_large);

  FrameDecoder huge(100);
  huge.append(std::string("\xff\xff\xff\xff", 4));
  EXPECT_EQ(huge.next().status, FrameDecoder::Status::too_large);
  EXPECT_LE(huge.buffered(), 4u);  // nothing allocated for the announced 4 GiB
}

TEST(Frame, EmptyFrameIsAnError) {
  FrameDecoder d(100);
  d.append(std::string("\x00\x00\x00\x00", 4));
  EXPECT_EQ(d.next().status, FrameDecoder::Status::empty);
  std::string wire;
  EXPECT_THROW(append_frame(wire, ""), Error);
  EXPECT_THROW(append_frame(wire, payload(101, 'z'), 100), Error);
}

TEST(Frame, TruncatedFrameStaysIncomplete) {
  std::string wire;
  append_frame(wire, payload(50, 'q'));
  FrameDecoder d(100);
  d.append({wire.data(), wire.size() - 1});
  EXPECT_EQ(d.next().status, FrameDecoder::Status::incomplete);
  d.append({wire.data() + wire.size() - 1, 1});
  EXPECT_EQ(d.next().status, FrameDecoder::Status::frame);
}

TEST(Protocol, MessageRoundTripAndUndecodablePayloads) {
  proto::ClientFrame f;
  f.set_request_id(42);
  f.mutable_measurement()->set_stream_id(7);
  f.mutable_measurement()->mutable_record()->add_values(1.5);
  std::string wire;
  append_message(wire, f, 1000);
  FrameDecoder d(1000);
  d.append(wire);
  const auto next = d.next();
  ASSERT_EQ(next.status, FrameDecoder::Status::frame);
  proto::ClientFrame back;
  EXPECT_EQ(decode_client_frame(next.payload, back), "");
  EXPECT_EQ(back.SerializeAsString(), f.SerializeAsString());

  proto::ClientFrame g;
  EXPECT_NE(decode_client_frame(std::string("\xff\xff\xff", 3), g), "");  // truncated varint tag
  EXPECT_NE(decode_client_frame(std::string("\x08\x01", 2), g), "");      // request_id only: no body
  proto::ClientFrame empty;
  EXPECT_THROW(append_message(wire, empty, 1000), Error);  // serializes to nothing
}

TEST(Protocol, StreamNames) {
  EXPECT_NO_THROW(check_stream_name("robot-7.imu_A"));
  for (const std::string& bad : {std::string(), std::string(".hidden"), std::string("a/b"), std::string("sp ace"),
                                std::string(max_stream_name + 1, 'a'), std::string("nul\0x", 5)})
    EXPECT_THROW(check_stream_name(bad), Error) << bad;
}

}  // namespace
}  // namespace kalmanscan::net
