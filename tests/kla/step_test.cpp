// The per-slot arithmetic of kla/src/step.hpp that only the lean CUDA backward uses
// (step_keeping_reciprocal, step_adjoint_from, ChannelTokenGrads), run on the CPU: against
// central finite differences of the token update in long double, and against the
// step_adjoint / token_grads that the CPU kernels use.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "step.hpp"

namespace kalmanscan::kla::testing {
namespace {

using kla::detail::SlotParams;
using LD = long double;

// |x − want| ≤ tol · max(|want|, scale): scale is the size of the terms the value is a sum of.
void expect_close(double x, LD want, LD scale, double tol, const char* what, int trial) {
  EXPECT_LE(std::fabs(LD(x) - want), LD(tol) * std::max(std::fabs(want), scale))
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
    // J(ā, p̄, λ, η) = λ̄·λ' + η̄·η' of one token's update, in long double.
    auto J = [&](LD a_, LD p_, LD l_, LD e_) {
      const SlotParams<LD> s{a_, p_, false};
      LD l = l_, e = e_;
      kla::detail::step(s, LD(phi), LD(r), l, e);
      return LD(lam_bar0) * l + LD(eta_bar0) * e;
    };
    auto central = [](auto f, LD x) {
      const LD h = 1e-6L * std::fabs(x);
      return (f(x + h) - f(x - h)) / (2 * h);
    };
    const LD dJ_da = central([&](LD x) { return J(x, p, lam, eta); }, a);
    const LD dJ_dp = central([&](LD x) { return J(a, x, lam, eta); }, p);
    const LD dJ_dlam = central([&](LD x) { return J(a, p, x, eta); }, lam);
    const LD dJ_deta = central([&](LD x) { return J(a, p, lam, x); }, eta);

    double lam_k = lam, eta_k = eta;
    const double g = kla::detail::step_keeping_reciprocal(sp, phi, r, lam_k, eta_k);
    double lam_bar = lam_bar0, eta_bar = eta_bar0, a_grad = 0.5, p_grad = -0.25;  // sums already under way
    kla::detail::step_adjoint_from(sp, lam, g, eta, lam_bar, eta_bar, a_grad, p_grad);
    // Scales: the largest term of each partial sum (finite differences lose ~1e-10 of it).
    const LD s_a = std::fabs(dJ_da) + std::fabs(LD(lam_bar0) * 2 * lam * g * g * a) + std::fabs(LD(eta_bar0 * eta) * g);
    const LD s_p = std::fabs(dJ_dp) + std::fabs(LD(lam_bar0) * lam * g * lam * g) + std::fabs(LD(eta_bar0 * eta) * a * g * lam * g);
    expect_close(a_grad - 0.5, dJ_da, s_a, 1e-7, "a_grad", trial);
    expect_close(p_grad + 0.25, dJ_dp, s_p, 1e-7, "p_grad", trial);
    expect_close(lam_bar, dJ_dlam, std::fabs(dJ_dlam) + std::fabs(LD(lam_bar0) * a * g * a * g), 1e-7, "lam_bar", trial);
    expect_close(eta_bar, dJ_deta, std::fabs(dJ_deta), 1e-7, "eta_bar", trial);

    double lb = lam_bar0, eb = eta_bar0, ag = 0.5, pg = -0.25, phi_bar, r_bar;
    kla::detail::step_adjoint(sp, lam, eta, lb, eb, ag, pg, phi_bar, r_bar);
    expect_close(a_grad, ag, std::fabs(ag) + s_a, 1e-12, "a_grad vs step_adjoint", trial);
    expect_close(p_grad, pg, std::fabs(pg) + s_p, 1e-12, "p_grad vs step_adjoint", trial);
    expect_close(lam_bar, lb, std::fabs(lb), 1e-12, "lam_bar vs step_adjoint", trial);
    expect_close(eta_bar, eb, std::fabs(eb), 1e-12, "eta_bar vs step_adjoint", trial);
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
