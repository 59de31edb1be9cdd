// The fp64 reference against the published implementation's fixtures and against finite
// differences of itself.
#include <gtest/gtest.h>

#include <functional>

#include "kalmanscan/kla/reference.hpp"
#include "random_problem.hpp"

namespace kalmanscan::kla::testing {
namespace {

class ReferenceFixture : public ::testing::TestWithParam<const char*> {};

std::string fixture_test_name(const ::testing::TestParamInfo<const char*>& p) {
  const std::string n = p.param;
  return n.substr(0, n.find('.'));
}

TEST_P(ReferenceFixture, OutputsAndEveryGradientMatch) {
  const FixtureProblem p = fixture_problem(GetParam());
  const Shape& s = p.in.shape;
  OwnedOutputs<double> out(s);
  reference_forward(p.in.view(), out.view());
  OwnedGradients<double> g(s);
  reference_backward(p.in.view(), p.cot.view(), g.view());
  const std::map<std::string, std::span<const double>> got = {
      {"out_y", out.y},         {"out_y_var", out.y_var},     {"out_lam_T", out.lam_T},
      {"out_eta_T", out.eta_T}, {"grad_v", g.v},              {"grad_lam_v", g.lam_v},
      {"grad_k", g.k},          {"grad_q", g.q},              {"grad_a_bar", g.a_bar},
      {"grad_p_bar", g.p_bar},  {"grad_lam0", g.lam0},        {"grad_eta0", g.eta0}};
  std::size_t compared = 0;
  for (const auto& [name, expected] : p.expected) {
    ASSERT_TRUE(got.count(name)) << name;
    EXPECT_LE(rel_error<double>(expected, got.at(name)), 1e-10) << GetParam() << ": " << name;
    ++compared;
  }
  EXPECT_GE(compared, 10u);
}

INSTANTIATE_TEST_SUITE_P(Published, ReferenceFixture,
                         ::testing::Values("single_step.txt", "small.txt", "odd_shapes.txt", "near_linear.txt",
                                           "extreme.txt"),
                         fixture_test_name);

// Σ cot · out for the reference forward.
double loss(const OwnedInputs<double>& in, const OwnedCotangents<double>& cot) {
  OwnedOutputs<double> out(in.shape);
  reference_forward(in.view(), out.view());
  double l = 0;
  auto dot = [&](const std::vector<double>& a, const std::vector<double>& b) {
    for (std::size_t i = 0; i < a.size(); ++i) l += a[i] * b[i];
  };
  dot(out.y, cot.y);
  dot(out.y_var, cot.y_var);
  dot(out.lam_T, cot.lam_T);
  dot(out.eta_T, cot.eta_T);
  return l;
}

// Central differences of the loss for every element of every input, against reference_backward.
void check_finite_differences(OwnedInputs<double> in, const OwnedCotangents<double>& cot, double tol) {
  const Shape s = in.shape;
  OwnedGradients<double> g(s);
  reference_backward(in.view(), cot.view(), g.view());
  const std::vector<std::pair<const char*, std::pair<std::vector<double>*, const std::vector<double>*>>> tensors = {
      {"v", {&in.v, &g.v}},         {"lam_v", {&in.lam_v, &g.lam_v}}, {"k", {&in.k, &g.k}},
      {"q", {&in.q, &g.q}},         {"a_bar", {&in.a_bar, &g.a_bar}}, {"p_bar", {&in.p_bar, &g.p_bar}},
      {"lam0", {&in.lam0, &g.lam0}}, {"eta0", {&in.eta0, &g.eta0}}};
  for (const auto& [name, pair] : tensors) {
    std::vector<double>& x = *pair.first;
    std::vector<double> fd(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double x0 = x[i], h = 1e-6 * std::max(1.0, std::abs(x0));
      x[i] = x0 + h;
      const double up = loss(in, cot);
      x[i] = x0 - h;
      const double down = loss(in, cot);
      x[i] = x0;
      fd[i] = (up - down) / (2 * h);
    }
    EXPECT_LE(rel_error<double>(fd, *pair.second), tol) << "gradient of " << name;
  }
}

TEST(ReferenceBackward, MatchesFiniteDifferences) {
  const Shape s{2, 7, 3, 4};
  check_finite_differences(random_inputs(s, 11, true), random_cotangents(s, 12), 1e-7);
}

TEST(ReferenceBackward, MatchesFiniteDifferencesWithSmallDecayAndLargeNoise) {
  const Shape s{1, 9, 2, 3};
  InputRanges r;
  r.a_lo = 0.05;
  r.a_hi = 0.3;
  r.p_lo = 0.5;
  r.p_hi = 2.0;
  check_finite_differences(random_inputs(s, 21, true, r), random_cotangents(s, 22), 1e-7);
}

TEST(ReferenceBackward, MatchesFiniteDifferencesWithDefaultPrior) {
  const Shape s{2, 5, 2, 2};
  OwnedInputs<double> in = random_inputs(s, 31, false);
  // The gradients of the default prior (λ₀ = 1, η₀ = 0) are checked by passing it explicitly.
  OwnedGradients<double> implicit(s), explicit_prior(s);
  const OwnedCotangents<double> cot = random_cotangents(s, 32);
  reference_backward(in.view(), cot.view(), implicit.view());
  in.lam0.assign(s.state_size(), 1.0);
  in.eta0.assign(s.state_size(), 0.0);
  reference_backward(in.view(), cot.view(), explicit_prior.view());
  EXPECT_EQ(implicit.lam0, explicit_prior.lam0);
  EXPECT_EQ(implicit.eta0, explicit_prior.eta0);
  check_finite_differences(in, cot, 1e-7);
}

TEST(ReferenceForward, RejectsBadShapesAndDomains) {
  const Shape s{1, 3, 2, 2};
  OwnedInputs<double> in = random_inputs(s, 41, false);
  OwnedOutputs<double> out(s);
  in.k.pop_back();
  EXPECT_THROW(reference_forward(in.view(), out.view()), Error);
  in = random_inputs(s, 41, false);
  in.a_bar[1] = 1.5;
  try {
    reference_forward(in.view(), out.view());
    FAIL() << "a_bar = 1.5 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a_bar[1]"), std::string::npos) << e.what();
  }
  in = random_inputs(s, 41, false);
  in.lam_v[0] = std::nan("");
  EXPECT_THROW(reference_forward(in.view(), out.view()), Error);
}

}  // namespace
}  // namespace kalmanscan::kla::testing
