// The live source against a real stream service on loopback (kalmanscan::net::Server, the code
// `kalmanscan serve` runs): a sender feeds measurements, the dashboard's source subscribes to
// every stream, and what lands in its series must equal the estimates the server returned to
// the sender, and the measurements it sent. (dashboard_test.cpp runs the `kalmanscan serve`
// program itself against the dashboard program.)
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <thread>
#include <vector>

#include "live_server.hpp"
#include "kalmanscan/net/client.hpp"
#include "kalmanscan/viz/live_source.hpp"

namespace kalmanscan::viz {
namespace {

using namespace std::chrono_literals;

template <class F>
bool wait_for(F&& done, std::chrono::milliseconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TEST(Live, SubscribedEstimatesEqualTheSendersReplies) {
  const auto server = start_cv_server();

  SeriesSet set;
  LiveSource source({.host = "127.0.0.1", .port = server->port(), .poll = 20ms}, set);
  ASSERT_TRUE(wait_for([&] { return source.status().connected || source.status().finished; })) << "no connection";
  ASSERT_TRUE(source.status().connected) << source.status().error;

  net::ClientOptions co;
  co.port = server->port();
  net::Client sender(co);
  const auto info = sender.open("cart");
  ASSERT_EQ(info.state_dim(), 2u);
  std::vector<proto::Estimate> replies;
  std::vector<double> sent;  // measured positions; every 10th is missing (NaN: no point)
  constexpr int n = 300;
  for (int i = 0; i < n; ++i) {
    proto::LogRecord r;
    r.set_timestamp(0.02 * i);
    r.set_sensor("gps");
    r.add_values(i % 10 == 3 ? std::nan("") : std::sin(0.02 * i) + 0.1 * std::cos(7.0 * i));
    sent.push_back(r.values(0));
    replies.push_back(sender.update(info.stream_id(), std::uint64_t(i), r));
  }
  ASSERT_TRUE(wait_for([&] { return source.status().estimates >= n; }))
      << "received " << source.status().estimates << " of " << n << "; " << source.status().error;
  EXPECT_EQ(source.status().rejected, 0u) << source.status().error;
  EXPECT_EQ(source.status().missed, 0u);
  EXPECT_EQ(source.status().measurements, std::uint64_t(n - n / 10));

  auto lock = set.lock();
  for (std::size_t j = 0; j < 2; ++j) {
    const std::string panel = "cart/" + info.state_names(int(j));
    const auto id = lock.find(panel, Role::filtered);
    ASSERT_TRUE(id) << panel;
    std::size_t i = 0;
    lock.series(*id).visit(
        -1e300, 1e300,
        [&](double t, double v, double s) {
          ASSERT_LT(i, replies.size());
          const auto& r = replies[i++].record();
          EXPECT_EQ(t, r.timestamp()) << panel << " sample " << i;
          EXPECT_EQ(v, r.mean(int(j))) << panel << " sample " << i;
          EXPECT_EQ(s, r.std_dev(int(j))) << panel << " sample " << i;
        },
        [](const Aggregate&) { FAIL() << "nothing should be decimated"; });
    EXPECT_EQ(i, replies.size()) << panel;
  }
  // H = [1 0]: each measurement is a point on the position panel at its own value; none on the
  // velocity panel, none for the missing values.
  EXPECT_FALSE(lock.find("cart/" + info.state_names(1), Role::measured));
  const auto measured = lock.find("cart/" + info.state_names(0), Role::measured);
  ASSERT_TRUE(measured);
  std::size_t k = 0;
  lock.series(*measured).visit(
      -1e300, 1e300,
      [&](double t, double v, double) {
        while (k < sent.size() && std::isnan(sent[k])) ++k;
        ASSERT_LT(k, sent.size());
        EXPECT_EQ(t, replies[k].record().timestamp()) << "measurement " << k;
        EXPECT_EQ(v, sent[k]) << "measurement " << k;
        ++k;
      },
      [](const Aggregate&) { FAIL() << "nothing should be decimated"; });
  EXPECT_EQ(k, sent.size());
  const auto nis = lock.find("cart/NIS", Role::nis);
  ASSERT_TRUE(nis);
  EXPECT_EQ(lock.series(*nis).size(), std::uint64_t(n - n / 10));  // steps that observed something
  EXPECT_EQ(lock.series(*nis).total().max[0], [&] {
    double m = 0;
    for (const auto& e : replies) m = std::max(m, e.record().nis());
    return m;
  }());
}

TEST(Live, AnUnreachableServerIsReportedNotThrown) {
  SeriesSet set;
  // Port 1 on loopback: nothing listens there.
  LiveSource source({.host = "127.0.0.1", .port = 1}, set);
  ASSERT_TRUE(wait_for([&] { return source.status().finished; }));
  EXPECT_FALSE(source.status().connected);
  EXPECT_FALSE(source.status().error.empty());
}

}  // namespace
}  // namespace kalmanscan::viz
