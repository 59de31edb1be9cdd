// The torch::nn side of kla/torch: OU discretisation against its closed form (including a → 0),
// every mixer's shape and causality, the KLA layer's op and torch-ops paths against each other,
// the near-linear ablation, the KLA trace against a whole-sequence scan, the KLA layer and the
// attention mixer against the loop references of mixer_loops.hpp (around the fp64 reference scan
// and an explicit softmax), and the Tagger's shapes. GLA: gla_test.cpp; the Tagger against its
// loop reference: tagger_test.cpp.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "kalmanscan/kla/error.hpp"
#include "kalmanscan/kla/tensors.hpp"
#include "kalmanscan/kla/torch/mixers.hpp"
#include "kalmanscan/kla/torch/model.hpp"
#include "kalmanscan/kla/torch/ou.hpp"
#include "mixer_loops.hpp"
#include "support.hpp"

namespace kalmanscan::kla::nn {
namespace {

using testing::rel_error;

// −p² expm1(−2aΔ)/(2a), the OU transition variance, in long double; p²Δ at a = 0.
long double ou_variance(long double a, long double p, long double dt) {
  if (a == 0) return p * p * dt;
  return -p * p * std::expm1(-2 * a * dt) / (2 * a);
}

TEST(OuDiscretisation, MatchesClosedFormIncludingATo0) {
  const double p = 0.7, dt = 0.3;
  for (double a : {0.0, 1e-12, 1e-8, 1e-5, 1.6e-4, 1e-3, 0.1, 1.0, 10.0, 100.0}) {
    const auto f64 = torch::dtype(torch::kDouble);
    const Discretised d = ou_discretise(torch::full({1}, a, f64), torch::full({1}, p, f64), torch::full({1}, dt, f64));
    EXPECT_NEAR(d.a_bar.item<double>(), std::exp(-a * dt), 1e-15) << "a = " << a;
    const double want = double(ou_variance(a, p, dt));
    EXPECT_NEAR(d.p_bar.item<double>(), want, 1e-14 * want) << "a = " << a;
  }
}

TEST(OuDiscretisation, GradientsAreFiniteAtZeroAndMatchFiniteDifferences) {
  const auto f64 = torch::dtype(torch::kDouble);
  const double p = 0.7, dt = 0.3;
  // At a = 0: ∂p̄/∂a = −p²Δ² (from p̄ = p²Δ(1 − aΔ + …)), ∂p̄/∂p = 2pΔ, ∂p̄/∂Δ = p².
  {
    auto a = torch::zeros({1}, f64).requires_grad_(true), pp = torch::full({1}, p, f64).requires_grad_(true);
    auto delta = torch::full({1}, dt, f64).requires_grad_(true);
    ou_discretise(a, pp, delta).p_bar.sum().backward();
    EXPECT_NEAR(a.grad().item<double>(), -p * p * dt * dt, 1e-12);
    EXPECT_NEAR(pp.grad().item<double>(), 2 * p * dt, 1e-12);
    EXPECT_NEAR(delta.grad().item<double>(), p * p, 1e-12);
  }
  // Elsewhere (both branches of the series switch): central differences of the closed form.
  for (double a0 : {2e-5, 1e-3, 0.5, 3.0}) {
    auto a = torch::full({1}, a0, f64).requires_grad_(true);
    ou_discretise(a, torch::full({1}, p, f64), torch::full({1}, dt, f64)).p_bar.sum().backward();
    const double h = a0 * 1e-4;
    const double fd = double(ou_variance(a0 + h, p, dt) - ou_variance(a0 - h, p, dt)) / (2 * h);
    EXPECT_NEAR(a.grad().item<double>(), fd, 1e-7 * std::abs(fd)) << "a = " << a0;
  }
}

MixerOptions options_for(MixerKind kind) {
  MixerOptions o;
  o.kind = kind;
  o.d_model = 16;
  o.heads = 2;
  o.state_size = 4;
  o.chunk = 4;
  return o;
}

class EveryMixer : public ::testing::TestWithParam<MixerKind> {};

TEST_P(EveryMixer, KeepsTheShape) {
  torch::manual_seed(1);
  auto mixer = make_mixer(options_for(GetParam()));
  for (int64_t L : {1, 5, 13}) {
    const auto y = mixer->forward(torch::randn({3, L, 16}));
    EXPECT_EQ(y.sizes(), torch::IntArrayRef({3, L, 16}));
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  }
}

// Changing the inputs from t0 on changes no output before t0 (and does change outputs after it).
TEST_P(EveryMixer, IsCausal) {
  torch::manual_seed(2);
  auto mixer = make_mixer(options_for(GetParam()));
  const int64_t L = 11, t0 = 6;
  const auto x = torch::randn({2, L, 16});
  auto x2 = x.clone();
  x2.narrow(1, t0, L - t0).add_(torch::randn({2, L - t0, 16}));
  torch::NoGradGuard no_grad;
  const auto y = mixer->forward(x), y2 = mixer->forward(x2);
  EXPECT_TRUE(torch::equal(y.narrow(1, 0, t0), y2.narrow(1, 0, t0)));
  EXPECT_GT((y.narrow(1, t0, L - t0) - y2.narrow(1, t0, L - t0)).abs().max().item<double>(), 1e-3);
}

// The gradient of the output at t0 with respect to later inputs is exactly zero.
TEST_P(EveryMixer, GradientDoesNotReachBack) {
  torch::manual_seed(3);
  auto mixer = make_mixer(options_for(GetParam()));
  const int64_t L = 9, t0 = 4;
  auto x = torch::randn({2, L, 16}).requires_grad_(true);
  mixer->forward(x).select(1, t0).sum().backward();
  EXPECT_EQ(x.grad().narrow(1, t0 + 1, L - t0 - 1).abs().max().item<double>(), 0.0);
  EXPECT_GT(x.grad().narrow(1, 0, t0 + 1).abs().max().item<double>(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Mixers, EveryMixer,
                         ::testing::Values(MixerKind::kla, MixerKind::linear, MixerKind::gla, MixerKind::attention),
                         [](const auto& p) { return mixer_name(p.param); });

TEST(KlaMixer, OpAndTorchOpsRecurrenceAgree) {
  MixerOptions o = options_for(MixerKind::kla);
  o.scan = ScanImpl::op;
  torch::manual_seed(4);
  auto with_op = std::make_shared<KlaMixerImpl>(o);
  o.scan = ScanImpl::recurrent;
  torch::manual_seed(4);
  auto with_ops = std::make_shared<KlaMixerImpl>(o);
  with_op->to(torch::kDouble);
  with_ops->to(torch::kDouble);
  const auto x = torch::randn({2, 7, 16}, torch::kDouble);
  const auto y1 = with_op->forward(x), y2 = with_ops->forward(x);
  EXPECT_LE(rel_error(y1, y2), 1e-12);
  y1.pow(2).sum().backward();
  y2.pow(2).sum().backward();
  const auto p1 = with_op->named_parameters(), p2 = with_ops->named_parameters();
  for (const auto& item : p1) {
    if (!item.value().grad().defined()) continue;
    EXPECT_LE(rel_error(item.value().grad(), p2[item.key()].grad()), 1e-10) << item.key();
  }
}

// The KLA layer (mixers.hpp) against the same layer written as loops over its own weights around
// the fp64 step-by-step scan (mixer_loops.hpp), with one channel group and with two groups sharing
// k, q over an expanded width, for the layer and its near-linear ablation.
TEST(KlaMixer, EqualsTheLayerWrittenAsLoopsAroundTheReferenceScan) {
  for (MixerKind kind : {MixerKind::kla, MixerKind::linear})
    for (auto [heads, expand] : {std::pair<int64_t, int64_t>{1, 1}, {2, 2}}) {
      MixerOptions o = options_for(kind);
      o.d_model = 6, o.heads = heads, o.expand = expand, o.state_size = 3, o.p_init = 0.8;
      torch::manual_seed(9);
      auto mixer = std::make_shared<KlaMixerImpl>(o);
      mixer->to(torch::kDouble);
      const auto x = torch::randn({2, 7, o.d_model}, torch::kDouble);
      torch::NoGradGuard no_grad;
      EXPECT_LE(rel_error(mixer->forward(x), testing::mixer_loop(*mixer, o, x)), 1e-12)
          << mixer_name(kind) << " heads " << heads << " expand " << expand;
    }
}

TEST(KlaMixer, NearLinearAblationHasPBarAtItsFloorAndNoPGradient) {
  auto mixer = std::make_shared<KlaMixerImpl>(options_for(MixerKind::linear));
  const auto [a_bar, p_bar] = mixer->discretised();
  EXPECT_TRUE(torch::all(p_bar == p_bar_floor).item<bool>());
  EXPECT_TRUE(torch::all((a_bar > 0) & (a_bar <= 1)).item<bool>());
  EXPECT_FALSE(mixer->named_parameters()["p"].requires_grad());
}

TEST(KlaMixer, TraceCarriedTokenByTokenMatchesWholeSequenceScan) {
  torch::manual_seed(5);
  MixerOptions o = options_for(MixerKind::kla);
  auto mixer = std::make_shared<KlaMixerImpl>(o);
  mixer->to(torch::kDouble);
  const auto x = torch::randn({2, 6, 16}, torch::kDouble);
  const KlaTrace tr = mixer->trace(x);
  ASSERT_EQ(tr.y_var.sizes(), torch::IntArrayRef({2, 6, 16}));
  ASSERT_EQ(tr.state_variance.sizes(), torch::IntArrayRef({2, 6, 16, 4}));
  // y_var_t[m] = Σ_s q_t[s]² / λ_t[m, s] with ‖q_t‖ = 1 lies between min and max of 1/λ_t over s.
  const auto lo = std::get<0>(tr.state_variance.min(3)), hi = std::get<0>(tr.state_variance.max(3));
  EXPECT_TRUE(torch::all(tr.y_var >= lo * (1 - 1e-12)).item<bool>());
  EXPECT_TRUE(torch::all(tr.y_var <= hi * (1 + 1e-12)).item<bool>());
  // Token by token with carried states equals one scan of the whole sequence.
  const ScanResult whole = mixer->scan(x);
  EXPECT_LE(rel_error(tr.y_var, whole.y_var), 1e-13);
  EXPECT_LE(rel_error(tr.state_variance.select(1, 5), 1.0 / whole.lam_T), 1e-13);
}

// The attention mixer against softmax attention with rotary pairs written as loops over its own
// weights (mixer_loops.hpp).
TEST(AttentionMixer, EqualsSoftmaxAttentionWrittenAsLoops) {
  const MixerOptions o = options_for(MixerKind::attention);
  torch::manual_seed(8);
  auto mixer = std::make_shared<AttentionMixerImpl>(o);
  mixer->to(torch::kDouble);
  const auto x = torch::randn({2, 7, o.d_model}, torch::kDouble);
  torch::NoGradGuard no_grad;
  EXPECT_LE(rel_error(mixer->forward(x), testing::mixer_loop(*mixer, o, x)), 1e-12);
}

TEST(Mixers, BadOptionsAreRejected) {
  MixerOptions o = options_for(MixerKind::gla);
  o.heads = 3;
  EXPECT_THROW(make_mixer(o), Error);
  o.kind = MixerKind::kla;
  EXPECT_THROW(make_mixer(o), Error);
  EXPECT_THROW(parse_mixer("mamba"), Error);
}

TEST(Tagger, LogitsShapeAndCausality) {
  torch::manual_seed(7);
  ModelOptions mo;
  mo.vocab = 7;
  mo.classes = 5;
  mo.blocks = 2;
  mo.mixer = options_for(MixerKind::kla);
  Tagger model(mo);
  const auto tokens = torch::randint(0, 7, {3, 10}, torch::kLong);
  torch::NoGradGuard no_grad;
  const auto logits = model->forward(tokens);
  EXPECT_EQ(logits.sizes(), torch::IntArrayRef({3, 10, 5}));
  auto changed = tokens.clone();
  changed.narrow(1, 6, 4).fill_(0);
  EXPECT_TRUE(torch::equal(model->forward(changed).narrow(1, 0, 6), logits.narrow(1, 0, 6)));
  EXPECT_THROW(model->forward(tokens.to(torch::kFloat)), Error);
  const auto traces = model->kla_traces(tokens);
  ASSERT_EQ(traces.size(), 2u);
  EXPECT_EQ(traces[1].first, 1);
}

}  // namespace
}  // namespace kalmanscan::kla::nn
