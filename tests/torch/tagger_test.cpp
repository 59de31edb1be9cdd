// The Tagger (model.hpp) against the same model written as loops over its own weights
// (mixer_loops.hpp: embedding rows, pre-norm blocks with LayerNorm, the mixer's loop reference,
// residuals and the GELU MLP, final LayerNorm and linear head), for every mixer kind, in fp64.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "kalmanscan/kla/torch/mixers.hpp"
#include "kalmanscan/kla/torch/model.hpp"
#include "mixer_loops.hpp"
#include "support.hpp"

namespace kalmanscan::kla::nn {
namespace {

using testing::rel_error;

class TaggerLoop : public ::testing::TestWithParam<MixerKind> {};

TEST_P(TaggerLoop, EqualsTheModelWrittenAsLoopsOverItsWeights) {
  ModelOptions mo;
  mo.vocab = 7;
  mo.classes = 5;
  mo.blocks = 2;
  mo.mixer.kind = GetParam();
  mo.mixer.d_model = 8;
  mo.mixer.heads = 2;
  mo.mixer.state_size = 3;
  mo.mixer.expand = 2;  // KLA: 16 channels in two groups of 8 sharing k, q
  mo.mixer.chunk = 4;   // GLA: does not divide L
  torch::manual_seed(31);
  Tagger model(mo);
  model->to(torch::kDouble);
  const int64_t B = 2, L = 9;
  const auto tokens = torch::randint(0, mo.vocab, {B, L}, torch::kLong);
  torch::NoGradGuard no_grad;
  const auto logits = model->forward(tokens);
  const testing::Weights w(*model);
  std::vector<testing::Sequence> expected;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int64_t> row(L);
    for (int64_t t = 0; t < L; ++t) row[t] = tokens[b][t].item<int64_t>();
    expected.push_back(testing::tagger_loop(w, mo, row));
  }
  EXPECT_LE(rel_error(logits, testing::stack(expected)), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Mixers, TaggerLoop,
                         ::testing::Values(MixerKind::kla, MixerKind::linear, MixerKind::gla, MixerKind::attention),
                         [](const auto& p) { return mixer_name(p.param); });

}  // namespace
}  // namespace kalmanscan::kla::nn
