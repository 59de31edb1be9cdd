// The CUDA kernels (both kinds, wide and split, whatever the shape) against the fp64 reference
// (and the fp64 CPU kernel for long sequences) with the fp32 tolerances of the CPU tests; the
// published fixtures; extreme inputs; the backward's scratch bound. Every test skips, saying so,
// without a CUDA device.
#include <gtest/gtest.h>

#include "kalmanscan/kla/cuda.hpp"
#include "kalmanscan/kla/kla.hpp"
#include "kalmanscan/kla/reference.hpp"
#include "kalmanscan/scan/gpu.hpp"
#include "random_problem.hpp"

namespace kalmanscan::kla::testing {
namespace {

#define SKIP_WITHOUT_GPU()                                                     \
  if (kalmanscan::scan::gpu::device_count() == 0) GTEST_SKIP() << "no CUDA device: CUDA kernels not run"

constexpr double output_tol = 1e-5, gradient_tol = 1e-3;

using Tensors = std::map<std::string, std::vector<double>>;

// fp64 outputs and gradients: the step-by-step reference for small problems, the fp64 CPU
// kernel (itself checked against the reference to 1e-10) for long ones.
Tensors expected(const OwnedInputs<double>& in, const OwnedCotangents<double>& cot) {
  const bool small = in.shape.B * in.shape.L * in.shape.M * in.shape.S <= (1u << 18);
  OwnedOutputs<double> out(in.shape);
  OwnedGradients<double> g(in.shape);
  if (small) {
    reference_forward(in.view(), out.view());
    reference_backward(in.view(), cot.view(), g.view());
  } else {
    forward(in.view(), out.view());
    backward(in.view(), cot.view(), g.view());
  }
  return {{"out_y", out.y},         {"out_y_var", out.y_var},     {"out_lam_T", out.lam_T},
          {"out_eta_T", out.eta_T}, {"grad_v", g.v},              {"grad_lam_v", g.lam_v},
          {"grad_k", g.k},          {"grad_q", g.q},              {"grad_a_bar", g.a_bar},
          {"grad_p_bar", g.p_bar},  {"grad_lam0", g.lam0},        {"grad_eta0", g.eta0}};
}

// wide_previous (the previous wide backward) is tested until the measurement that picks one of the two.
constexpr cuda::Kernels kernel_kinds[] = {cuda::Kernels::wide, cuda::Kernels::split, cuda::Kernels::wide_previous};

const char* name(cuda::Kernels k) {
  switch (k) {
    case cuda::Kernels::wide: return " (wide)";
    case cuda::Kernels::split: return " (split)";
    case cuda::Kernels::wide_previous: return " (wide_previous)";
    default: return " (automatic)";
  }
}

void check_cuda(const OwnedInputs<double>& in64, const OwnedCotangents<double>& cot64, const Tensors& want,
                const std::string& shape, cuda::Kernels kernels) {
  const std::string what = shape + name(kernels);
  const OwnedInputs<float> in = in64.cast<float>();
  const OwnedCotangents<float> cot = cot64.cast<float>();
  OwnedOutputs<float> out(in.shape);
  OwnedGradients<float> g(in.shape);
  const scan::Status fs = cuda::forward_host(in.view(), out.view(), kernels);
  ASSERT_TRUE(fs.ok()) << what << ": " << fs.message;
  const scan::Status bs = cuda::backward_host(in.view(), cot.view(), g.view(), kernels);
  ASSERT_TRUE(bs.ok()) << what << ": " << bs.message;
  const std::map<std::string, const std::vector<float>*> got = {
      {"out_y", &out.y},        {"out_y_var", &out.y_var}, {"out_lam_T", &out.lam_T}, {"out_eta_T", &out.eta_T},
      {"grad_v", &g.v},         {"grad_lam_v", &g.lam_v},  {"grad_k", &g.k},          {"grad_q", &g.q},
      {"grad_a_bar", &g.a_bar}, {"grad_p_bar", &g.p_bar},  {"grad_lam0", &g.lam0},    {"grad_eta0", &g.eta0}};
  for (const auto& [name, ref] : want) {
    const double tol = name.rfind("out_", 0) == 0 ? output_tol : gradient_tol;
    EXPECT_TRUE(all_finite<float>(*got.at(name))) << what << ": " << name;
    EXPECT_LE(rel_error<float>(ref, *got.at(name)), tol) << what << ": " << name;
  }
}

TEST(Cuda, MatchesPublishedFixtures) {
  SKIP_WITHOUT_GPU();
  for (const char* file : {"single_step.txt", "small.txt", "odd_shapes.txt", "near_linear.txt", "extreme.txt"}) {
    const FixtureProblem p = fixture_problem(file);
    for (cuda::Kernels k : kernel_kinds) check_cuda(p.in, p.cot, p.expected, file, k);
  }
}

TEST(Cuda, MatchesReferenceOnAwkwardShapes) {
  SKIP_WITHOUT_GPU();
  // S around the lane widths (1, 17, 33, 64, 100, 128), M not a multiple of the channel tile,
  // L around the rounds (8, 16, 32 tokens) and checkpoint spans (128, 512 tokens), empty, one
  // token and primes.
  const Shape shapes[] = {{2, 0, 3, 5},   {3, 1, 5, 1},    {2, 31, 9, 17},  {1, 33, 130, 16},
                          {2, 513, 7, 33}, {1, 600, 3, 64}, {2, 97, 2, 100}, {1, 1100, 2, 128},
                          {4, 64, 257, 2}};
  std::uint64_t seed = 300;
  for (const Shape& s : shapes) {
    seed += 2;
    const OwnedInputs<double> in = random_inputs(s, seed, seed % 4 == 2);
    const OwnedCotangents<double> cot = random_cotangents(s, seed + 1);
    const Tensors want = expected(in, cot);
    for (cuda::Kernels k : kernel_kinds) check_cuda(in, cot, want, s.to_string(), k);
  }
}

TEST(Cuda, LongSequenceMatchesCpu) {
  SKIP_WITHOUT_GPU();
  const Shape s{1, 20011, 4, 16};
  const OwnedInputs<double> in = random_inputs(s, 401, true);
  const OwnedCotangents<double> cot = random_cotangents(s, 402);
  const Tensors want = expected(in, cot);
  for (cuda::Kernels k : kernel_kinds) check_cuda(in, cot, want, s.to_string(), k);
}

TEST(Cuda, ExtremeInputsStayFinite) {
  SKIP_WITHOUT_GPU();
  const Shape s{1, 3000, 3, 16};
  struct Case {
    const char* what;
    InputRanges r;
    double lam_v_scale;
  };
  const Case cases[] = {{"huge precision Λv = 1e25", {}, 1e25},
                        {"tiny precision Λv = 1e-25", {}, 1e-25},
                        {"ā → 1, p̄ at its floor", {.a_lo = 1 - 1e-7, .a_hi = 1.0, .p_lo = 0.0, .p_hi = 1e-12}, 1.0},
                        {"ā → 0", {.a_lo = 1e-6, .a_hi = 1e-5}, 1.0}};
  for (const Case& c : cases) {
    OwnedInputs<double> in64 = random_inputs(s, 403, true, c.r);
    for (double& x : in64.lam_v) x *= c.lam_v_scale;
    const OwnedInputs<float> in = in64.cast<float>();
    const OwnedCotangents<float> cot = random_cotangents(s, 404).cast<float>();
    for (cuda::Kernels k : kernel_kinds) {
      OwnedOutputs<float> out(s);
      OwnedGradients<float> g(s);
      ASSERT_TRUE(cuda::forward_host(in.view(), out.view(), k).ok()) << c.what << name(k);
      ASSERT_TRUE(cuda::backward_host(in.view(), cot.view(), g.view(), k).ok()) << c.what << name(k);
      for (const std::vector<float>* x : {&out.y, &out.y_var, &out.lam_T, &out.eta_T, &g.v, &g.lam_v, &g.k, &g.q,
                                          &g.a_bar, &g.p_bar, &g.lam0, &g.eta0})
        EXPECT_TRUE(all_finite<float>(*x)) << c.what << name(k);
    }
  }
}

// The backward's only device memory besides the tensors is its scratch; at the long shape
// it must stay far below one [B, L, M, S] float tensor (4 GiB), whichever kernels run.
TEST(Cuda, BackwardScratchIsFarBelowOneStateTensor) {
  SKIP_WITHOUT_GPU();
  for (const Shape& s : {Shape{1, 65536, 1024, 16}, Shape{8, 2048, 1024, 16}, Shape{8, 2048, 1024, 64}}) {
    const double state_tensor = double(s.B) * double(s.L) * double(s.M) * double(s.S) * sizeof(float);
    for (cuda::Kernels k : {cuda::Kernels::automatic, cuda::Kernels::wide, cuda::Kernels::split})
      EXPECT_LT(double(cuda::backward_scratch_bytes(s, k)), state_tensor / 16) << s.to_string() << name(k);
  }
}

TEST(Cuda, RejectsUnsupportedSlotsAndShortScratch) {
  const Shape big{1, 4, 2, 129};
  const OwnedInputs<float> in = random_inputs(big, 405, false).cast<float>();
  OwnedOutputs<float> out(big);
  if (kalmanscan::scan::gpu::device_count() == 0) {
    EXPECT_FALSE(cuda::forward_host(in.view(), out.view()).ok());  // says why instead of crashing
    GTEST_SKIP() << "no CUDA device: only the no-device answer was checked";
  }
  EXPECT_THROW(cuda::forward_host(in.view(), out.view()), Error);
  const Shape s{1, 40, 2, 3};
  EXPECT_GT(cuda::backward_scratch_bytes(s), 0u);
  const OwnedInputs<float> ok = random_inputs(s, 406, false).cast<float>();
  OwnedGradients<float> g(s);
  EXPECT_THROW(cuda::backward(ok.view(), {}, g.view(), nullptr, 0, nullptr), Error);
}

}  // namespace
}  // namespace kalmanscan::kla::testing
