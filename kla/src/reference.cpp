#include "kalmanscan/kla/reference.hpp"

#include <algorithm>
#include <vector>

#include "index.hpp"

namespace kalmanscan::kla {

namespace {

using detail::Index;

double at_or(std::span<const double> x, std::size_t i, double fallback) { return x.empty() ? fallback : x[i]; }

// Every state (λ_t, η_t), t = 0 … L, of every (b, m, s): lam[state·(L+1) + t].
struct Trajectory {
  std::vector<double> lam, eta;
};

Trajectory run_forward(const Inputs<double>& in) {
  const Shape& sh = in.shape;
  const Index ix{sh};
  Trajectory tr{std::vector<double>(sh.state_size() * (sh.L + 1)), std::vector<double>(sh.state_size() * (sh.L + 1))};
  for (std::size_t b = 0; b < sh.B; ++b)
    for (std::size_t m = 0; m < sh.M; ++m)
      for (std::size_t j = 0; j < sh.S; ++j) {
        const std::size_t st = ix.state(b, m, j);
        const double a = in.a_bar[ix.param(m, j)];
        const double p = std::max(in.p_bar[ix.param(m, j)], p_bar_floor);
        double* lam = &tr.lam[st * (sh.L + 1)];
        double* eta = &tr.eta[st * (sh.L + 1)];
        lam[0] = at_or(in.lam0, st, 1.0);
        eta[0] = at_or(in.eta0, st, 0.0);
        for (std::size_t t = 0; t < sh.L; ++t) {
          const double lv = in.lam_v[ix.seq(b, t, m)], kk = in.k[ix.key(b, t, j)];
          const double phi = std::max(lv * kk * kk, phi_floor);
          const double r = lv * in.v[ix.seq(b, t, m)] * kk;
          const double D = a * a + p * lam[t];
          lam[t + 1] = ((1 + p * phi) * lam[t] + a * a * phi) / D;  // DESIGN.md §4, literally
          eta[t + 1] = (a / D) * eta[t] + r;
        }
      }
  return tr;
}

}  // namespace

void reference_forward(const Inputs<double>& in, const Outputs<double>& out) {
  validate(in);
  const Shape& sh = in.shape;
  validate(sh, out);
  const Index ix{sh};
  const Trajectory tr = run_forward(in);
  std::fill(out.y.begin(), out.y.end(), 0.0);
  std::fill(out.y_var.begin(), out.y_var.end(), 0.0);
  for (std::size_t b = 0; b < sh.B; ++b)
    for (std::size_t m = 0; m < sh.M; ++m)
      for (std::size_t j = 0; j < sh.S; ++j) {
        const std::size_t st = ix.state(b, m, j);
        for (std::size_t t = 0; t < sh.L; ++t) {
          const double lam = tr.lam[st * (sh.L + 1) + t + 1], eta = tr.eta[st * (sh.L + 1) + t + 1];
          const double q = in.q[ix.key(b, t, j)];
          out.y[ix.seq(b, t, m)] += q * eta / lam;
          out.y_var[ix.seq(b, t, m)] += q * q / lam;
        }
        if (!out.lam_T.empty()) out.lam_T[st] = tr.lam[st * (sh.L + 1) + sh.L];
        if (!out.eta_T.empty()) out.eta_T[st] = tr.eta[st * (sh.L + 1) + sh.L];
      }
}

void reference_backward(const Inputs<double>& in, const Cotangents<double>& cot, const Gradients<double>& grad) {
  validate(in);
  const Shape& sh = in.shape;
  validate(sh, cot);
  validate(sh, grad);
  const Index ix{sh};
  const Trajectory tr = run_forward(in);
  for (std::span<double> g : {grad.v, grad.lam_v, grad.k, grad.q, grad.a_bar, grad.p_bar, grad.lam0, grad.eta0})
    std::fill(g.begin(), g.end(), 0.0);

  for (std::size_t b = 0; b < sh.B; ++b)
    for (std::size_t m = 0; m < sh.M; ++m)
      for (std::size_t j = 0; j < sh.S; ++j) {
        const std::size_t st = ix.state(b, m, j), pj = ix.param(m, j);
        const double a = in.a_bar[pj];
        const bool p_floored = in.p_bar[pj] < p_bar_floor;
        const double p = p_floored ? p_bar_floor : in.p_bar[pj];
        const double* lam = &tr.lam[st * (sh.L + 1)];
        const double* eta = &tr.eta[st * (sh.L + 1)];
        // Adjoints of the state (λ_t, η_t) after token t; start with the carry-out's cotangents.
        double lam_bar = at_or(cot.lam_T, st, 0.0), eta_bar = at_or(cot.eta_T, st, 0.0);
        double a_bar_grad = 0, p_bar_grad = 0;
        for (std::size_t t = sh.L; t-- > 0;) {
          // Readout at token t: y += q η/λ, y_var += q²/λ with (λ, η) = state after token t.
          const double lt = lam[t + 1], et = eta[t + 1], q = in.q[ix.key(b, t, j)];
          const double gy = at_or(cot.y, ix.seq(b, t, m), 0.0), gyv = at_or(cot.y_var, ix.seq(b, t, m), 0.0);
          eta_bar += gy * q / lt;
          lam_bar -= (gy * q * et + gyv * q * q) / (lt * lt);
          grad.q[ix.key(b, t, j)] += (gy * et + 2 * gyv * q) / lt;
          // Token t's update from (λ, η) = state before token t.
          const double lp = lam[t], ep = eta[t];
          const double lv = in.lam_v[ix.seq(b, t, m)], vv = in.v[ix.seq(b, t, m)], kk = in.k[ix.key(b, t, j)];
          const double g = 1 / (a * a + p * lp);  // 1/D
          const double f = a * g;
          // φ = max(Λv k², φ_min): gradient λ̄ where not floored; r = Λv v k: gradient η̄.
          const double phi_bar = lv * kk * kk < phi_floor ? 0.0 : lam_bar;
          grad.v[ix.seq(b, t, m)] += eta_bar * lv * kk;
          grad.lam_v[ix.seq(b, t, m)] += eta_bar * vv * kk + phi_bar * kk * kk;
          grad.k[ix.key(b, t, j)] += eta_bar * lv * vv + phi_bar * 2 * lv * kk;
          // ∂λ_t/∂ā = −2ā λ/D², ∂λ_t/∂p̄ = −λ²/D², ∂f_t/∂ā = (p̄λ − ā²)/D², ∂f_t/∂p̄ = −ā λ/D².
          a_bar_grad += lam_bar * (-2 * a * lp * g * g) + eta_bar * ep * (p * lp - a * a) * g * g;
          p_bar_grad += lam_bar * (-lp * lp * g * g) + eta_bar * ep * (-a * lp * g * g);
          // To the state before token t: ∂λ_t/∂λ = f², ∂f_t/∂λ = −ā p̄/D², ∂η_t/∂η = f.
          lam_bar = f * f * lam_bar + eta_bar * ep * (-a * p * g * g);
          eta_bar = f * eta_bar;
        }
        grad.a_bar[pj] += a_bar_grad;
        if (!p_floored) grad.p_bar[pj] += p_bar_grad;
        if (!grad.lam0.empty()) grad.lam0[st] = lam_bar;
        if (!grad.eta0.empty()) grad.eta0[st] = eta_bar;
      }
}

}  // namespace kalmanscan::kla
