// Streaming: a sequence pushed token by token, or in chunks of any sizes with carried states,
// gives the whole sequence's outputs; and the backward of chained chunks, each taking the next
// chunk's carried-state gradients as its final-state cotangents, gives the whole backward.
#include <gtest/gtest.h>

#include "kalmanscan/kla/kla.hpp"
#include "kalmanscan/kla/stream.hpp"
#include "random_problem.hpp"

namespace kalmanscan::kla::testing {
namespace {

// Tokens [lo, lo + n) of a [B, L, X] tensor as a [B, n, X] tensor.
template <class T>
std::vector<T> slice(const std::vector<T>& x, std::size_t B, std::size_t L, std::size_t X, std::size_t lo,
                     std::size_t n) {
  std::vector<T> out;
  for (std::size_t b = 0; b < B; ++b)
    out.insert(out.end(), x.begin() + (b * L + lo) * X, x.begin() + (b * L + lo + n) * X);
  return out;
}

// Writes a [B, n, X] tensor into tokens [lo, lo + n) of a [B, L, X] tensor.
template <class T>
void place(std::vector<T>& x, const std::vector<T>& part, std::size_t B, std::size_t L, std::size_t X,
           std::size_t lo, std::size_t n) {
  for (std::size_t b = 0; b < B; ++b)
    std::copy(part.begin() + b * n * X, part.begin() + (b + 1) * n * X, x.begin() + (b * L + lo) * X);
}

const std::vector<std::size_t> chunk_sizes = {1, 0, 7, 1, 13, 2, 0, 19};  // sums to 43

template <class T>
class Streaming : public ::testing::Test {};
using ScalarTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Streaming, ScalarTypes);

TYPED_TEST(Streaming, ChunksAndSingleTokensEqualTheWholeSequence) {
  using T = TypeParam;
  const Shape s{2, 43, 3, 5};
  const OwnedInputs<T> in = random_inputs(s, 51, false).template cast<T>();
  const Options steps{.time_split = TimeSplit::never};
  OwnedOutputs<T> whole(s);
  forward(in.view(), whole.view(), steps);

  for (bool token_by_token : {true, false}) {
    Stream<T> stream(s.B, s.M, s.S, in.a_bar, in.p_bar, steps);
    std::vector<T> y(s.sequence_size()), y_var(s.sequence_size());
    std::size_t lo = 0;
    for (std::size_t c = 0; lo < s.L; ++c) {
      const std::size_t n = token_by_token ? 1 : chunk_sizes[c];
      std::vector<T> yc(s.B * n * s.M), yvc(s.B * n * s.M);
      stream.push(n, slice(in.v, s.B, s.L, s.M, lo, n), slice(in.lam_v, s.B, s.L, s.M, lo, n),
                  slice(in.k, s.B, s.L, s.S, lo, n), slice(in.q, s.B, s.L, s.S, lo, n), yc, yvc);
      place(y, yc, s.B, s.L, s.M, lo, n);
      place(y_var, yvc, s.B, s.L, s.M, lo, n);
      lo += n;
    }
    // The same operations in the same order: bit for bit.
    EXPECT_EQ(y, whole.y) << token_by_token;
    EXPECT_EQ(y_var, whole.y_var) << token_by_token;
    EXPECT_EQ(std::vector<T>(stream.lam().begin(), stream.lam().end()), whole.lam_T);
    EXPECT_EQ(std::vector<T>(stream.eta().begin(), stream.eta().end()), whole.eta_T);
  }
}

TYPED_TEST(Streaming, TimeParallelChunksMatchWholeWithinRounding) {
  using T = TypeParam;
  const Shape s{1, 43, 2, 9};
  const OwnedInputs<T> in = random_inputs(s, 52, true).template cast<T>();
  OwnedOutputs<T> whole(s);
  forward(in.view(), whole.view(), {.time_split = TimeSplit::never});
  Stream<T> stream(s.B, s.M, s.S, in.a_bar, in.p_bar, {.threads = 2, .time_split = TimeSplit::always});
  stream.set_state(in.lam0, in.eta0);
  std::vector<T> y(s.sequence_size()), y_var(s.sequence_size());
  std::size_t lo = 0;
  for (std::size_t n : chunk_sizes) {
    std::vector<T> yc(s.B * n * s.M), yvc(s.B * n * s.M);
    stream.push(n, slice(in.v, s.B, s.L, s.M, lo, n), slice(in.lam_v, s.B, s.L, s.M, lo, n),
                slice(in.k, s.B, s.L, s.S, lo, n), slice(in.q, s.B, s.L, s.S, lo, n), yc, yvc);
    place(y, yc, s.B, s.L, s.M, lo, n);
    place(y_var, yvc, s.B, s.L, s.M, lo, n);
    lo += n;
  }
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  EXPECT_LE(rel_error<T>(std::vector<double>(whole.y.begin(), whole.y.end()), y), tol);
  EXPECT_LE(rel_error<T>(std::vector<double>(whole.y_var.begin(), whole.y_var.end()), y_var), tol);
}

TYPED_TEST(Streaming, ChainedChunkBackwardsEqualTheWholeBackward) {
  using T = TypeParam;
  const Shape s{2, 43, 3, 4};
  const OwnedInputs<T> in = random_inputs(s, 53, true).template cast<T>();
  const OwnedCotangents<T> cot = random_cotangents(s, 54).template cast<T>();
  const Options steps{.threads = 2, .time_split = TimeSplit::never};
  OwnedGradients<T> whole(s);
  backward(in.view(), cot.view(), whole.view(), steps);

  // Forward through the chunks, keeping each chunk's carried state.
  std::vector<std::size_t> starts;
  std::vector<std::vector<T>> lam0s, eta0s;
  std::vector<T> lam = in.lam0, eta = in.eta0;
  std::size_t lo = 0;
  for (std::size_t n : chunk_sizes) {
    starts.push_back(lo);
    lam0s.push_back(lam);
    eta0s.push_back(eta);
    Shape sc = s;
    sc.L = n;
    const auto v = slice(in.v, s.B, s.L, s.M, lo, n), lv = slice(in.lam_v, s.B, s.L, s.M, lo, n);
    const auto k = slice(in.k, s.B, s.L, s.S, lo, n), q = slice(in.q, s.B, s.L, s.S, lo, n);
    std::vector<T> y(s.B * n * s.M), y_var(y.size()), lam_T(s.state_size()), eta_T(s.state_size());
    forward(Inputs<T>{sc, v, lv, k, q, in.a_bar, in.p_bar, lam, eta}, Outputs<T>{y, y_var, lam_T, eta_T}, steps);
    lam = lam_T;
    eta = eta_T;
    lo += n;
  }
  // Backward from the last chunk to the first; each takes the next one's λ₀, η₀ gradients.
  std::vector<T> gv(s.sequence_size()), glv(s.sequence_size()), gk(s.key_size()), gq(s.key_size());
  std::vector<double> ga(s.param_size()), gp(s.param_size());
  std::vector<T> lam_bar = cot.lam_T, eta_bar = cot.eta_T;
  for (std::size_t c = chunk_sizes.size(); c-- > 0;) {
    const std::size_t n = chunk_sizes[c], l0 = starts[c];
    Shape sc = s;
    sc.L = n;
    const auto v = slice(in.v, s.B, s.L, s.M, l0, n), lv = slice(in.lam_v, s.B, s.L, s.M, l0, n);
    const auto k = slice(in.k, s.B, s.L, s.S, l0, n), q = slice(in.q, s.B, s.L, s.S, l0, n);
    const auto cy = slice(cot.y, s.B, s.L, s.M, l0, n), cyv = slice(cot.y_var, s.B, s.L, s.M, l0, n);
    OwnedGradients<T> g(sc);
    backward(Inputs<T>{sc, v, lv, k, q, in.a_bar, in.p_bar, lam0s[c], eta0s[c]},
             Cotangents<T>{cy, cyv, lam_bar, eta_bar}, g.view(), steps);
    place(gv, g.v, s.B, s.L, s.M, l0, n);
    place(glv, g.lam_v, s.B, s.L, s.M, l0, n);
    place(gk, g.k, s.B, s.L, s.S, l0, n);
    place(gq, g.q, s.B, s.L, s.S, l0, n);
    for (std::size_t i = 0; i < ga.size(); ++i) {
      ga[i] += g.a_bar[i];
      gp[i] += g.p_bar[i];
    }
    lam_bar = g.lam0;
    eta_bar = g.eta0;
  }
  // Per-token gradients are the same operations: bit for bit; ā, p̄ sums regroup.
  EXPECT_EQ(gv, whole.v);
  EXPECT_EQ(glv, whole.lam_v);
  EXPECT_EQ(gk, whole.k);
  EXPECT_EQ(gq, whole.q);
  EXPECT_EQ(lam_bar, whole.lam0);
  EXPECT_EQ(eta_bar, whole.eta0);
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
  EXPECT_LE(rel_error<T>(ga, whole.a_bar), tol);
  EXPECT_LE(rel_error<T>(gp, whole.p_bar), tol);
}

TEST(Streaming, RejectsBadState) {
  Stream<double> stream(1, 2, 3, std::vector<double>(6, 0.9), std::vector<double>(6, 0.1));
  EXPECT_THROW(stream.set_state(std::vector<double>(5, 1.0), std::vector<double>(6, 0.0)), Error);
  EXPECT_THROW(stream.set_state(std::vector<double>(6, -1.0), std::vector<double>(6, 0.0)), Error);
  EXPECT_THROW(Stream<double>(1, 2, 3, std::vector<double>(5, 0.9), std::vector<double>(6, 0.1)), Error);
}

}  // namespace
}  // namespace kalmanscan::kla::testing
