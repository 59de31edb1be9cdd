// The per-slot arithmetic of kla/src/step.hpp that only the lean CUDA backward uses
// (step_keeping_reciprocal, step_adjoint_from, ChannelTokenGrads), run on the CPU: against
// central finite differences of the token update in long double, and against the
// step_adjoint / token_grads that the CPU kernels use.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <utility>

#include "step.hpp"

namespace kalmanscan::kla::testing {
namespace {

using kla::detail::SlotParams;
using LD = long double;

// |x − want| ≤ tol · max(|want|, scale) + noise: scale is the size of the terms the value is a
// sum of, noise the reference's own rounding error.
void expect_close(double x, LD want, LD scale, double tol, const char* what, int trial, LD noise = 0) {
  EXPECT_LE(std::fabs(LD(x) - want), LD(tol) * std::max(std::fabs(want), scale) + noise)
      << what << " (trial " << trial << "): got " << x << ", want " << double(want);
}

// States and parameters over the ranges the kernels meet: ā from 1e-3 to 1, p̄ from 1e-6 to 10,
// λ from 1e-3 to 1e6 (log-uniform), η and the adjoints of order one.
struct Draw {
  std::mt19937_64 gen{7};
  double log_uniform(double lo, double hi) {
    return std::exp(std::uniform_real_distribution<double>(std::log(lo), std::log(hi))(gen));
  }
  double normal() { return std::normal_distribution<double>(0.0, 1.0)(gen); }
};

TEST(Step, KeepingTheReciprocalStepsLikeStep) {
  Draw d;
  for (int trial = 0; trial < 200; ++trial) {
    const SlotParams<double> sp = kla::detail::slot_params(d.log_uniform(1e-3, 1.0), d.log_uniform(1e-6, 10.0));
    const double lam0 = d.log_uniform(1e-3, 1e6), eta0 = d.normal(), phi = d.log_uniform(1e-3, 10.0), r = d.normal();
    double lam = lam0, eta = eta0, lam_k = lam0, eta_k = eta0;
    kla::detail::step(sp, phi, r, lam, eta);
    const double g = kla::detail::step_keeping_reciprocal(sp, phi, r, lam_k, eta_k);
    EXPECT_EQ(lam_k, lam) << trial;
    EXPECT_EQ(eta_k, eta) << trial;
    EXPECT_EQ(g, 1.0 / (sp.a * sp.a + sp.p * lam0)) << trial;
  }
}

TEST(Step, AdjointFromReciprocalMatchesFiniteDifferencesAndStepAdjoint) {
  Draw d;
  for (int trial = 0; trial < 200; ++trial) {
    const double a = d.log_uniform(1e-3, 1.0), p = d.log_uniform(1e-6, 10.0);
    const double lam = d.log_uniform(1e-3, 1e6), eta = d.normal(), phi = d.log_uniform(1e-3, 10.0), r = d.normal();
    const double lam_bar0 = d.normal(), eta_bar0 = d.normal();
    const SlotParams<double> sp = kla::detail::slot_params(a, p);
    // The token's update (λ', η') as a function of (ā, p̄, λ, η), in long double; the adjoint of
    // J = λ̄·λ' + η̄·η' is checked against fourth-order central differences of λ' and η' apart,
    // to within 1e-8 of the sum of the magnitudes of the two terms, plus the differences' own
    // rounding (a few ulps of λ̄λ', η̄η' over h: it dominates where a partial is tiny).
    auto update = [&](LD a_, LD p_, LD l_, LD e_) {
      const SlotParams<LD> s{a_, p_, false};
      LD l = l_, e = e_;
      kla::detail::step(s, LD(phi), LD(r), l, e);
      return std::pair<LD, LD>{l, e};
    };
    struct Partial {
      LD value, scale, noise;
    };
    auto partial = [&](int which) {
      LD x[4] = {a, p, lam, eta};
      const LD h = 1e-3L * std::fabs(x[which]);
      auto at = [&](LD dx) {
        LD y[4] = {x[0], x[1], x[2], x[3]};
        y[which] += dx;
        return update(y[0], y[1], y[2], y[3]);
      };
      const auto p1 = at(h), m1 = at(-h), p2 = at(2 * h), m2 = at(-2 * h);
      const LD dl = (8 * (p1.first - m1.first) - (p2.first - m2.first)) / (12 * h);
      const LD de = (8 * (p1.second - m1.second) - (p2.second - m2.second)) / (12 * h);
      const LD noise = 16 * std::numeric_limits<LD>::epsilon() *
                       (std::fabs(LD(lam_bar0) * p1.first) + std::fabs(LD(eta_bar0) * p1.second)) / h;
      return Partial{LD(lam_bar0) * dl + LD(eta_bar0) * de, std::fabs(LD(lam_bar0) * dl) + std::fabs(LD(eta_bar0) * de),
                     noise};
    };
    const Partial dJ_da = partial(0), dJ_dp = partial(1), dJ_dlam = partial(2), dJ_deta = partial(3);

    double lam_k = lam, eta_k = eta;
    const double g = kla::detail::step_keeping_reciprocal(sp, phi, r, lam_k, eta_k);
    double lam_bar = lam_bar0, eta_bar = eta_bar0, a_grad = 0.5, p_grad = -0.25;  // sums already under way
    kla::detail::step_adjoint_from(sp, lam, g, eta, lam_bar, eta_bar, a_grad, p_grad);
    // The partials are differences (∂f/∂ā = g (1 − 2āf) cancels where p̄λ ≈ ā²): any fp64 formula
    // is good to a few ulps of their terms, so those count in the scale too.
    const LD G = 1 / (LD(a) * a + LD(p) * lam), F = a * G, E = std::fabs(LD(eta_bar0) * eta), Lb = std::fabs(LD(lam_bar0));
    const LD t_a = Lb * 2 * a * lam * G * G + E * G * (1 + 2 * a * F), t_p = Lb * (lam * G) * (lam * G) + E * F * lam * G;
    const LD t_lam = F * F * Lb + F * p * G * E;
    expect_close(a_grad - 0.5, dJ_da.value, dJ_da.scale + t_a, 1e-8, "a_grad", trial, dJ_da.noise);
    expect_close(p_grad + 0.25, dJ_dp.value, dJ_dp.scale + t_p, 1e-8, "p_grad", trial, dJ_dp.noise);
    expect_close(lam_bar, dJ_dlam.value, dJ_dlam.scale + t_lam, 1e-8, "lam_bar", trial, dJ_dlam.noise);
    expect_close(eta_bar, dJ_deta.value, dJ_deta.scale, 1e-8, "eta_bar", trial, dJ_deta.noise);

    double lb = lam_bar0, eb = eta_bar0, ag = 0.5, pg = -0.25, phi_bar, r_bar;
    kla::detail::step_adjoint(sp, lam, eta, lb, eb, ag, pg, phi_bar, r_bar);
    expect_close(a_grad - 0.5, ag - 0.5, dJ_da.scale, 1e-12, "a_grad vs step_adjoint", trial);
    expect_close(p_grad + 0.25, pg + 0.25, dJ_dp.scale, 1e-12, "p_grad vs step_adjoint", trial);
    expect_close(lam_bar, lb, dJ_dlam.scale, 1e-12, "lam_bar vs step_adjoint", trial);
    expect_close(eta_bar, eb, dJ_deta.scale, 1e-12, "eta_bar vs step_adjoint", trial);
  }
}

TEST(Step, ChannelTokenGradsMatchFiniteDifferencesAndTokenGrads) {
  Draw d;
  constexpr int G = 4;
  for (int trial = 0; trial < 100; ++trial) {
    const double v = d.normal(), lv = d.log_uniform(1e-3, 1e3);
    double k[G], phi_bar[G], r_bar[G];
    for (int i = 0; i < G; ++i) k[i] = d.normal(), phi_bar[i] = d.normal(), r_bar[i] = d.normal();
    if (trial % 3 == 0) k[trial % G] = 1e-9;  // φ = Λv k² below its floor: no φ̄ term
    // J = Σ_slots φ̄ φ(Λv, k) + r̄ r(Λv, v, k), in long double.
    auto J = [&](LD v_, LD lv_, int slot, LD k_slot) {
      LD sum = 0;
      for (int i = 0; i < G; ++i) {
        const LD ki = i == slot ? k_slot : LD(k[i]);
        sum += LD(phi_bar[i]) * kla::detail::observation_precision(lv_, ki) + LD(r_bar[i]) * lv_ * v_ * ki;
      }
      return sum;
    };
    auto central = [](auto f, LD x) {
      const LD h = 1e-6L * std::max(std::fabs(x), 1e-3L);
      return (f(x + h) - f(x - h)) / (2 * h);
    };
    kla::detail::ChannelTokenGrads<double> cg{lv, lv * v};
    double kb[G];
    double v_sum = 0, lv_sum = 0;
    for (int i = 0; i < G; ++i) {
      kb[i] = cg.add_slot(k[i], phi_bar[i], r_bar[i]);
      const kla::detail::TokenGrads<double> tg = kla::detail::token_grads(v, lv, k[i], phi_bar[i], r_bar[i]);
      v_sum += tg.v;
      lv_sum += tg.lam_v;
      expect_close(kb[i], tg.k, std::fabs(tg.k) + 1e-300, 1e-12, "k_bar vs token_grads", trial);
      const LD dk = central([&](LD x) { return J(v, lv, i, x); }, k[i]);
      expect_close(kb[i], dk, std::fabs(dk) + std::fabs(LD(r_bar[i]) * lv * v), 1e-7, "k_bar", trial);
    }
    expect_close(cg.v_bar, v_sum, std::fabs(v_sum) + 1e-300, 1e-12, "v_bar vs token_grads", trial);
    expect_close(cg.lam_v_bar(v), lv_sum, std::fabs(lv_sum) + 1e-300, 1e-12, "lam_v_bar vs token_grads", trial);
    const LD dv = central([&](LD x) { return J(x, lv, -1, 0); }, v);
    const LD dlv = central([&](LD x) { return J(v, x, -1, 0); }, lv);
    expect_close(cg.v_bar, dv, std::fabs(dv), 1e-7, "v_bar", trial);
    expect_close(cg.lam_v_bar(v), dlv, std::fabs(dlv), 1e-7, "lam_v_bar", trial);
  }
}

}  // namespace
}  // namespace kalmanscan::kla::testing
