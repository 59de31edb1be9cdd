// The kalmanscan::kla_scan op's CUDA kernels (issue 5 §4: "CUDA equals CPU on the H200 with the same
// tolerances"): outputs and the gradients of all eight inputs, computed in fp32 on the GPU, against
// the fp64 step-by-step reference of kalmanscan_kla; half-precision inputs against the CPU kernel on
// the same upcast inputs; carries; errors; and the KLA mixer on the GPU against the same mixer on the
// CPU in fp64. Every test skips where there is no GPU or the library has no CUDA kernel.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "kalmanscan/kla/error.hpp"
#include "kalmanscan/kla/torch/mixers.hpp"
#include "kalmanscan/kla/torch/op.hpp"
#include "support.hpp"

namespace kalmanscan::kla::nn {
namespace {

using testing::autograd_gradients;
using testing::input_names;
using testing::output_names;
using testing::outputs;
using testing::Problem;
using testing::random_cotangents;
using testing::random_problem;
using testing::rel_error;
using testing::run_op;

const c10::Device gpu(c10::kCUDA, 0);

#define SKIP_WITHOUT_CUDA_KERNEL()                                                           \
  do {                                                                                       \
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";                      \
    if (!kla_scan_has_kernel(gpu)) GTEST_SKIP() << "kalmanscan_torch built without CUDA"; \
  } while (0)

using testing::Case;

class KlaScanOpCuda : public ::testing::TestWithParam<Case> {};

// fp32 on the GPU against the fp64 reference: outputs ≤ 1e-5, gradients ≤ 1e-3 normwise (issue 5 §4).
TEST_P(KlaScanOpCuda, ForwardAndGradientsMatchFp64Reference) {
  SKIP_WITHOUT_CUDA_KERNEL();
  const Case c = GetParam();
  const Problem p = random_problem(c.B, c.L, c.M, c.S, 211, c.carried);
  const auto cot = random_cotangents(p, 212);
  const auto ref = testing::reference(p, cot);
  const Problem pg = p.to(gpu, at::kFloat);
  const auto got = outputs(run_op(pg));
  const auto want = outputs(ref.out);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(got[i].is_cuda()) << output_names[i];
    EXPECT_EQ(got[i].scalar_type(), at::kFloat) << output_names[i];
    EXPECT_LE(rel_error(got[i].cpu(), want[i]), 1e-5) << output_names[i];
  }
  std::vector<at::Tensor> cot_g;
  for (const auto& t : cot) cot_g.push_back(t.to(gpu, at::kFloat));
  const auto grads = autograd_gradients(run_op, pg, cot_g);
  ASSERT_EQ(grads.size(), ref.grads.size());
  for (std::size_t i = 0; i < grads.size(); ++i) {
    EXPECT_TRUE(grads[i].is_cuda()) << input_names[i];
    EXPECT_LE(rel_error(grads[i].cpu(), ref.grads[i]), 1e-3) << "gradient of " << input_names[i];
  }
}

// L = 1, primes, a tile-sized L ± 1, S from 1 to 128 (the kernels' documented maximum).
INSTANTIATE_TEST_SUITE_P(Shapes, KlaScanOpCuda,
                         ::testing::Values(Case{1, 1, 2, 2, false}, Case{2, 1, 3, 5, true}, Case{3, 37, 7, 5, true},
                                           Case{2, 255, 16, 16, false}, Case{2, 257, 16, 16, true},
                                           Case{1, 1031, 33, 1, false}, Case{2, 64, 4, 128, true},
                                           Case{1, 4099, 8, 16, true}),
                         [](const auto& p) { return testing::case_name(p.param); });

TEST(KlaScanOpCudaDtypes, HalfPrecisionInputsGiveTheCpuResultOnTheSameInputs) {
  SKIP_WITHOUT_CUDA_KERNEL();
  const Problem p = random_problem(2, 29, 6, 8, 221, true);
  for (auto dtype : {at::kBFloat16, at::kHalf}) {
    const Problem low = p.to(dtype);
    const auto want = outputs(run_op(low.to(at::kDouble)));  // the same rounded inputs, fp64 on the CPU
    const auto got = outputs(run_op(low.to(gpu, dtype)));
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].scalar_type(), at::kFloat) << output_names[i];
      EXPECT_LE(rel_error(got[i].cpu(), want[i]), 1e-5) << output_names[i] << " from " << c10::toString(dtype);
    }
  }
}

TEST(KlaScanOpCudaCarry, ChunksWithCarriedStateEqualWhole) {
  SKIP_WITHOUT_CUDA_KERNEL();
  const Problem p = random_problem(2, 300, 5, 16, 231, true).to(gpu, at::kFloat);
  const ScanResult whole = run_op(p);
  Problem first = p, second = p;
  const int64_t cut = 131;
  for (auto [dst, src] : {std::pair{&first, 0}, std::pair{&second, 1}}) {
    const int64_t start = src ? cut : 0, len = src ? p.v.size(1) - cut : cut;
    dst->v = p.v.narrow(1, start, len), dst->lam_v = p.lam_v.narrow(1, start, len);
    dst->k = p.k.narrow(1, start, len), dst->q = p.q.narrow(1, start, len);
  }
  const ScanResult a = run_op(first);
  second.lam0 = a.lam_T, second.eta0 = a.eta_T;
  const ScanResult b = run_op(second);
  // fp32 on both sides, different association of the same products: a few ulps.
  EXPECT_LE(rel_error(at::cat({a.y, b.y}, 1).cpu(), whole.y.cpu()), 1e-5);
  EXPECT_LE(rel_error(at::cat({a.y_var, b.y_var}, 1).cpu(), whole.y_var.cpu()), 1e-5);
  EXPECT_LE(rel_error(b.lam_T.cpu(), whole.lam_T.cpu()), 1e-5);
  EXPECT_LE(rel_error(b.eta_T.cpu(), whole.eta_T.cpu()), 1e-5);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const c10::Error& e) {
    return e.what();
  }
  return "";
}

TEST(KlaScanOpCudaErrors, Fp64AndMixedDevicesAreRefusedByName) {
  SKIP_WITHOUT_CUDA_KERNEL();
  const Problem p = random_problem(1, 4, 2, 2, 241, false);
  EXPECT_NE(error_of([&] { run_op(p.to(gpu, at::kDouble)); }).find("fp32"), std::string::npos);
  Problem mixed = p.to(gpu, at::kFloat);
  mixed.q = mixed.q.cpu();
  EXPECT_NE(error_of([&] { run_op(mixed); }).find("q"), std::string::npos);
  Problem wide = random_problem(1, 4, 2, 129, 242, false).to(gpu, at::kFloat);
  EXPECT_NE(error_of([&] { run_op(wide); }).find("at most"), std::string::npos);
}

// The KLA mixer (projections, conv, OU discretisation, the op, gate) on the GPU in fp32 against the
// same parameters on the CPU in fp64: the output and every parameter gradient.
TEST(KlaMixerCuda, MatchesTheCpuMixerInFp64) {
  SKIP_WITHOUT_CUDA_KERNEL();
  for (auto kind : {MixerKind::kla, MixerKind::linear}) {
    MixerOptions o;
    o.kind = kind, o.d_model = 32, o.heads = 2, o.state_size = 16, o.scan = ScanImpl::op;
    torch::manual_seed(7);
    auto cpu = make_mixer(o);
    torch::manual_seed(7);
    auto cuda = make_mixer(o);
    cpu->to(at::kDouble);
    cuda->to(gpu);
    const at::Tensor x = torch::randn({3, 41, 32}, torch::dtype(at::kDouble));
    const at::Tensor y_cpu = cpu->forward(x), y_gpu = cuda->forward(x.to(gpu, at::kFloat));
    EXPECT_LE(rel_error(y_gpu.cpu(), y_cpu), 1e-5) << mixer_name(kind);
    const at::Tensor w = torch::randn_like(y_cpu);
    (y_cpu * w).sum().backward();
    (y_gpu * w.to(gpu, at::kFloat)).sum().backward();
    const auto pc = cpu->named_parameters(), pg = cuda->named_parameters();
    for (const auto& item : pc) {
      const at::Tensor& gc = item.value().grad();
      const at::Tensor& gg = pg[item.key()].grad();
      if (!gc.defined()) {
        EXPECT_FALSE(gg.defined() && gg.abs().max().item<double>() > 0) << item.key();
        continue;
      }
      ASSERT_TRUE(gg.defined()) << item.key();
      EXPECT_LE(rel_error(gg.cpu(), gc), 1e-3) << "gradient of " << item.key() << " in " << mixer_name(kind);
    }
  }
}

}  // namespace
}  // namespace kalmanscan::kla::nn
