// The KLA uncertainty export into heatmap data: layout [t][m], the per-token line, and refusals
// naming the sequence, layer and field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "kalmanscan/viz/error.hpp"
#include "kalmanscan/viz/kla_heatmap.hpp"

namespace kalmanscan::viz {
namespace {

proto::KlaUncertaintyExport small_export() {
  proto::KlaUncertaintyExport e;
  e.mutable_version()->set_major(1);
  e.set_task("parity");
  e.set_mixer("kla");
  e.set_channels(2);
  auto* seq = e.add_sequences();
  for (int t = 0; t < 3; ++t) seq->add_tokens(t + 10);
  auto* layer = seq->add_layers();
  layer->set_block(1);
  for (float v : {1.f, 2.f, 3.f, 4.f, 5.f, 6.f}) layer->add_y_var(v);  // [t][m]
  for (float v : {0.5f, 0.25f, 0.125f}) layer->add_mean_state_variance(v);
  return e;
}

std::string error_of(const proto::KlaUncertaintyExport& e, std::size_t seq, std::size_t layer) {
  try {
    (void)kla_heatmap(e, seq, layer);
  } catch (const Error& err) {
    return err.what();
  }
  return "no exception";
}

TEST(KlaHeatmap, TokensByChannelsWithThePerTokenLine) {
  const KlaHeatmap h = kla_heatmap(small_export(), 0, 0);
  EXPECT_EQ(h.tokens, 3u);
  EXPECT_EQ(h.channels, 2u);
  EXPECT_EQ(h.y_var[2 * 2 + 1], 6.f);  // t = 2, m = 1
  EXPECT_EQ(h.per_token, (std::vector<double>{0.5, 0.25, 0.125}));
  EXPECT_EQ(h.input_tokens, (std::vector<std::int64_t>{10, 11, 12}));
  // Without the exported summary, the line is the mean of y_var over channels.
  auto e = small_export();
  e.mutable_sequences(0)->mutable_layers(0)->clear_mean_state_variance();
  EXPECT_EQ(kla_heatmap(e, 0, 0).per_token, (std::vector<double>{1.5, 3.5, 5.5}));
}

TEST(KlaHeatmap, BadExportsAreRefusedNamingTheField) {
  EXPECT_NE(error_of(small_export(), 1, 0).find("sequence 1, layer 0: the export has 1 sequences"), std::string::npos);
  EXPECT_NE(error_of(small_export(), 0, 2).find("the sequence has 1 KLA layers"), std::string::npos);
  auto odd = small_export();
  odd.mutable_sequences(0)->mutable_layers(0)->add_y_var(1.f);
  EXPECT_NE(error_of(odd, 0, 0).find("field 'y_var': expected L·2 values, found 7"), std::string::npos);
  auto negative = small_export();
  negative.mutable_sequences(0)->mutable_layers(0)->set_y_var(3, -1.f);
  EXPECT_NE(error_of(negative, 0, 0).find("field 'y_var' [t=1, m=1]"), std::string::npos);
  auto tokens = small_export();
  tokens.mutable_sequences(0)->add_tokens(1);
  EXPECT_NE(error_of(tokens, 0, 0).find("field 'tokens': expected L = 3 values, found 4"), std::string::npos);

  const auto path = std::filesystem::temp_directory_path() / "kalmanscan_viz_kla_v2.pb";
  auto v2 = small_export();
  v2.mutable_version()->set_major(2);
  {
    std::ofstream out(path, std::ios::binary);
    v2.SerializeToOstream(&out);
  }
  try {
    (void)read_kla_export(path);
    ADD_FAILURE() << "version 2 must be refused";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("field 'version.major': expected 1, found 2"), std::string::npos) << err.what();
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace kalmanscan::viz
