// The CPU kernels (kla.hpp) against the fp64 reference and the published fixtures, over scalar
// type × time split × awkward shapes; chunked streaming against whole sequences; extreme inputs.
#include <gtest/gtest.h>

#include <map>

#include "kalmanscan/kla/kla.hpp"
#include "kalmanscan/kla/reference.hpp"
#include "random_problem.hpp"

namespace kalmanscan::kla::testing {
namespace {

// Accuracy contract of the issue, per tensor and normwise.
template <class T>
struct Tolerance;
template <>
struct Tolerance<double> {
  static constexpr double outputs = 1e-10, gradients = 1e-10;
};
template <>
struct Tolerance<float> {
  static constexpr double outputs = 1e-5, gradients = 1e-3;
};

struct Expected {
  std::map<std::string, std::vector<double>> tensors;  ///< "out_y", …, "grad_eta0"
};

Expected reference(const OwnedInputs<double>& in, const OwnedCotangents<double>& cot) {
  OwnedOutputs<double> out(in.shape);
  reference_forward(in.view(), out.view());
  OwnedGradients<double> g(in.shape);
  reference_backward(in.view(), cot.view(), g.view());
  return {{{"out_y", out.y}, {"out_y_var", out.y_var}, {"out_lam_T", out.lam_T}, {"out_eta_T", out.eta_T},
           {"grad_v", g.v}, {"grad_lam_v", g.lam_v}, {"grad_k", g.k}, {"grad_q", g.q}, {"grad_a_bar", g.a_bar},
           {"grad_p_bar", g.p_bar}, {"grad_lam0", g.lam0}, {"grad_eta0", g.eta0}}};
}

// Runs the kernel in T on the problem and compares every tensor in `expected` normwise.
template <class T>
void check_kernel(const OwnedInputs<double>& in64, const OwnedCotangents<double>& cot64, const Expected& expected,
                  const Options& options, const std::string& what) {
  const OwnedInputs<T> in = in64.template cast<T>();
  const OwnedCotangents<T> cot = cot64.template cast<T>();
  OwnedOutputs<T> out(in.shape);
  forward(in.view(), out.view(), options);
  OwnedGradients<T> g(in.shape);
  backward(in.view(), cot.view(), g.view(), options);
  const std::map<std::string, const std::vector<T>*> got = {
      {"out_y", &out.y},       {"out_y_var", &out.y_var}, {"out_lam_T", &out.lam_T}, {"out_eta_T", &out.eta_T},
      {"grad_v", &g.v},        {"grad_lam_v", &g.lam_v},  {"grad_k", &g.k},          {"grad_q", &g.q},
      {"grad_a_bar", &g.a_bar}, {"grad_p_bar", &g.p_bar}, {"grad_lam0", &g.lam0},    {"grad_eta0", &g.eta0}};
  for (const auto& [name, ref] : expected.tensors) {
    const double tol = name.rfind("out_", 0) == 0 ? Tolerance<T>::outputs : Tolerance<T>::gradients;
    const std::vector<T>& x = *got.at(name);
    ASSERT_EQ(x.size(), ref.size()) << what << ": " << name;
    EXPECT_TRUE(all_finite<T>(x)) << what << ": " << name;
    EXPECT_LE(rel_error<T>(ref, x), tol) << what << ": " << name;
  }
}

template <class T>
class Kernel : public ::testing::Test {};
using ScalarTypes = ::testing::Types<float, double>;
class ScalarNames {
 public:
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, float> ? "fp32" : "fp64";
  }
};
TYPED_TEST_SUITE(Kernel, ScalarTypes, ScalarNames);

constexpr TimeSplit both_splits[] = {TimeSplit::never, TimeSplit::always};
const char* name(TimeSplit t) { return t == TimeSplit::never ? "steps" : "time-parallel"; }

TYPED_TEST(Kernel, MatchesPublishedFixtures) {
  for (const char* file : {"single_step.txt", "small.txt", "odd_shapes.txt", "near_linear.txt", "extreme.txt"}) {
    const FixtureProblem p = fixture_problem(file);
    Expected e{p.expected};
    for (TimeSplit split : both_splits)
      check_kernel<TypeParam>(p.in, p.cot, e, {.threads = 2, .time_split = split},
                              std::string(file) + " " + name(split));
  }
}

TYPED_TEST(Kernel, MatchesReferenceOnAwkwardShapes) {
  // Sizes around the tile of 8 slots and the checkpoint interval, primes, one token, one slot.
  const Shape shapes[] = {{1, 1, 1, 1}, {2, 1, 3, 8}, {3, 2, 1, 9}, {1, 17, 5, 7}, {2, 31, 3, 16}, {4, 64, 2, 1},
                          {1, 101, 2, 17}};
  std::uint64_t seed = 100;
  for (const Shape& s : shapes) {
    seed += 2;
    const OwnedInputs<double> in = random_inputs(s, seed, seed % 4 == 0);
    const OwnedCotangents<double> cot = random_cotangents(s, seed + 1);
    const Expected e = reference(in, cot);
    for (TimeSplit split : both_splits)
      for (unsigned threads : {1u, 3u})
        check_kernel<TypeParam>(in, cot, e, {.threads = threads, .time_split = split},
                                s.to_string() + " " + name(split) + " threads " + std::to_string(threads));
  }
}

TYPED_TEST(Kernel, EmptySequenceReturnsTheCarriedState) {
  const Shape s{2, 0, 3, 4};
  const OwnedInputs<double> in = random_inputs(s, 7, true);
  const OwnedCotangents<double> cot = random_cotangents(s, 8);
  const Expected e = reference(in, cot);
  EXPECT_EQ(e.tensors.at("out_lam_T"), in.lam0);
  EXPECT_EQ(e.tensors.at("grad_lam0"), cot.lam_T);
  for (TimeSplit split : both_splits) check_kernel<TypeParam>(in, cot, e, {.time_split = split}, name(split));
}

TYPED_TEST(Kernel, LongSequenceSplitAcrossThreads) {
  // Long enough for the engine's threaded backend to split the time axis (not just run it).
  const Shape s{1, 20011, 1, 3};
  const OwnedInputs<double> in = random_inputs(s, 9, true);
  const OwnedCotangents<double> cot = random_cotangents(s, 10);
  const Expected e = reference(in, cot);
  for (TimeSplit split : both_splits)
    check_kernel<TypeParam>(in, cot, e, {.threads = 3, .time_split = split}, name(split));
}

TYPED_TEST(Kernel, CheckpointIntervalDoesNotChangeGradients) {
  const Shape s{2, 23, 3, 5};
  const OwnedInputs<TypeParam> in = random_inputs(s, 13, true).template cast<TypeParam>();
  const OwnedCotangents<TypeParam> cot = random_cotangents(s, 14).template cast<TypeParam>();
  OwnedGradients<TypeParam> base(s);
  backward(in.view(), cot.view(), base.view(), {.threads = 2, .time_split = TimeSplit::never, .checkpoint_interval = 1});
  for (std::size_t K : {2, 5, 23, 40}) {
    OwnedGradients<TypeParam> g(s);
    backward(in.view(), cot.view(), g.view(), {.threads = 2, .time_split = TimeSplit::never, .checkpoint_interval = K});
    // Same operations in the same order, whatever the interval: bit for bit.
    EXPECT_EQ(g.v, base.v) << K;
    EXPECT_EQ(g.lam_v, base.lam_v) << K;
    EXPECT_EQ(g.k, base.k) << K;
    EXPECT_EQ(g.q, base.q) << K;
    EXPECT_EQ(g.a_bar, base.a_bar) << K;
    EXPECT_EQ(g.p_bar, base.p_bar) << K;
    EXPECT_EQ(g.lam0, base.lam0) << K;
    EXPECT_EQ(g.eta0, base.eta0) << K;
  }
}

TYPED_TEST(Kernel, ExtremeInputsStayFinite) {
  using T = TypeParam;
  const Shape s{1, 3000, 2, 4};
  struct Case {
    const char* what;
    InputRanges r;
    double lam_v_scale;
  };
  const Case cases[] = {
      {"huge precision Λv = 1e25", {}, 1e25},
      {"tiny precision Λv = 1e-25", {}, 1e-25},
      {"ā → 1, p̄ at its floor", {.a_lo = 1 - 1e-7, .a_hi = 1.0, .p_lo = 0.0, .p_hi = 1e-12}, 1.0},
      {"ā → 0", {.a_lo = 1e-6, .a_hi = 1e-5}, 1.0},
  };
  for (const Case& c : cases) {
    OwnedInputs<double> in64 = random_inputs(s, 17, true, c.r);
    for (double& x : in64.lam_v) x *= c.lam_v_scale;
    const OwnedInputs<T> in = in64.template cast<T>();
    const OwnedCotangents<T> cot = random_cotangents(s, 18).template cast<T>();
    for (TimeSplit split : both_splits) {
      OwnedOutputs<T> out(s);
      forward(in.view(), out.view(), {.time_split = split});
      OwnedGradients<T> g(s);
      backward(in.view(), cot.view(), g.view(), {.time_split = split});
      for (const std::vector<T>* x : {&out.y, &out.y_var, &out.lam_T, &out.eta_T, &g.v, &g.lam_v, &g.k, &g.q, &g.a_bar,
                                      &g.p_bar, &g.lam0, &g.eta0})
        EXPECT_TRUE(all_finite<T>(*x)) << c.what << " " << name(split);
    }
  }
}

TYPED_TEST(Kernel, RejectsBadInputNamingTheTensor) {
  const Shape s{1, 4, 2, 3};
  OwnedInputs<TypeParam> in = random_inputs(s, 19, false).template cast<TypeParam>();
  OwnedOutputs<TypeParam> out(s);
  out.y_var.pop_back();
  try {
    forward(in.view(), out.view());
    FAIL() << "short y_var accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("y_var"), std::string::npos) << e.what();
  }
  OwnedOutputs<TypeParam> ok(s);
  in.p_bar[2] = -1;
  EXPECT_THROW(forward(in.view(), ok.view()), Error);
}

}  // namespace
}  // namespace kalmanscan::kla::testing
