// The process-noise path of the KLA layer (issue 6: one KLA block on A5 matched its near-linear
// ablation p̄ = p̄_min to 0.1 %): the OU parameters are not weight-decayed (decay pulls p̄ → 0), the
// layer's output depends on p̄ beyond the floor, p's gradient through the whole module matches
// central finite differences, and the process-noise statistics (kla_stats.hpp) are 0 for the
// ablation and grow with the initial diffusion p, as does the change of the logits when p̄ is floored.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "kalmanscan/kla/torch/kla_stats.hpp"
#include "kalmanscan/kla/torch/mixers.hpp"
#include "kalmanscan/kla/torch/model.hpp"
#include "support.hpp"

namespace kalmanscan::kla::nn {
namespace {

using testing::rel_error;

ModelOptions tagger_options(MixerKind kind, double p_init = 1.0) {
  ModelOptions mo;
  mo.vocab = 60;
  mo.classes = 60;
  mo.blocks = 1;
  mo.mixer.kind = kind;
  mo.mixer.d_model = 16;
  mo.mixer.heads = 2;
  mo.mixer.state_size = 4;
  mo.mixer.p_init = p_init;
  return mo;
}

TEST(KlaNoise, OuParametersAreNotWeightDecayed) {
  Tagger model(tagger_options(MixerKind::kla));
  for (const auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    const bool fc_weight = name.find(".fc") != std::string::npos && name.find("weight") != std::string::npos;
    const bool want = name == "embed.weight" || name == "head.weight" || name.find("proj.weight") != std::string::npos ||
                      fc_weight || name == "block0.mixer.conv.weight";
    EXPECT_EQ(takes_weight_decay(name, item.value()), want) << name;
  }
  // The [E, S] OU parameters are 2-D like the matrices, and were decayed by a dimension rule.
  const auto params = model->named_parameters();
  for (const char* ou : {"block0.mixer.a_raw", "block0.mixer.delta_raw", "block0.mixer.p"}) {
    ASSERT_TRUE(params.contains(ou)) << ou;
    EXPECT_EQ(params[ou].dim(), 2) << ou;
    EXPECT_FALSE(takes_weight_decay(ou, params[ou])) << ou;
  }
}

// The same weights as KLA and as the near-linear ablation (the two differ only in p̄): the
// outputs must differ by more than rounding at the default initialisation, and by more again
// with a larger initial diffusion p.
TEST(KlaNoise, OutputDependsOnPBarBeyondTheFloor) {
  torch::manual_seed(2);
  const auto x = torch::randn({4, 12, 16}, torch::kDouble);
  auto difference = [&](double p_init) {
    MixerOptions o = tagger_options(MixerKind::kla, p_init).mixer;
    torch::manual_seed(3);
    KlaMixerImpl kla(o);
    o.kind = MixerKind::linear;
    torch::manual_seed(3);
    KlaMixerImpl linear(o);
    kla.to(torch::kDouble);
    linear.to(torch::kDouble);
    torch::NoGradGuard no_grad;
    return rel_error(kla.forward(x), linear.forward(x));
  };
  const double d1 = difference(1.0), d4 = difference(4.0);
  std::printf("relative output difference KLA vs near-linear: p_init 1: %.3g, p_init 4: %.3g\n", d1, d4);
  EXPECT_GT(d1, 1e-3);
  EXPECT_GT(d4, 3 * d1);
}

// ∂loss/∂p through projections, OU discretisation, scan and readout, against central differences
// in fp64; and p's gradient is not negligible next to the other OU parameters'.
TEST(KlaNoise, PGradientThroughTheModuleMatchesFiniteDifferences) {
  torch::manual_seed(11);
  MixerOptions o = tagger_options(MixerKind::kla).mixer;
  KlaMixerImpl mixer(o);
  mixer.to(torch::kDouble);
  const auto x = torch::randn({3, 10, 16}, torch::kDouble);
  const auto w = torch::randn({3, 10, 16}, torch::kDouble);
  auto loss = [&] { return (mixer.forward(x) * w).sum(); };
  auto params = mixer.named_parameters();
  at::Tensor p = params["p"];
  loss().backward();
  const at::Tensor grad = p.grad().clone();
  const double h = 1e-6;
  std::vector<double> fds, grads;
  for (int64_t i = 0; i < p.numel(); i += 5) {
    torch::NoGradGuard no_grad;
    auto flat = p.view({-1});
    const double p0 = flat[i].item<double>();
    flat[i] = p0 + h;
    const double up = loss().item<double>();
    flat[i] = p0 - h;
    const double down = loss().item<double>();
    flat[i] = p0;
    fds.push_back((up - down) / (2 * h));
    grads.push_back(grad.view({-1})[i].item<double>());
  }
  // Central differences: truncation O(h²) and rounding O(ε|loss|/h), both ~1e-9 here.
  const auto as_tensor = [](std::vector<double>& v) { return torch::from_blob(v.data(), {int64_t(v.size())}, torch::kDouble); };
  EXPECT_LE(rel_error(as_tensor(grads), as_tensor(fds)), 1e-6);
  const double g_p = grad.norm().item<double>(), g_a = params["a_raw"].grad().norm().item<double>(),
               g_dt = params["delta_raw"].grad().norm().item<double>();
  std::printf("|dL/dp| %.3g  |dL/da_raw| %.3g  |dL/ddelta_raw| %.3g\n", g_p, g_a, g_dt);
  EXPECT_GT(g_p, 1e-3 * g_a);
}

TEST(KlaNoise, StatisticsAreZeroForTheAblationAndGrowWithP) {
  torch::manual_seed(6);
  const auto tokens = torch::randint(0, 60, {8, 10}, torch::kLong);
  auto stats = [&](MixerKind kind, double p_init) {
    torch::manual_seed(5);
    Tagger model(tagger_options(kind, p_init));
    const auto s = kla_stats(model, tokens);
    EXPECT_EQ(s.size(), 1u);
    return s.at(0);
  };
  const KlaStats linear = stats(MixerKind::linear, 1.0), kla = stats(MixerKind::kla, 1.0),
                 wide = stats(MixerKind::kla, 4.0);
  std::printf("share mean / p90 / >10%%: linear %.3g %.3g %.3g, KLA p=1 %.3g %.3g %.3g, KLA p=4 %.3g %.3g %.3g\n",
              linear.share_mean, linear.share_p90, linear.share_above_10pct, kla.share_mean, kla.share_p90,
              kla.share_above_10pct, wide.share_mean, wide.share_p90, wide.share_above_10pct);
  EXPECT_LT(linear.share_mean, 1e-9);
  EXPECT_EQ(linear.share_above_10pct, 0.0);
  EXPECT_GT(kla.share_mean, 1e-4);
  EXPECT_LT(kla.share_mean, 1.0);
  EXPECT_GT(wide.share_mean, kla.share_mean);
  EXPECT_GE(wide.share_above_10pct, kla.share_above_10pct);
  EXPECT_NEAR(wide.p_bar_median, 16 * kla.p_bar_median, 1e-6 * wide.p_bar_median);  // p̄ ∝ p²
  EXPECT_EQ(wide.a_bar_sq_median, kla.a_bar_sq_median);
  // Flooring p̄ changes nothing in the ablation, something in KLA, more with a larger p.
  EXPECT_EQ(linear.logit_change, 0.0);
  EXPECT_EQ(linear.prediction_change, 0.0);
  EXPECT_GT(kla.logit_change, 1e-4);
  EXPECT_GT(wide.logit_change, kla.logit_change);
  EXPECT_LE(wide.prediction_change, 1.0);
}

}  // namespace
}  // namespace kalmanscan::kla::nn
