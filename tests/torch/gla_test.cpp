// The chunk-wise GLA mixer (mixers.hpp) against gated linear attention written as fp64 loops from
// its definition (mixer_loops.hpp), at chunk lengths that divide L and that do not, and its
// autograd gradients (through the chunk-wise form) against central differences in fp64.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "kalmanscan/kla/torch/mixers.hpp"
#include "mixer_loops.hpp"
#include "support.hpp"

namespace kalmanscan::kla::nn {
namespace {

using testing::rel_error;

// Key size 5 ≠ value size 4 per head, so a transposed state or a mixed-up head split shows.
MixerOptions gla_options(int64_t chunk) {
  MixerOptions o;
  o.kind = MixerKind::gla;
  o.d_model = 12;
  o.heads = 3;
  o.state_size = 5;
  o.chunk = chunk;
  return o;
}

TEST(GlaMixer, EveryChunkLengthEqualsTheRecurrenceWrittenAsLoops) {
  torch::manual_seed(21);
  const int64_t L = 13;  // prime: chunks 2, 3, 5, 8 leave a shorter last chunk
  const auto x = torch::randn({2, L, 12}, torch::kDouble);
  for (int64_t chunk : {1, 2, 3, 5, 8, 13, 64}) {
    const MixerOptions o = gla_options(chunk);
    torch::manual_seed(22);
    auto mixer = std::make_shared<GlaMixerImpl>(o);
    mixer->to(torch::kDouble);
    torch::NoGradGuard no_grad;
    EXPECT_LE(rel_error(mixer->forward(x), testing::mixer_loop(*mixer, o, x)), 1e-12) << "chunk " << chunk;
  }
}

// ∂/∂θ of Σ c ⊙ mixer(x) for the input x and every parameter θ, entry by entry, by autograd through
// the chunk-wise form (chunk 3 does not divide L = 7, so the carried state between chunks and the
// shorter last chunk are differentiated too) against central differences.
TEST(GlaMixer, GradientsMatchCentralDifferences) {
  MixerOptions o = gla_options(3);
  o.d_model = 6, o.heads = 2, o.state_size = 4;  // ~400 entries, two forward passes each
  torch::manual_seed(23);
  auto mixer = std::make_shared<GlaMixerImpl>(o);
  mixer->to(torch::kDouble);
  const auto x = torch::randn({2, 7, 6}, torch::kDouble).requires_grad_(true);
  const auto c = torch::randn({2, 7, 6}, torch::kDouble);
  auto loss = [&] { return (mixer->forward(x) * c).sum(); };
  loss().backward();
  std::vector<std::pair<std::string, at::Tensor>> wrt{{"x", x}};
  for (const auto& item : mixer->named_parameters()) wrt.emplace_back(item.key(), item.value());
  // The five-point stencil f' ≈ (8(f(θ+h) − f(θ−h)) − (f(θ+2h) − f(θ−2h)))/(12h): truncation
  // O(h⁴ f⁽⁵⁾), rounding O(ε |loss| / h); at h = 3e-5 the largest error is ~1e-9 (measured: it falls
  // as h⁴ from h = 1e-3 to 3e-5 and rises again at 1e-5). The plain central difference is not
  // accurate enough here: the GroupNorm over d_v = 3 values per head is strongly curved in v (its
  // O(h²) error was 1.5e-6 for v_proj.weight at h = 1e-5, falling as h², so the gradient is right).
  const double h = 3e-5;
  torch::NoGradGuard no_grad;
  double worst = 0;
  for (auto& [name, t] : wrt) {
    ASSERT_TRUE(t.grad().defined()) << name;
    ASSERT_TRUE(t.is_contiguous()) << name;
    double* data = t.data_ptr<double>();
    auto at_offset = [&](int64_t i, double dh) {
      const double t0 = data[i];
      data[i] = t0 + dh;
      const double value = loss().item<double>();
      data[i] = t0;
      return value;
    };
    auto fd = torch::empty_like(t);
    for (int64_t i = 0; i < t.numel(); ++i)
      fd.view({-1})[i] = (8 * (at_offset(i, h) - at_offset(i, -h)) - (at_offset(i, 2 * h) - at_offset(i, -2 * h))) / (12 * h);
    EXPECT_GT(fd.norm().item<double>(), 1e-3) << name;  // every tensor compared reaches the loss
    const double err = rel_error(t.grad(), fd);
    EXPECT_LE(err, 1e-7) << "gradient of " << name;
    worst = std::max(worst, err);
  }
  std::printf("largest normwise gradient error against the five-point stencil: %.2g\n", worst);
}

}  // namespace
}  // namespace kalmanscan::kla::nn
