// The Tagger (model.hpp) against the same model written as loops over its own weights
// (mixer_loops.hpp: embedding rows, pre-norm blocks with LayerNorm, the mixer's loop reference,
// residuals and the GELU MLP, final LayerNorm and linear head), for every mixer kind, in fp64; tied
// embeddings; the head computed at asked positions only.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kalmanscan/kla/error.hpp"
#include "kalmanscan/kla/torch/mixers.hpp"
#include "kalmanscan/kla/torch/model.hpp"
#include "mixer_loops.hpp"
#include "support.hpp"

namespace kalmanscan::kla::nn {
namespace {

using testing::rel_error;

/// The loop model's logits (mixer_loops.hpp) with `model`'s weights on every row of tokens [B, L].
at::Tensor loop_logits(Tagger& model, const ModelOptions& mo, const at::Tensor& tokens) {
  const testing::Weights w(*model);
  std::vector<testing::Sequence> expected;
  for (int64_t b = 0; b < tokens.size(0); ++b) {
    std::vector<int64_t> row(std::size_t(tokens.size(1)));
    for (int64_t t = 0; t < tokens.size(1); ++t) row[std::size_t(t)] = tokens[b][t].item<int64_t>();
    expected.push_back(testing::tagger_loop(w, mo, row));
  }
  return testing::stack(expected);
}

/// A small fp64 model: `vocab` tokens and classes, d_model 8, 2 heads, 3 slots.
Tagger small_model(ModelOptions& mo, MixerKind kind, int64_t vocab, int64_t blocks, bool tied, uint64_t seed) {
  mo.vocab = mo.classes = vocab;
  mo.blocks = blocks;
  mo.mixer.kind = kind;
  mo.mixer.d_model = 8;
  mo.mixer.heads = 2;
  mo.mixer.state_size = 3;
  mo.tie_embeddings = tied;
  torch::manual_seed(seed);
  Tagger model(mo);
  model->to(torch::kDouble);
  return model;
}

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
  EXPECT_LE(rel_error(model->forward(tokens), loop_logits(model, mo, tokens)), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Mixers, TaggerLoop,
                         ::testing::Values(MixerKind::kla, MixerKind::linear, MixerKind::gla, MixerKind::attention),
                         [](const auto& p) { return mixer_name(p.param); });

// Tied embeddings (MQAR, as Zoology's models): the head is the embedding matrix, without a bias,
// against the loop model reading E for both; and there is no separate head parameter.
TEST(Tagger, TiedEmbeddingsUseTheEmbeddingMatrixAsTheHead) {
  ModelOptions mo;
  Tagger model = small_model(mo, MixerKind::kla, 11, 1, /*tied=*/true, 5);
  for (const auto& p : model->named_parameters()) EXPECT_EQ(p.key().rfind("head", 0), std::string::npos) << p.key();
  const auto tokens = torch::randint(0, mo.vocab, {2, 6}, torch::kLong);
  torch::NoGradGuard no_grad;
  EXPECT_LE(rel_error(model->forward(tokens), loop_logits(model, mo, tokens)), 1e-12);
  mo.classes = 5;
  EXPECT_THROW(Tagger{mo}, Error) << "tying needs classes = vocab";
}

// forward(tokens, positions) gives the logits of forward(tokens) at those positions, per sequence.
TEST(Tagger, LogitsAtAskedPositionsAreThoseOfTheFullForward) {
  ModelOptions mo;
  Tagger model = small_model(mo, MixerKind::attention, 9, 2, /*tied=*/false, 6);
  torch::NoGradGuard no_grad;
  const auto tokens = torch::randint(0, mo.vocab, {2, 7}, torch::kLong);
  const auto positions = torch::tensor(std::vector<int64_t>{0, 3, 6, 1, 2, 5}, torch::kLong).view({2, 3});
  const auto full = model->forward(tokens), asked = model->forward(tokens, positions);
  ASSERT_EQ(asked.sizes(), (std::vector<int64_t>{2, 3, 9}));
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t q = 0; q < 3; ++q)
      EXPECT_TRUE(torch::equal(asked[b][q], full[b][positions[b][q].item<int64_t>()])) << b << ", " << q;
  EXPECT_THROW(model->forward(tokens, positions.view({3, 2})), Error) << "positions of another batch";
}

}  // namespace
}  // namespace kalmanscan::kla::nn
