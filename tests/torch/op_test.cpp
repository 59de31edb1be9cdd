// The kalmanscan::kla_scan LibTorch op: forward and autograd gradients against the fp64
// step-by-step reference of kalmanscan_kla, gradients against central finite differences in fp64
// (LibTorch has no C++ gradcheck), the torch-ops recurrence against the op, carries, dtypes and
// the errors that name the offending tensor.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <tuple>

#include "kalmanscan/kla/error.hpp"
#include "kalmanscan/kla/torch/op.hpp"
#include "support.hpp"

namespace kalmanscan::kla::nn {
namespace {

using testing::contract;
using testing::Problem;
using testing::random_cotangents;
using testing::random_problem;
using testing::rel_error;

using testing::autograd_gradients;
using testing::input_names;
using testing::output_names;
using testing::outputs;
using testing::run_op;
using testing::ScanFn;

ScanResult run_recurrent(const Problem& p) {
  return kla_scan_recurrent(p.v, p.lam_v, p.k, p.q, p.a_bar, p.p_bar, testing::opt(p.lam0), testing::opt(p.eta0));
}

using testing::Case;

class KlaScanOp : public ::testing::TestWithParam<Case> {};

TEST_P(KlaScanOp, ForwardMatchesReference) {
  const Case c = GetParam();
  const Problem p = random_problem(c.B, c.L, c.M, c.S, 11, c.carried);
  const auto ref = testing::reference(p, random_cotangents(p, 12));
  const auto want = outputs(ref.out);
  for (auto [dtype, tol] : {std::pair{at::kDouble, 1e-10}, std::pair{at::kFloat, 1e-5}}) {
    const auto got = outputs(run_op(p.to(dtype)));
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].scalar_type(), dtype) << output_names[i];
      EXPECT_LE(rel_error(got[i], want[i]), tol) << output_names[i] << " in " << c10::toString(dtype);
    }
  }
}

TEST_P(KlaScanOp, AutogradGradientsMatchReference) {
  const Case c = GetParam();
  const Problem p = random_problem(c.B, c.L, c.M, c.S, 21, c.carried);
  const auto cot = random_cotangents(p, 22);
  const auto ref = testing::reference(p, cot);
  for (auto [dtype, tol] : {std::pair{at::kDouble, 1e-10}, std::pair{at::kFloat, 1e-3}}) {
    std::vector<at::Tensor> cot_t;
    for (const auto& t : cot) cot_t.push_back(t.to(dtype));
    const auto got = autograd_gradients(run_op, p.to(dtype), cot_t);
    ASSERT_EQ(got.size(), ref.grads.size());
    for (std::size_t i = 0; i < got.size(); ++i)
      EXPECT_LE(rel_error(got[i], ref.grads[i]), tol) << "gradient of " << input_names[i] << " in " << c10::toString(dtype);
  }
}

TEST_P(KlaScanOp, RecurrentTorchOpsMatchOp) {
  const Case c = GetParam();
  const Problem p = random_problem(c.B, c.L, c.M, c.S, 31, c.carried);
  const auto cot = random_cotangents(p, 32);
  const auto want = outputs(run_op(p)), got = outputs(run_recurrent(p));
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_LE(rel_error(got[i], want[i]), 1e-12) << output_names[i];
  const auto g_op = autograd_gradients(run_op, p, cot), g_rec = autograd_gradients(run_recurrent, p, cot);
  for (std::size_t i = 0; i < g_op.size(); ++i)
    EXPECT_LE(rel_error(g_rec[i], g_op[i]), 1e-10) << "gradient of " << input_names[i];
}

INSTANTIATE_TEST_SUITE_P(Shapes, KlaScanOp,
                         ::testing::Values(Case{2, 16, 4, 3, false}, Case{3, 37, 7, 5, true}, Case{1, 1, 2, 2, true},
                                           Case{4, 1, 3, 1, false}, Case{1, 64, 1, 8, false}),
                         [](const auto& p) { return testing::case_name(p.param); });

// Central differences (f(x + εd) − f(x − εd)) / 2ε of the loss Σ cot·out along a random direction
// d of each input, against the autograd directional derivative ⟨∇f, d⟩, in fp64.
TEST(KlaScanOpFiniteDifferences, EveryInput) {
  const Problem p = random_problem(2, 9, 3, 4, 41, true);
  const auto cot = random_cotangents(p, 42);
  const auto grads = autograd_gradients(run_op, p, cot);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(43);
  const double eps = 1e-6;
  for (std::size_t i = 0; i < grads.size(); ++i) {
    const auto x = p.inputs();
    const at::Tensor d = at::normal(0, 1, x[i].sizes(), gen, x[i].options());
    auto f = [&](double s) {
      auto xs = x;
      xs[i] = x[i] + s * d;
      return contract(run_op(Problem::from(xs)), cot).item<double>();
    };
    const double fd = (f(eps) - f(-eps)) / (2 * eps);
    const double ad = (grads[i] * d).sum().item<double>();
    EXPECT_NEAR(fd, ad, 1e-6 * (1 + std::abs(ad))) << "input " << input_names[i];
  }
}

TEST(KlaScanOpCarry, ChunksWithCarriedStateEqualWhole) {
  const Problem p = random_problem(2, 23, 3, 4, 51, true);
  const ScanResult whole = run_op(p);
  Problem first = p, second = p;
  first.v = p.v.narrow(1, 0, 10), first.lam_v = p.lam_v.narrow(1, 0, 10);
  first.k = p.k.narrow(1, 0, 10), first.q = p.q.narrow(1, 0, 10);
  const ScanResult a = run_op(first);
  second.v = p.v.narrow(1, 10, 13), second.lam_v = p.lam_v.narrow(1, 10, 13);
  second.k = p.k.narrow(1, 10, 13), second.q = p.q.narrow(1, 10, 13);
  second.lam0 = a.lam_T, second.eta0 = a.eta_T;
  const ScanResult b = run_op(second);
  EXPECT_LE(rel_error(at::cat({a.y, b.y}, 1), whole.y), 1e-13);
  EXPECT_LE(rel_error(at::cat({a.y_var, b.y_var}, 1), whole.y_var), 1e-13);
  EXPECT_LE(rel_error(b.lam_T, whole.lam_T), 1e-13);
  EXPECT_LE(rel_error(b.eta_T, whole.eta_T), 1e-13);
}

TEST(KlaScanOpDtypes, HalfPrecisionInputsAreUpcastToFloat) {
  const Problem p = random_problem(2, 7, 3, 2, 61, false);
  for (auto dtype : {at::kBFloat16, at::kHalf}) {
    const Problem low = p.to(dtype);
    const ScanResult got = run_op(low), want = run_op(low.to(at::kFloat));
    EXPECT_EQ(got.y.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(got.y, want.y)) << c10::toString(dtype);
    EXPECT_TRUE(at::equal(got.y_var, want.y_var)) << c10::toString(dtype);
    // Gradients come back in the inputs' dtype (autograd casts them).
    std::vector<at::Tensor> x;
    for (const auto& t : low.inputs()) x.push_back(t.clone().requires_grad_(true));
    run_op(Problem::from(x)).y.sum().backward();
    EXPECT_EQ(x[0].grad().scalar_type(), dtype);
  }
}

TEST(KlaScanOpDtypes, AnyFp64InputMeansFp64Arithmetic) {
  Problem p = random_problem(1, 5, 2, 2, 71, false).to(at::kFloat);
  p.a_bar = p.a_bar.to(at::kDouble);
  EXPECT_EQ(run_op(p).y.scalar_type(), at::kDouble);
}

// Runs f and returns the kla::Error message it throws ("" if none).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(KlaScanOpErrors, NameTheTensorAndItsShape) {
  const Problem p = random_problem(2, 5, 3, 4, 81, true);
  Problem bad = p;
  bad.k = p.k.narrow(2, 0, 3);  // S from k = 3 disagrees with q, a_bar, p_bar
  std::string msg = error_of([&] { run_op(bad); });
  EXPECT_NE(msg.find("q has shape [2, 5, 4]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[B, L, S] = [2, 5, 3]"), std::string::npos) << msg;
  bad = p;
  bad.eta0 = p.eta0.narrow(0, 0, 1);
  msg = error_of([&] { run_op(bad); });
  EXPECT_NE(msg.find("eta0 has shape [1, 3, 4]"), std::string::npos) << msg;
  bad = p;
  bad.v = p.v.to(at::kLong);
  msg = error_of([&] { run_op(bad); });
  EXPECT_NE(msg.find("v has dtype Long"), std::string::npos) << msg;
  bad = p;
  bad.v = p.v.flatten();
  msg = error_of([&] { run_op(bad); });
  EXPECT_NE(msg.find("expected [B, L, M]"), std::string::npos) << msg;
}

TEST(KlaScanOpErrors, ValuesOutsideTheirDomain) {
  Problem p = random_problem(1, 4, 2, 2, 91, false);
  p.a_bar = p.a_bar.clone();
  p.a_bar[1][0] = 1.5;
  EXPECT_NE(error_of([&] { run_op(p); }).find("a_bar"), std::string::npos);
  p = random_problem(1, 4, 2, 2, 91, false);
  p.lam_v = -p.lam_v;
  EXPECT_NE(error_of([&] { run_op(p); }).find("lam_v"), std::string::npos);
}

TEST(KlaScanOpErrors, DoubleBackwardIsRefused) {
  const Problem p = random_problem(1, 4, 2, 2, 101, false);
  std::vector<at::Tensor> x;
  for (const auto& t : p.inputs()) x.push_back(t.clone().requires_grad_(true));
  const at::Tensor loss = run_op(Problem::from(x)).y.pow(2).sum();
  EXPECT_NE(error_of([&] { torch::autograd::grad({loss}, {x[0]}, {}, true, /*create_graph=*/true); })
                .find("not differentiable"),
            std::string::npos);
}

TEST(KlaScanOpRegistration, OpIsInTheDispatcherWithACpuKernel) {
  const auto schema = c10::Dispatcher::singleton().findSchema({"kalmanscan::kla_scan", ""});
  ASSERT_TRUE(schema.has_value());
  EXPECT_TRUE(kla_scan_has_kernel(c10::Device(c10::kCPU)));
  // A call by name through the dispatcher, as Python's torch.ops.kalmanscan.kla_scan makes it.
  const Problem p = random_problem(1, 3, 2, 2, 111, false);
  auto op = schema->typed<std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>(
      const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
      const at::Tensor&, const c10::optional<at::Tensor>&, const c10::optional<at::Tensor>&)>();
  const auto [y, y_var, lam_T, eta_T] = op.call(p.v, p.lam_v, p.k, p.q, p.a_bar, p.p_bar, c10::nullopt, c10::nullopt);
  EXPECT_LE(rel_error(y, testing::reference(p, random_cotangents(p, 1)).out.y), 1e-12);
}

}  // namespace
}  // namespace kalmanscan::kla::nn
