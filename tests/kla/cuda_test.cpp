// The CUDA kernels (both kinds, wide and split, whatever the shape; the wide backward from its own
// checkpoints and from states saved by the forward at several spacings) against the fp64
// reference (and the fp64 CPU kernel for long sequences) with the fp32 tolerances of the CPU
// tests; the published fixtures; extreme inputs; the bounds on the backward's scratch and the
// saved states. Every test skips, saying so, without a CUDA device.
#include <gtest/gtest.h>

#include <utility>

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

// How a check runs the kernels: separate forward and backward calls (the backward sweeps its own
// checkpoints), or, with a spacing ≥ 0, forward_backward_host, whose backward starts from the
// states the forward saved every `spacing` tokens (0: default_spacing, 128 tokens or less for short
// sequences; 8: one backward round, no span recompute at S ≤ 32; 16: spans of two rounds; 128: 16 or
// 32 rounds; 256: spans of 32 or 64 rounds, longer than the backward's own 16).
struct Variant {
  cuda::Kernels kernels;
  int spacing = -1;  ///< < 0: separate calls, no saved states
};
constexpr Variant variants[] = {{cuda::Kernels::wide},      {cuda::Kernels::split},         {cuda::Kernels::wide, 0},
                                {cuda::Kernels::wide, 8},   {cuda::Kernels::wide, 16},      {cuda::Kernels::wide, 128},
                                {cuda::Kernels::wide, 256}, {cuda::Kernels::automatic, 0}, {cuda::Kernels::split, 0}};

std::string name(const Variant& v) {
  const char* k = v.kernels == cuda::Kernels::wide    ? "wide"
                  : v.kernels == cuda::Kernels::split ? "split"
                                                      : "automatic";
  return std::string(" (") + k + (v.spacing < 0 ? "" : ", saved states every " + std::to_string(v.spacing)) + ")";
}

scan::Status run_cuda(const OwnedInputs<float>& in, const OwnedCotangents<float>& cot, OwnedOutputs<float>& out,
                      OwnedGradients<float>& g, const Variant& v) {
  if (v.spacing >= 0) return cuda::forward_backward_host(in.view(), out.view(), cot.view(), g.view(), v.kernels, v.spacing);
  if (scan::Status fs = cuda::forward_host(in.view(), out.view(), v.kernels); !fs.ok()) return fs;
  return cuda::backward_host(in.view(), cot.view(), g.view(), v.kernels);
}

void check_cuda(const OwnedInputs<double>& in64, const OwnedCotangents<double>& cot64, const Tensors& want,
                const std::string& shape, const Variant& variant) {
  const std::string what = shape + name(variant);
  const OwnedInputs<float> in = in64.cast<float>();
  const OwnedCotangents<float> cot = cot64.cast<float>();
  OwnedOutputs<float> out(in.shape);
  OwnedGradients<float> g(in.shape);
  const scan::Status st = run_cuda(in, cot, out, g, variant);
  ASSERT_TRUE(st.ok()) << what << ": " << st.message;
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
    for (const Variant& k : variants) check_cuda(p.in, p.cot, p.expected, file, k);
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
    for (const Variant& k : variants) check_cuda(in, cot, want, s.to_string(), k);
  }
}

TEST(Cuda, LongSequenceMatchesCpu) {
  SKIP_WITHOUT_GPU();
  const Shape s{1, 20011, 4, 16};
  const OwnedInputs<double> in = random_inputs(s, 401, true);
  const OwnedCotangents<double> cot = random_cotangents(s, 402);
  const Tensors want = expected(in, cot);
  for (const Variant& k : variants) check_cuda(in, cot, want, s.to_string(), k);
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
    for (const Variant& k : variants) {
      OwnedOutputs<float> out(s);
      OwnedGradients<float> g(s);
      ASSERT_TRUE(run_cuda(in, cot, out, g, k).ok()) << c.what << name(k);
      for (const std::vector<float>* x : {&out.y, &out.y_var, &out.lam_T, &out.eta_T, &g.v, &g.lam_v, &g.k, &g.q,
                                          &g.a_bar, &g.p_bar, &g.lam0, &g.eta0})
        EXPECT_TRUE(all_finite<float>(*x)) << c.what << name(k);
    }
  }
}

// The backward's only device memory besides the tensors is its scratch and the states the forward
// saved; at the long shape they must stay far below one [B, L, M, S] float tensor (4 GiB),
// whichever kernels run.
TEST(Cuda, BackwardScratchIsFarBelowOneStateTensor) {
  SKIP_WITHOUT_GPU();
  for (const Shape& s : {Shape{1, 65536, 1024, 16}, Shape{8, 2048, 1024, 16}, Shape{8, 2048, 1024, 64}}) {
    const double state_tensor = double(s.B) * double(s.L) * double(s.M) * double(s.S) * sizeof(float);
    const double sequence_tensor = double(s.B) * double(s.L) * double(s.M) * sizeof(float);  // one [B, L, M]
    for (cuda::Kernels k : {cuda::Kernels::automatic, cuda::Kernels::wide, cuda::Kernels::split}) {
      const Variant v{k};
      EXPECT_LT(double(cuda::backward_scratch_bytes(s, k)), state_tensor / 16) << s.to_string() << name(v);
      EXPECT_LE(double(cuda::backward_scratch_bytes(s, k, true)), double(cuda::backward_scratch_bytes(s, k)))
          << s.to_string() << name(v);
      // At the default spacing, at most four [B, L, M] tensors (these shapes fill whole tiles).
      EXPECT_LE(double(cuda::saved_states_bytes(s, k)), 4 * sequence_tensor) << s.to_string() << name(v);
    }
    // The automatic kernels at the long shape are the split ones, which save nothing.
    if (s.B == 1) {
      EXPECT_EQ(cuda::saved_states_bytes(s), 0u);
    }
    EXPECT_EQ(cuda::saved_states_bytes(s, cuda::Kernels::split), 0u);
  }
  // Every slot's λ and η before every spacing-th token (S a power of two, M a multiple of the tile).
  const Shape s{8, 2048, 1024, 16};
  for (int spacing : {8, 64, 256})
    EXPECT_EQ(cuda::saved_states_bytes(s, cuda::Kernels::wide, spacing),
              s.B * (s.L / std::size_t(spacing)) * s.M * s.S * 2 * sizeof(float))
        << "spacing " << spacing;
  // The default: 128 tokens, or L rounded up to a power of two (at least 8) when shorter.
  EXPECT_EQ(cuda::saved_states_bytes(s, cuda::Kernels::wide), cuda::saved_states_bytes(s, cuda::Kernels::wide, 128));
  for (const auto& [L, spacing] : {std::pair<std::size_t, int>{0, 8}, {1, 8}, {8, 8}, {9, 16}, {33, 64}, {128, 128},
                                   {129, 128}, {65536, 128}})
    EXPECT_EQ(cuda::default_spacing(L), spacing) << "L = " << L;
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
  for (int spacing : {4, 12, 512}) EXPECT_THROW(cuda::saved_states_bytes(s, cuda::Kernels::wide, spacing), Error);
  // A saved-states buffer shorter than saved_states_bytes is refused before any launch.
  OwnedOutputs<float> o(s);
  const std::size_t need = cuda::saved_states_bytes(s, cuda::Kernels::wide);
  ASSERT_GT(need, 0u);
  int dummy = 0;  // never dereferenced: the size check comes first
  const cuda::SavedStates short_saved{&dummy, need - 1};
  EXPECT_THROW(cuda::forward(ok.view(), o.view(), nullptr, cuda::Kernels::wide, short_saved), Error);
  EXPECT_THROW(cuda::backward(ok.view(), {}, g.view(), nullptr, 0, nullptr, cuda::Kernels::wide, short_saved), Error);
}

}  // namespace
}  // namespace kalmanscan::kla::testing
