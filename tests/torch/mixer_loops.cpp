#include "mixer_loops.hpp"

#include <algorithm>
#include <cmath>
#include <span>
#include <stdexcept>
#include <utility>

#include "kalmanscan/kla/reference.hpp"
#include "kalmanscan/kla/tensors.hpp"

namespace kalmanscan::kla::nn::testing {

namespace {

// softplus(t) = log(1 + eᵗ), without overflow for large t.
double softplus(double t) { return std::max(t, 0.0) + std::log1p(std::exp(-std::abs(t))); }
double sigmoid(double t) { return 1 / (1 + std::exp(-t)); }
double silu(double t) { return t * sigmoid(t); }
double gelu(double t) { return 0.5 * t * (1 + std::erf(t / std::sqrt(2.0))); }

// u / max(‖u‖, 1e-6) for the slice u[from, from + n) (torch's normalize with eps 1e-6).
Vec unit(const Vec& u, int64_t from, int64_t n) {
  double sq = 0;
  for (int64_t i = 0; i < n; ++i) sq += u[from + i] * u[from + i];
  Vec out(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[i] = u[from + i] / std::max(std::sqrt(sq), 1e-6);
  return out;
}

}  // namespace

Weights::Weights(const torch::nn::Module& module) : Weights(module.named_parameters(), "") {}

Weights::Weights(torch::OrderedDict<std::string, at::Tensor> params, std::string prefix)
    : params_(std::move(params)), prefix_(std::move(prefix)) {}

Weights Weights::below(const std::string& name) const { return Weights(params_, prefix_ + name + "."); }

const at::Tensor& Weights::operator[](const std::string& name) const {
  const at::Tensor* t = params_.find(prefix_ + name);
  if (t == nullptr) throw std::invalid_argument("Weights: no parameter named '" + prefix_ + name + "'");
  return *t;
}

Vec linear(const Weights& w, const std::string& name, const Vec& u) {
  const auto W = w[name + ".weight"].accessor<double, 2>();
  const auto b = w[name + ".bias"].accessor<double, 1>();
  if (W.size(1) != int64_t(u.size())) throw std::invalid_argument("linear: " + name + " does not take this input size");
  Vec y(std::size_t(W.size(0)));
  for (int64_t r = 0; r < W.size(0); ++r) {
    y[r] = b[r];
    for (int64_t j = 0; j < W.size(1); ++j) y[r] += W[r][j] * u[j];
  }
  return y;
}

Vec layer_norm(const Weights& w, const std::string& name, const Vec& u) {
  const auto gain = w[name + ".weight"].accessor<double, 1>();
  const auto bias = w[name + ".bias"].accessor<double, 1>();
  const double n = double(u.size());
  double mean = 0, var = 0;
  for (double e : u) mean += e / n;
  for (double e : u) var += (e - mean) * (e - mean) / n;
  Vec y(u.size());
  for (std::size_t i = 0; i < u.size(); ++i) y[i] = (u[i] - mean) / std::sqrt(var + 1e-5) * gain[i] + bias[i];
  return y;
}

Sequence kla_mixer_loop(const Weights& w, const MixerOptions& o, const Sequence& x) {
  const int64_t L = int64_t(x.size()), E = o.expand * o.d_model, H = o.heads, Mh = E / H, S = o.state_size;
  // Per token: the conv input and the gate (the two halves of in_proj), then v, Λv, k, q.
  Sequence pre(L), gate(L), v(L), lam_v(L), k(L), q(L);
  for (int64_t t = 0; t < L; ++t) {
    const Vec uz = linear(w, "in_proj", x[t]);
    pre[t].assign(uz.begin(), uz.begin() + E);
    gate[t].assign(uz.begin() + E, uz.end());
  }
  const auto conv_w = w["conv.weight"].accessor<double, 3>();
  const auto conv_b = w["conv.bias"].accessor<double, 1>();
  for (int64_t t = 0; t < L; ++t) {
    Vec u(E);
    for (int64_t e = 0; e < E; ++e) {
      double c = conv_b[e];  // causal: taps j = 0 … 3 see tokens t − 3 … t, none before the first
      for (int64_t j = 0; j < 4; ++j)
        if (t - 3 + j >= 0) c += conv_w[e][0][j] * pre[t - 3 + j][e];
      u[e] = silu(c);
    }
    v[t] = linear(w, "v_proj", u);
    lam_v[t] = linear(w, "sigma_proj", u);
    for (double& s : lam_v[t]) s = 1 / (softplus(s) + 1e-4);
    k[t] = linear(w, "k_proj", u);
    q[t] = linear(w, "q_proj", u);
  }
  // OU discretisation per (channel, slot).
  const auto a_raw = w["a_raw"].accessor<double, 2>(), delta_raw = w["delta_raw"].accessor<double, 2>();
  const auto p = w["p"].accessor<double, 2>();
  Vec a_bar(std::size_t(E * S)), p_bar(a_bar.size());
  for (int64_t e = 0; e < E; ++e)
    for (int64_t s = 0; s < S; ++s) {
      const double a = softplus(a_raw[e][s]), dt = softplus(delta_raw[e][s]);
      a_bar[e * S + s] = std::max(std::exp(-a * dt), 1e-20);
      p_bar[e * S + s] = o.kind == MixerKind::linear ? p_bar_floor : -p[e][s] * p[e][s] * std::expm1(-2 * a * dt) / (2 * a);
    }
  // Per head: the reference scan of its Mh channels with its own unit k, q.
  Sequence y(L, Vec(E));
  for (int64_t h = 0; h < H; ++h) {
    const Shape shape{1, std::size_t(L), std::size_t(Mh), std::size_t(S)};
    Vec vh(shape.sequence_size()), lvh(vh.size()), kh(shape.key_size()), qh(kh.size()), yh(vh.size()), y_var(vh.size());
    for (int64_t t = 0; t < L; ++t) {
      const Vec kt = unit(k[t], h * S, S), qt = unit(q[t], h * S, S);
      for (int64_t m = 0; m < Mh; ++m) vh[t * Mh + m] = v[t][h * Mh + m], lvh[t * Mh + m] = lam_v[t][h * Mh + m];
      for (int64_t s = 0; s < S; ++s) kh[t * S + s] = kt[s], qh[t * S + s] = qt[s];
    }
    const std::span<const double> ah(a_bar.data() + h * Mh * S, Mh * S), ph(p_bar.data() + h * Mh * S, Mh * S);
    reference_forward(Inputs<double>{shape, vh, lvh, kh, qh, ah, ph}, Outputs<double>{yh, y_var});
    for (int64_t t = 0; t < L; ++t)
      for (int64_t m = 0; m < Mh; ++m) y[t][h * Mh + m] = yh[t * Mh + m];
  }
  // Skip, SiLU gate, output projection.
  const auto skip = w["skip"].accessor<double, 1>();
  Sequence out(L);
  for (int64_t t = 0; t < L; ++t) {
    Vec g(E);
    for (int64_t e = 0; e < E; ++e) g[e] = (y[t][e] + skip[e] * v[t][e]) * silu(gate[t][e]);
    out[t] = linear(w, "out_proj", g);
  }
  return out;
}

Sequence gla_mixer_loop(const Weights& w, const MixerOptions& o, const Sequence& x) {
  const int64_t L = int64_t(x.size()), D = o.d_model, H = o.heads, Dk = o.state_size, Dv = D / H;
  const auto gn_gain = w["norm.weight"].accessor<double, 1>(), gn_bias = w["norm.bias"].accessor<double, 1>();
  std::vector<Vec> state(H, Vec(std::size_t(Dk * Dv), 0.0));  // S_h[i][j] at i·Dv + j
  Sequence out(L);
  for (int64_t t = 0; t < L; ++t) {
    const Vec q = linear(w, "q_proj", x[t]), k = linear(w, "k_proj", x[t]), v = linear(w, "v_proj", x[t]);
    const Vec g = linear(w, "gate_proj", x[t]), z = linear(w, "out_gate", x[t]);
    Vec o_t(D);
    for (int64_t h = 0; h < H; ++h) {
      Vec& Sh = state[h];
      // S_t = diag(α_t) S_{t−1} + k_t v_tᵀ.
      for (int64_t i = 0; i < Dk; ++i) {
        const double alpha = std::pow(sigmoid(g[h * Dk + i]), 1.0 / 16.0);
        for (int64_t j = 0; j < Dv; ++j) Sh[i * Dv + j] = alpha * Sh[i * Dv + j] + k[h * Dk + i] * v[h * Dv + j];
      }
      // o_t = S_tᵀ q_t with q scaled by 1/√d_k.
      for (int64_t j = 0; j < Dv; ++j) {
        double acc = 0;
        for (int64_t i = 0; i < Dk; ++i) acc += Sh[i * Dv + j] * q[h * Dk + i] / std::sqrt(double(Dk));
        o_t[h * Dv + j] = acc;
      }
      // GroupNorm: this head's Dv outputs are one group.
      double mean = 0, var = 0;
      for (int64_t j = 0; j < Dv; ++j) mean += o_t[h * Dv + j] / double(Dv);
      for (int64_t j = 0; j < Dv; ++j) var += (o_t[h * Dv + j] - mean) * (o_t[h * Dv + j] - mean) / double(Dv);
      for (int64_t j = 0; j < Dv; ++j) {
        const int64_t c = h * Dv + j;
        o_t[c] = (o_t[c] - mean) / std::sqrt(var + 1e-5) * gn_gain[c] + gn_bias[c];
      }
    }
    for (int64_t c = 0; c < D; ++c) o_t[c] *= silu(z[c]);
    out[t] = linear(w, "out_proj", o_t);
  }
  return out;
}

Sequence attention_mixer_loop(const Weights& w, const MixerOptions& o, const Sequence& x) {
  const int64_t L = int64_t(x.size()), D = o.d_model, H = o.heads, d = D / H, half = d / 2;
  Sequence qkv(L);  // rows: q of every head, then k, then v
  for (int64_t t = 0; t < L; ++t) qkv[t] = linear(w, "qkv", x[t]);
  // Head h's q (which = 0) or k (1) at token t, rotated by its position.
  auto rotated = [&](int64_t t, int64_t which, int64_t h) {
    Vec u(d);
    for (int64_t i = 0; i < half; ++i) {
      const double angle = double(t) * std::pow(10000.0, -2.0 * double(i) / double(d));
      const double x1 = qkv[t][which * D + h * d + i], x2 = qkv[t][which * D + h * d + half + i];
      u[i] = x1 * std::cos(angle) - x2 * std::sin(angle);
      u[half + i] = x1 * std::sin(angle) + x2 * std::cos(angle);
    }
    return u;
  };
  Sequence out(L);
  for (int64_t t = 0; t < L; ++t) {
    Vec heads(D, 0.0);
    for (int64_t h = 0; h < H; ++h) {
      const Vec qt = rotated(t, 0, h);
      Vec score(t + 1);
      double top = -INFINITY, total = 0;
      for (int64_t s = 0; s <= t; ++s) {
        const Vec ks = rotated(s, 1, h);
        score[s] = 0;
        for (int64_t i = 0; i < d; ++i) score[s] += qt[i] * ks[i] / std::sqrt(double(d));
        top = std::max(top, score[s]);
      }
      for (double& e : score) total += (e = std::exp(e - top));
      for (int64_t s = 0; s <= t; ++s)
        for (int64_t i = 0; i < d; ++i) heads[h * d + i] += score[s] / total * qkv[s][2 * D + h * d + i];
    }
    out[t] = linear(w, "out_proj", heads);
  }
  return out;
}

Sequence mixer_loop(const Weights& w, const MixerOptions& o, const Sequence& x) {
  switch (o.kind) {
    case MixerKind::kla:
    case MixerKind::linear: return kla_mixer_loop(w, o, x);
    case MixerKind::gla: return gla_mixer_loop(w, o, x);
    case MixerKind::attention: return attention_mixer_loop(w, o, x);
  }
  throw std::invalid_argument("mixer_loop: unknown mixer kind");
}

at::Tensor mixer_loop(const torch::nn::Module& mixer, const MixerOptions& o, const at::Tensor& x) {
  const Weights w(mixer);
  return per_sequence(x, [&](const Sequence& s) { return mixer_loop(w, o, s); });
}

Sequence tagger_loop(const Weights& w, const ModelOptions& o, const std::vector<int64_t>& tokens) {
  const auto embed = w["embed.weight"].accessor<double, 2>();
  Sequence x;
  for (int64_t token : tokens) {
    Vec row(std::size_t(embed.size(1)));
    for (int64_t c = 0; c < embed.size(1); ++c) row[c] = embed[token][c];
    x.push_back(std::move(row));
  }
  for (int64_t i = 0; i < o.blocks; ++i) {
    const Weights block = w.below("block" + std::to_string(i));
    Sequence normed;
    for (const Vec& xt : x) normed.push_back(layer_norm(block, "norm1", xt));
    const Sequence mixed = mixer_loop(block.below("mixer"), o.mixer, normed);
    for (std::size_t t = 0; t < x.size(); ++t) {
      for (std::size_t c = 0; c < x[t].size(); ++c) x[t][c] += mixed[t][c];
      Vec hidden = linear(block, "fc1", layer_norm(block, "norm2", x[t]));
      for (double& e : hidden) e = gelu(e);
      const Vec mlp = linear(block, "fc2", hidden);
      for (std::size_t c = 0; c < x[t].size(); ++c) x[t][c] += mlp[c];
    }
  }
  Sequence logits;
  for (const Vec& xt : x) {
    const Vec h = layer_norm(w, "norm", xt);
    if (!o.tie_embeddings) {
      logits.push_back(linear(w, "head", h));
      continue;
    }
    Vec row(std::size_t(embed.size(0)), 0.0);  // the embedding matrix as the head: row[v] = E[v] · h
    for (int64_t v = 0; v < embed.size(0); ++v)
      for (int64_t c = 0; c < embed.size(1); ++c) row[v] += embed[v][c] * h[c];
    logits.push_back(std::move(row));
  }
  return logits;
}

at::Tensor stack(const std::vector<Sequence>& sequences) {
  const int64_t B = int64_t(sequences.size()), L = B ? int64_t(sequences[0].size()) : 0;
  const int64_t D = L ? int64_t(sequences[0][0].size()) : 0;
  auto out = torch::zeros({B, L, D}, torch::kDouble);
  auto Y = out.accessor<double, 3>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < L; ++t)
      for (int64_t c = 0; c < D; ++c) Y[b][t][c] = sequences[b][t][c];
  return out;
}

at::Tensor per_sequence(const at::Tensor& x, const std::function<Sequence(const Sequence&)>& f) {
  const auto X = x.accessor<double, 3>();
  std::vector<Sequence> results;
  for (int64_t b = 0; b < X.size(0); ++b) {
    Sequence seq;
    for (int64_t t = 0; t < X.size(1); ++t) {
      Vec token(std::size_t(X.size(2)));
      for (int64_t c = 0; c < X.size(2); ++c) token[c] = X[b][t][c];
      seq.push_back(std::move(token));
    }
    results.push_back(f(seq));
  }
  return stack(results);
}

}  // namespace kalmanscan::kla::nn::testing
