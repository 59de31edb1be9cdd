#include "kalmanscan/kla/torch/mixers.hpp"

#include <torch/torch.h>

#include <cmath>

#include "kalmanscan/kla/error.hpp"
#include "kalmanscan/kla/tensors.hpp"
#include "kalmanscan/kla/torch/op.hpp"
#include "kalmanscan/kla/torch/ou.hpp"

namespace kalmanscan::kla::nn {

namespace F = torch::nn::functional;
using at::Tensor;

MixerKind parse_mixer(const std::string& name) {
  if (name == "kla") return MixerKind::kla;
  if (name == "gla") return MixerKind::gla;
  if (name == "linear") return MixerKind::linear;
  if (name == "attention") return MixerKind::attention;
  throw Error("mixer: unknown mixer '" + name + "' (expected kla, gla, linear or attention)");
}

std::string mixer_name(MixerKind kind) {
  switch (kind) {
    case MixerKind::kla: return "kla";
    case MixerKind::gla: return "gla";
    case MixerKind::linear: return "linear";
    case MixerKind::attention: return "attention";
  }
  return "?";
}

namespace {

void require_divides(const char* what, int64_t heads, int64_t width) {
  if (heads <= 0 || width % heads != 0)
    throw Error(std::string("mixer: heads = ") + std::to_string(heads) + " must divide " + what + " = " +
                std::to_string(width));
}

// softplus⁻¹(y) = y + log(−expm1(−y)), for y > 0.
Tensor inverse_softplus(const Tensor& y) { return y + at::log(-at::expm1(-y)); }

}  // namespace

// ---------------------------------------------------------------- KLA

KlaMixerImpl::KlaMixerImpl(const MixerOptions& options) : options_(options), inner_(options.expand * options.d_model) {
  if (options.kind != MixerKind::kla && options.kind != MixerKind::linear)
    throw Error("KlaMixer: kind must be kla or linear, got " + mixer_name(options.kind));
  require_divides("expand·d_model", options.heads, inner_);
  if (options.state_size <= 0) throw Error("KlaMixer: state_size must be positive");
  if (!(options.p_init > 0)) throw Error("KlaMixer: p_init must be positive, got " + std::to_string(options.p_init));
  const int64_t D = options.d_model, E = inner_, H = options.heads, S = options.state_size;
  in_proj_ = register_module("in_proj", torch::nn::Linear(D, 2 * E));
  conv_ = register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(E, E, 4).groups(E).padding(3)));
  v_proj_ = register_module("v_proj", torch::nn::Linear(E, E));
  sigma_proj_ = register_module("sigma_proj", torch::nn::Linear(E, E));
  k_proj_ = register_module("k_proj", torch::nn::Linear(E, H * S));
  q_proj_ = register_module("q_proj", torch::nn::Linear(E, H * S));
  out_proj_ = register_module("out_proj", torch::nn::Linear(E, D));
  // OU parameters per (channel, slot): a = 1 … S across slots (S4D-real style), Δ log-uniform in
  // [1e-3, 1e-1], p = p_init (1 by default).
  const Tensor a0 = at::arange(1, S + 1, at::kFloat).repeat({E, 1});
  const Tensor dt0 = at::exp(at::rand({E, S}) * (std::log(1e-1) - std::log(1e-3)) + std::log(1e-3));
  a_raw_ = register_parameter("a_raw", inverse_softplus(a0));
  delta_raw_ = register_parameter("delta_raw", inverse_softplus(dt0));
  p_ = register_parameter("p", at::full({E, S}, options.p_init), /*requires_grad=*/options.kind == MixerKind::kla);
  skip_ = register_parameter("skip", at::ones({E}));
}

std::pair<Tensor, Tensor> KlaMixerImpl::discretised() const {
  const Tensor a = F::softplus(a_raw_), delta = F::softplus(delta_raw_);
  Discretised d = ou_discretise(a, p_, delta);
  // ā underflows to 0 in fp32 once aΔ > ~87; keep it in the op's domain (0, 1].
  Tensor a_bar = at::clamp_min(d.a_bar, 1e-20);
  Tensor p_bar = options_.kind == MixerKind::linear ? at::full_like(d.p_bar, p_bar_floor) : d.p_bar;
  return {a_bar, p_bar};
}

KlaMixerImpl::Projected KlaMixerImpl::project(const Tensor& x) {
  const int64_t B = x.size(0), L = x.size(1), H = options_.heads, S = options_.state_size;
  const auto uz = in_proj_(x).chunk(2, -1);
  // Causal depthwise conv: padding 3 on both ends, keep the first L outputs (window t−3 … t).
  const Tensor u = F::silu(conv_(uz[0].transpose(1, 2)).narrow(2, 0, L).transpose(1, 2));
  auto unit = [&](const Tensor& t) {
    return F::normalize(t.view({B, L, H, S}), F::NormalizeFuncOptions().dim(-1).eps(1e-6));
  };
  return {v_proj_(u), 1.0 / (F::softplus(sigma_proj_(u)) + 1e-4), unit(k_proj_(u)), unit(q_proj_(u)), uz[1]};
}

Tensor KlaMixerImpl::output(const Projected& pr, const Tensor& y) {
  return out_proj_((y + skip_ * pr.v) * F::silu(pr.gate));
}

namespace {

ScanResult run_scan(ScanImpl impl, const Tensor& v, const Tensor& lam_v, const Tensor& k, const Tensor& q,
                    const Tensor& a_bar, const Tensor& p_bar, const c10::optional<Tensor>& lam0 = c10::nullopt,
                    const c10::optional<Tensor>& eta0 = c10::nullopt) {
  const bool use_op = impl == ScanImpl::op || (impl == ScanImpl::automatic && kla_scan_has_kernel(v.device()));
  return use_op ? kla_scan(v, lam_v, k, q, a_bar, p_bar, lam0, eta0)
                : kla_scan_recurrent(v, lam_v, k, q, a_bar, p_bar, lam0, eta0);
}

}  // namespace

ScanResult KlaMixerImpl::scan_projected(const Projected& pr) {
  const auto [a_bar, p_bar] = discretised();
  const int64_t H = options_.heads, Mh = inner_ / H;
  std::vector<ScanResult> heads;
  for (int64_t h = 0; h < H; ++h)
    heads.push_back(run_scan(options_.scan, pr.v.narrow(2, h * Mh, Mh), pr.lam_v.narrow(2, h * Mh, Mh),
                             pr.k.select(2, h), pr.q.select(2, h), a_bar.narrow(0, h * Mh, Mh),
                             p_bar.narrow(0, h * Mh, Mh)));
  if (H == 1) return heads[0];
  auto cat = [&](at::Tensor ScanResult::*field, int64_t dim) {
    std::vector<Tensor> parts;
    for (const auto& r : heads) parts.push_back(r.*field);
    return at::cat(parts, dim);
  };
  return {cat(&ScanResult::y, 2), cat(&ScanResult::y_var, 2), cat(&ScanResult::lam_T, 1), cat(&ScanResult::eta_T, 1)};
}

ScanResult KlaMixerImpl::scan(const Tensor& x) { return scan_projected(project(x)); }

Tensor KlaMixerImpl::forward(const Tensor& x) {
  const Projected pr = project(x);
  return output(pr, scan_projected(pr).y.to(x.scalar_type()));
}

KlaTrace KlaMixerImpl::trace(const Tensor& x) {
  torch::NoGradGuard no_grad;
  const Projected pr = project(x);
  const auto [a_bar, p_bar] = discretised();
  const int64_t L = x.size(1), H = options_.heads, Mh = inner_ / H;
  std::vector<Tensor> y_var_heads, state_heads;
  for (int64_t h = 0; h < H; ++h) {
    c10::optional<Tensor> lam, eta;  // carried from token to token
    std::vector<Tensor> y_var, state;
    for (int64_t t = 0; t < L; ++t) {
      const ScanResult r =
          run_scan(options_.scan, pr.v.narrow(2, h * Mh, Mh).narrow(1, t, 1),
                   pr.lam_v.narrow(2, h * Mh, Mh).narrow(1, t, 1), pr.k.select(2, h).narrow(1, t, 1),
                   pr.q.select(2, h).narrow(1, t, 1), a_bar.narrow(0, h * Mh, Mh), p_bar.narrow(0, h * Mh, Mh), lam, eta);
      lam = r.lam_T;
      eta = r.eta_T;
      y_var.push_back(r.y_var);                      // [B, 1, Mh]
      state.push_back((1.0 / r.lam_T).unsqueeze(1));  // [B, 1, Mh, S]
    }
    y_var_heads.push_back(at::cat(y_var, 1));
    state_heads.push_back(at::cat(state, 1));
  }
  return {at::cat(y_var_heads, 2), at::cat(state_heads, 2)};
}

// ---------------------------------------------------------------- GLA

GlaMixerImpl::GlaMixerImpl(const MixerOptions& options) : options_(options) {
  require_divides("d_model", options.heads, options.d_model);
  const int64_t D = options.d_model, H = options.heads, Dk = options.state_size;
  q_proj_ = register_module("q_proj", torch::nn::Linear(D, H * Dk));
  k_proj_ = register_module("k_proj", torch::nn::Linear(D, H * Dk));
  v_proj_ = register_module("v_proj", torch::nn::Linear(D, D));
  gate_proj_ = register_module("gate_proj", torch::nn::Linear(D, H * Dk));
  out_gate_ = register_module("out_gate", torch::nn::Linear(D, D));
  out_proj_ = register_module("out_proj", torch::nn::Linear(D, D));
  norm_ = register_module("norm", torch::nn::GroupNorm(torch::nn::GroupNormOptions(H, D)));
}

Tensor GlaMixerImpl::forward(const Tensor& x) {
  const int64_t B = x.size(0), L = x.size(1), D = options_.d_model, H = options_.heads, Dk = options_.state_size;
  const int64_t Dv = D / H, C = std::max<int64_t>(options_.chunk, 1);
  auto heads = [&](const Tensor& t, int64_t d) { return t.view({B, L, H, d}).transpose(1, 2); };  // [B, H, L, d]
  const Tensor q = heads(q_proj_(x), Dk) / std::sqrt(double(Dk));
  const Tensor k = heads(k_proj_(x), Dk), v = heads(v_proj_(x), Dv);
  const Tensor log_alpha = heads(F::logsigmoid(gate_proj_(x)), Dk) / 16.0;  // log α_t ≤ 0
  Tensor state = at::zeros({B, H, Dk, Dv}, x.options());                    // S before the chunk
  std::vector<Tensor> outs;
  for (int64_t c0 = 0; c0 < L; c0 += C) {
    const int64_t n = std::min(C, L - c0);
    const Tensor qc = q.narrow(2, c0, n), kc = k.narrow(2, c0, n), vc = v.narrow(2, c0, n);
    const Tensor G = log_alpha.narrow(2, c0, n).cumsum(2);  // Σ log α from the chunk start, ≤ 0
    // From the state before the chunk: o_t += (q_t ⊙ exp(G_t)) S.
    const Tensor inter = at::matmul(qc * at::exp(G), state);
    // Within the chunk: o_t += Σ_{s≤t} (Σ_d q_t[d] k_s[d] exp(G_t[d] − G_s[d])) v_s; exponents ≤ 0 where kept.
    const Tensor future = at::triu(at::ones({n, n}, x.options().dtype(at::kBool)), 1).view({1, 1, n, n, 1});
    const Tensor decay = at::exp((G.unsqueeze(3) - G.unsqueeze(2)).masked_fill(future, -INFINITY));
    const Tensor A = (qc.unsqueeze(3) * kc.unsqueeze(2) * decay).sum(-1);  // [B, H, n, n]
    outs.push_back(inter + at::matmul(A, vc));
    // S ← diag(exp(G_last)) S + Σ_s (k_s ⊙ exp(G_last − G_s)) v_sᵀ.
    const Tensor G_last = G.narrow(2, n - 1, 1);
    state = at::exp(G_last).transpose(2, 3) * state + at::matmul((kc * at::exp(G_last - G)).transpose(2, 3), vc);
  }
  const Tensor o = (L == 0 ? at::zeros({B, H, 0, Dv}, x.options()) : at::cat(outs, 2)).transpose(1, 2).reshape({B * L, D});
  return out_proj_(norm_(o).view({B, L, D}) * F::silu(out_gate_(x)));
}

// ---------------------------------------------------------------- attention

AttentionMixerImpl::AttentionMixerImpl(const MixerOptions& options) : options_(options) {
  require_divides("d_model", options.heads, options.d_model);
  if ((options.d_model / options.heads) % 2 != 0) throw Error("AttentionMixer: d_model/heads must be even (rotary)");
  qkv_ = register_module("qkv", torch::nn::Linear(options.d_model, 3 * options.d_model));
  out_proj_ = register_module("out_proj", torch::nn::Linear(options.d_model, options.d_model));
}

namespace {

// Rotary embedding of x [B, H, L, d] at positions 0 … L−1: rotates the pairs (x_i, x_{i+d/2}) by
// the angle pos·10000^(−2i/d).
Tensor rotary(const Tensor& x) {
  const int64_t L = x.size(2), half = x.size(3) / 2;
  const auto opts = x.options();
  const Tensor freq = at::pow(10000.0, -at::arange(half, opts) * 2.0 / double(2 * half));
  const Tensor angle = at::arange(L, opts).unsqueeze(1) * freq.unsqueeze(0);  // [L, half]
  const Tensor c = at::cos(angle), s = at::sin(angle);
  const Tensor x1 = x.narrow(3, 0, half), x2 = x.narrow(3, half, half);
  return at::cat({x1 * c - x2 * s, x1 * s + x2 * c}, 3);
}

}  // namespace

Tensor AttentionMixerImpl::forward(const Tensor& x) {
  const int64_t B = x.size(0), L = x.size(1), D = options_.d_model, H = options_.heads, dh = D / H;
  const Tensor qkv = qkv_(x).view({B, L, 3, H, dh}).permute({2, 0, 3, 1, 4});  // [3, B, H, L, dh]
  const Tensor q = rotary(qkv[0]), k = rotary(qkv[1]), v = qkv[2];
  // softmax(q kᵀ/√d_h + causal mask) v, the mask −∞ above the diagonal (keys after the query).
  const Tensor scores = at::matmul(q, k.transpose(2, 3)) / std::sqrt(double(dh));
  const Tensor future = at::triu(at::ones({L, L}, x.options().dtype(at::kBool)), 1);
  const Tensor attn = at::softmax(scores.masked_fill(future, -INFINITY), -1);
  return out_proj_(at::matmul(attn, v).transpose(1, 2).reshape({B, L, D}));
}

std::shared_ptr<MixerImpl> make_mixer(const MixerOptions& options) {
  switch (options.kind) {
    case MixerKind::kla:
    case MixerKind::linear: return std::make_shared<KlaMixerImpl>(options);
    case MixerKind::gla: return std::make_shared<GlaMixerImpl>(options);
    case MixerKind::attention: return std::make_shared<AttentionMixerImpl>(options);
  }
  throw Error("mixer: unknown kind");
}

}  // namespace kalmanscan::kla::nn
