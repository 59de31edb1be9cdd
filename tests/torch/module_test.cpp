// The torch::nn side of kla/torch: OU discretisation against its closed form (including a → 0),
// every mixer's shape and causality, the KLA layer's op and torch-ops paths against each other,
// the chunk-wise GLA against its step-by-step recurrence (chunk = 1), the near-linear ablation, the
// KLA trace against a whole-sequence scan, the KLA layer and the attention mixer against loop
// implementations around the fp64 reference scan and an explicit softmax, and the Tagger's shapes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kalmanscan/kla/error.hpp"
#include "kalmanscan/kla/reference.hpp"
#include "kalmanscan/kla/tensors.hpp"
#include "kalmanscan/kla/torch/mixers.hpp"
#include "kalmanscan/kla/torch/model.hpp"
#include "kalmanscan/kla/torch/ou.hpp"
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

// The KLA layer (mixers.hpp) against the same layer written as loops over its own weights, with
// the fp64 step-by-step scan (kla/reference.hpp) in the middle: u, z = in_proj(x); causal depthwise
// conv over tokens t−3 … t + SiLU; v, Λv = 1/(softplus(σ̃) + 1e-4), k, q (unit length) from u;
// ā = e^{−aΔ}, p̄ = p²(1 − e^{−2aΔ})/(2a) with a = softplus(a_raw), Δ = softplus(delta_raw); the
// scan; out_proj((y + skip ⊙ v) ⊙ SiLU(z)).
TEST(KlaMixer, EqualsTheLayerWrittenAsLoopsAroundTheReferenceScan) {
  MixerOptions o = options_for(MixerKind::kla);
  o.d_model = 6, o.heads = 1, o.state_size = 3, o.p_init = 0.8;
  torch::manual_seed(9);
  auto mixer = std::make_shared<KlaMixerImpl>(o);
  mixer->to(torch::kDouble);
  const int64_t B = 2, L = 7, D = o.d_model, E = D, S = o.state_size;
  const auto x = torch::randn({B, L, D}, torch::kDouble);
  const auto out = mixer->forward(x);
  auto params = mixer->named_parameters();
  auto w2 = [&](const char* name) { return params[name].accessor<double, 2>(); };
  auto w1 = [&](const char* name) { return params[name].accessor<double, 1>(); };
  const auto X = x.accessor<double, 3>();
  auto softplus = [](double t) { return std::log1p(std::exp(t)); };
  auto silu = [](double t) { return t / (1 + std::exp(-t)); };
  // y = W u + b for a Linear named `name`, u of the Linear's input size.
  auto linear = [&](const char* name, const std::vector<double>& u) {
    const auto W = w2((std::string(name) + ".weight").c_str());
    const auto b = w1((std::string(name) + ".bias").c_str());
    std::vector<double> y(std::size_t(W.size(0)));
    for (int64_t r = 0; r < W.size(0); ++r) {
      y[r] = b[r];
      for (int64_t j = 0; j < W.size(1); ++j) y[r] += W[r][j] * u[j];
    }
    return y;
  };
  auto unit = [](std::vector<double> u) {
    double n = 0;
    for (double e : u) n += e * e;
    for (double& e : u) e /= std::max(std::sqrt(n), 1e-6);
    return u;
  };
  const auto conv_w = params["conv.weight"].accessor<double, 3>();
  const auto conv_b = w1("conv.bias");
  Shape shape{std::size_t(B), std::size_t(L), std::size_t(E), std::size_t(S)};
  std::vector<double> v(shape.sequence_size()), lam_v(v.size()), k(shape.key_size()), q(k.size()),
      gate(v.size()), a_bar(shape.param_size()), p_bar(a_bar.size()), y(v.size()), y_var(v.size());
  for (int64_t b = 0; b < B; ++b) {
    std::vector<std::vector<double>> pre(L);  // the first E outputs of in_proj, per token
    for (int64_t t = 0; t < L; ++t) {
      const std::vector<double> uz = linear("in_proj", std::vector<double>(&X[b][t][0], &X[b][t][0] + D));
      pre[t].assign(uz.begin(), uz.begin() + E);
      for (int64_t e = 0; e < E; ++e) gate[(b * L + t) * E + e] = uz[E + e];
    }
    for (int64_t t = 0; t < L; ++t) {
      std::vector<double> u(E);
      for (int64_t e = 0; e < E; ++e) {
        double c = conv_b[e];
        for (int64_t j = 0; j < 4; ++j)
          if (t - 3 + j >= 0) c += conv_w[e][0][j] * pre[t - 3 + j][e];
        u[e] = silu(c);
      }
      const std::vector<double> vt = linear("v_proj", u), st = linear("sigma_proj", u);
      const std::vector<double> kt = unit(linear("k_proj", u)), qt = unit(linear("q_proj", u));
      for (int64_t e = 0; e < E; ++e) {
        v[(b * L + t) * E + e] = vt[e];
        lam_v[(b * L + t) * E + e] = 1 / (softplus(st[e]) + 1e-4);
      }
      for (int64_t i = 0; i < S; ++i) k[(b * L + t) * S + i] = kt[i], q[(b * L + t) * S + i] = qt[i];
    }
  }
  const auto a_raw = w2("a_raw"), delta_raw = w2("delta_raw"), p = w2("p");
  for (int64_t e = 0; e < E; ++e)
    for (int64_t i = 0; i < S; ++i) {
      const double a = softplus(a_raw[e][i]), dt = softplus(delta_raw[e][i]);
      a_bar[e * S + i] = std::exp(-a * dt);
      p_bar[e * S + i] = p[e][i] * p[e][i] * (1 - std::exp(-2 * a * dt)) / (2 * a);
    }
  reference_forward(Inputs<double>{shape, v, lam_v, k, q, a_bar, p_bar}, Outputs<double>{y, y_var});
  const auto skip = w1("skip");
  auto expected = torch::zeros({B, L, D}, torch::kDouble);
  auto Y = expected.accessor<double, 3>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < L; ++t) {
      std::vector<double> h(E);
      for (int64_t e = 0; e < E; ++e) {
        const std::size_t i = std::size_t((b * L + t) * E + e);
        h[e] = (y[i] + skip[e] * v[i]) * silu(gate[i]);
      }
      const std::vector<double> o_t = linear("out_proj", h);
      for (int64_t r = 0; r < D; ++r) Y[b][t][r] = o_t[r];
    }
  EXPECT_LE(rel_error(out, expected), 1e-12);
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

TEST(GlaMixer, ChunkwiseFormEqualsStepRecurrence) {
  MixerOptions o = options_for(MixerKind::gla);
  const auto x = torch::randn({2, 13, 16}, torch::kDouble);
  torch::Tensor reference;
  for (int64_t chunk : {1, 4, 5, 13, 64}) {  // chunk 1: S_t = diag(α_t) S_{t−1} + k_t v_tᵀ step by step
    o.chunk = chunk;
    torch::manual_seed(6);
    auto mixer = std::make_shared<GlaMixerImpl>(o);
    mixer->to(torch::kDouble);
    const auto y = mixer->forward(x);
    if (chunk == 1) reference = y;
    else EXPECT_LE(rel_error(y, reference), 1e-12) << "chunk " << chunk;
  }
}

// The attention mixer against softmax attention written as plain loops over its own weights: per
// head h, q_t, k_s, v_s from the qkv projection, q and k rotated pairwise (i, i + d/2) by the angle
// pos·10000^(−2i/d) (Su et al. 2021), w_ts = softmax_{s ≤ t}(q_t·k_s/√d), o_t = Σ_s w_ts v_s, heads
// concatenated into the output projection.
TEST(AttentionMixer, EqualsSoftmaxAttentionWrittenAsLoops) {
  MixerOptions o = options_for(MixerKind::attention);
  torch::manual_seed(8);
  auto mixer = std::make_shared<AttentionMixerImpl>(o);
  mixer->to(torch::kDouble);
  const int64_t B = 2, L = 7, D = o.d_model, H = o.heads, d = D / H, half = d / 2;
  const auto x = torch::randn({B, L, D}, torch::kDouble);
  const auto y = mixer->forward(x);
  auto params = mixer->named_parameters();
  const auto Wqkv = params["qkv.weight"].accessor<double, 2>(), Wo = params["out_proj.weight"].accessor<double, 2>();
  const auto bqkv = params["qkv.bias"].accessor<double, 1>(), bo = params["out_proj.bias"].accessor<double, 1>();
  const auto X = x.accessor<double, 3>();
  // Row r of the qkv projection at token t of batch b (rows: q of every head, then k, then v).
  auto proj = [&](int64_t b, int64_t t, int64_t r) {
    double acc = bqkv[r];
    for (int64_t j = 0; j < D; ++j) acc += Wqkv[r][j] * X[b][t][j];
    return acc;
  };
  // Head h's q (which = 0) or k (1) at token t, rotated by its position.
  auto rotated = [&](int64_t b, int64_t t, int64_t which, int64_t h) {
    std::vector<double> u(d);
    for (int64_t i = 0; i < half; ++i) {
      const double angle = double(t) * std::pow(10000.0, -2.0 * double(i) / double(d));
      const double x1 = proj(b, t, which * D + h * d + i), x2 = proj(b, t, which * D + h * d + half + i);
      u[i] = x1 * std::cos(angle) - x2 * std::sin(angle);
      u[half + i] = x1 * std::sin(angle) + x2 * std::cos(angle);
    }
    return u;
  };
  auto expected = torch::zeros({B, L, D}, torch::kDouble);
  auto E = expected.accessor<double, 3>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < L; ++t) {
      std::vector<double> heads(D, 0.0);
      for (int64_t h = 0; h < H; ++h) {
        const std::vector<double> q = rotated(b, t, 0, h);
        std::vector<double> score(t + 1);
        double top = -INFINITY, total = 0;
        for (int64_t s = 0; s <= t; ++s) {
          const std::vector<double> k = rotated(b, s, 1, h);
          score[s] = 0;
          for (int64_t i = 0; i < d; ++i) score[s] += q[i] * k[i] / std::sqrt(double(d));
          top = std::max(top, score[s]);
        }
        for (double& w : score) total += (w = std::exp(w - top));
        for (int64_t s = 0; s <= t; ++s)
          for (int64_t i = 0; i < d; ++i) heads[h * d + i] += score[s] / total * proj(b, s, 2 * D + h * d + i);
      }
      for (int64_t r = 0; r < D; ++r) {
        E[b][t][r] = bo[r];
        for (int64_t j = 0; j < D; ++j) E[b][t][r] += Wo[r][j] * heads[j];
      }
    }
  EXPECT_LE(rel_error(y, expected), 1e-12);
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
