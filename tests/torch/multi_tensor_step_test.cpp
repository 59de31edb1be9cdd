// The trainer's optimiser step (multi_tensor_step.hpp) against LibTorch's own one-tensor-at-a-time
// versions: MultiTensorAdamW == torch::optim::AdamW (parameters and state, over several steps, two
// parameter groups, a parameter that misses a step's gradient), their checkpoints interchange,
// clip_grad_norm_without_sync == torch::nn::utils::clip_grad_norm_, and clear_grads leaves the next
// backward pass writing exactly the fresh gradient. On the GPU too where one is present.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>
#include <vector>

#include "kalmanscan/kla/torch/multi_tensor_step.hpp"

namespace kalmanscan::kla::nn {
namespace {

std::vector<torch::Device> devices() {
  std::vector<torch::Device> d{torch::kCPU};
  if (torch::cuda::is_available()) d.emplace_back(torch::kCUDA);
  return d;
}

// Parameters of assorted shapes (a matrix, a vector, a scalar-like [1], a 3-D tensor).
std::vector<at::Tensor> make_parameters(std::uint64_t seed, const torch::Device& device, at::ScalarType dtype) {
  torch::manual_seed(seed);
  std::vector<at::Tensor> ps;
  for (auto shape : std::vector<std::vector<std::int64_t>>{{7, 5}, {5}, {1}, {3, 4, 2}})
    ps.push_back(torch::randn(shape, torch::TensorOptions(dtype)).to(device).requires_grad_(true));
  return ps;
}

std::vector<at::Tensor> copies(const std::vector<at::Tensor>& ps) {
  std::vector<at::Tensor> out;
  for (const auto& p : ps) out.push_back(p.detach().clone().requires_grad_(true));
  return out;
}

// Two groups (weight decay 0.1 on the first two parameters, none on the rest), as the trainer has.
template <class Opt>
Opt make_optimizer(const std::vector<at::Tensor>& ps) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<at::Tensor>{ps[0], ps[1]},
                      std::make_unique<torch::optim::AdamWOptions>(
                          torch::optim::AdamWOptions(3e-2).weight_decay(0.1).betas({0.9, 0.98})));
  groups.emplace_back(std::vector<at::Tensor>{ps[2], ps[3]},
                      std::make_unique<torch::optim::AdamWOptions>(
                          torch::optim::AdamWOptions(3e-2).weight_decay(0.0).betas({0.9, 0.98})));
  return Opt(std::move(groups));
}

// Gradients of step `step`, the same for both copies; parameter 2 gets none at step 1 (so its step
// count lags the others').
void set_gradients(const std::vector<at::Tensor>& ps, int step) {
  torch::manual_seed(1000 + step);
  for (std::size_t i = 0; i < ps.size(); ++i) {
    at::Tensor g = torch::randn(ps[i].sizes(), ps[i].options().requires_grad(false));
    ps[i].mutable_grad() = (i == 2 && step == 1) ? at::Tensor() : g;
  }
}

double max_relative_difference(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, ((a[i] - b[i]).abs().max() / b[i].abs().max()).item<double>());
  return worst;
}

TEST(MultiTensorStep, AdamWMatchesLibTorchAdamW) {
  for (const auto& device : devices())
    for (auto dtype : {at::kDouble, at::kFloat}) {
      const auto ours = make_parameters(7, device, dtype), ref = copies(ours);
      auto opt = make_optimizer<MultiTensorAdamW>(ours);
      auto ref_opt = make_optimizer<torch::optim::AdamW>(ref);
      for (int step = 0; step < 6; ++step) {
        set_gradients(ours, step);
        set_gradients(ref, step);
        opt.step();
        ref_opt.step();
      }
      // float: the foreach kernels may round differently from the one-tensor ones.
      const double tol = dtype == at::kDouble ? 1e-13 : 1e-5;
      EXPECT_LT(max_relative_difference(ours, ref), tol) << device << " " << dtype;
      // The parameters moved well beyond that tolerance (the comparison is not vacuous).
      EXPECT_GT(max_relative_difference(ours, make_parameters(7, device, dtype)), 1e-2);
    }
}

TEST(MultiTensorStep, CheckpointsInterchangeWithLibTorchAdamW) {
  const auto ours = make_parameters(3, torch::kCPU, at::kDouble), ref = copies(ours);
  auto opt = make_optimizer<MultiTensorAdamW>(ours);
  for (int step = 0; step < 3; ++step) {
    set_gradients(ours, step);
    opt.step();
  }
  for (std::size_t i = 0; i < ours.size(); ++i) ref[i].data().copy_(ours[i].data());
  std::ostringstream saved;
  {
    torch::serialize::OutputArchive archive;
    opt.save(archive);
    archive.save_to(saved);
  }
  auto ref_opt = make_optimizer<torch::optim::AdamW>(ref);
  {
    std::istringstream in(saved.str());
    torch::serialize::InputArchive archive;
    archive.load_from(in);
    ref_opt.load(archive);
  }
  // The next step from the restored state equals the uninterrupted one (the moments and step
  // counts came through; a fresh AdamW would take a bias-corrected first step instead).
  set_gradients(ours, 3);
  set_gradients(ref, 3);
  opt.step();
  ref_opt.step();
  EXPECT_LT(max_relative_difference(ours, ref), 1e-13);
}

TEST(MultiTensorStep, ClipMatchesLibTorchClipGradNorm) {
  for (const auto& device : devices())
    for (double max_norm : {0.5, 1e3}) {  // clipped, and left alone
      const auto ours = make_parameters(5, device, at::kDouble), ref = copies(ours);
      set_gradients(ours, 1);  // parameter 2 has no gradient
      set_gradients(ref, 1);
      clip_grad_norm_without_sync(ours, max_norm);
      const double norm = torch::nn::utils::clip_grad_norm_(ref, max_norm);
      EXPECT_GT(norm, 1.0);
      for (std::size_t i = 0; i < ours.size(); ++i) {
        ASSERT_EQ(ours[i].grad().defined(), ref[i].grad().defined());
        if (ours[i].grad().defined()) {
          EXPECT_TRUE(torch::allclose(ours[i].grad(), ref[i].grad(), 1e-14, 0)) << device << " max_norm " << max_norm;
        }
      }
      if (max_norm < 1) {  // the clipped gradients have the requested norm
        double sq = 0;
        for (const auto& p : ours)
          if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
        EXPECT_NEAR(std::sqrt(sq), max_norm, 1e-6);
      }
    }
}

TEST(MultiTensorStep, ClearedGradientsAreReplacedNotAccumulated) {
  const auto ps = make_parameters(9, torch::kCPU, at::kDouble);
  auto loss = [&] { return (ps[0].sum() * ps[1].sum()).pow(2) + ps[3].pow(3).sum(); };
  loss().backward();
  clear_grads(ps);
  for (const auto& p : ps) EXPECT_FALSE(p.grad().defined());
  const at::Tensor l = loss();
  const auto expected = torch::autograd::grad({l}, {ps[0], ps[1], ps[3]}, {}, /*retain_graph=*/true);
  l.backward();
  EXPECT_TRUE(torch::equal(ps[0].grad(), expected[0]));
  EXPECT_TRUE(torch::equal(ps[1].grad(), expected[1]));
  EXPECT_TRUE(torch::equal(ps[3].grad(), expected[2]));
}

}  // namespace
}  // namespace kalmanscan::kla::nn
