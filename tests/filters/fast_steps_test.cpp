// The per-step recursions of the GPU fast paths (filters/src/cuda/fast_steps.cuh), on the CPU:
// the pivoting solve against scan::lu_solve, the filter from a known start and the RTS step
// against the sequential Kalman filter and RTS smoother, and the chunk element of the affine filter (one recursion per step)
// against the paper's per-step elements folded with FilterOp — so the algebra the GPU runs is
// checked in every build, with or without a device.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "cuda/fast_steps.cuh"
#include "cv_inputs.hpp"
#include "kalmanscan/filters/kalman.hpp"
#include "kalmanscan/filters/rts.hpp"
#include "reference.hpp"

namespace kalmanscan::filters {
namespace {

using elements::Mat;
using elements::Vec;
using testing::normwise;

template <int N>
Mat<double, N, N> mat_at(const std::vector<double>& v, std::size_t t) {
  Mat<double, N, N> m;
  for (int k = 0; k < N * N; ++k) m.v[k] = v[t * N * N + k];
  return m;
}
template <int N>
Vec<double, N> vec_at(const std::vector<double>& v, std::size_t t) {
  Vec<double, N> x;
  for (int k = 0; k < N; ++k) x.v[k] = v[t * N + k];
  return x;
}
template <class M>
std::vector<double> flat(const M& m) {
  return std::vector<double>(m.v, m.v + sizeof(m.v) / sizeof(m.v[0]));
}

TEST(FastSteps, PivotingSolveEqualsLu) {
  std::mt19937 rng(7);
  std::normal_distribution<double> nd;
  for (int trial = 0; trial < 50; ++trial) {
    Mat<double, 6, 6> A;
    Mat<double, 6, 13> B, X, Y;
    for (double& a : A.v) a = nd(rng);
    for (double& b : B.v) b = nd(rng);
    if (trial % 5 == 0) A(0, 0) = 0.0;  // needs a row exchange at the first pivot
    ASSERT_TRUE(scan::lu_solve(A, B, X));
    Y = B;
    ASSERT_TRUE(gpu::fast::solve_in_place(A, Y));
    EXPECT_LE(normwise(flat(Y), flat(X)), 1e-10) << "trial " << trial;
  }
  Mat<double, 3, 3> S = Mat<double, 3, 3>::zero();  // rank 2: a zero pivot
  S(0, 0) = 1, S(1, 1) = 2, S(0, 1) = S(1, 0) = 0.5;
  Mat<double, 3, 1> b = Mat<double, 3, 1>::zero();
  EXPECT_FALSE(gpu::fast::solve_in_place(S, b));
}

/// The filter from the prior (phase 3 of the first chunk) equals the sequential filter, the RTS
/// step over its output the sequential smoother; from
/// step s on, the affine filter's chunk element equals filter_element folded by FilterOp, and
/// the sequential posterior at s − 1 combined with it gives the posterior at the chunk's end.
template <int N>
void check_recursions(int axes) {
  const std::size_t steps = 300, s = 97, e = 250;
  const Model model = testing::constant_velocity(axes, 0.2, 0.5);
  const Measurements meas = testing::cv_log(axes, steps);
  Trajectory ref = kalman_filter<double>(model, meas, std::nullopt);
  rts_smooth(model, meas, ref, std::nullopt, false);
  const testing::CvInputs<double> in(model, meas);
  const Mat<double, N, N> F = mat_at<N>(in.F, 0), Q = mat_at<N>(in.Q, 0);
  const Vec<double, N> c = vec_at<N>(in.c, 0);

  gpu::fast::ChunkFilter<double, N, false> f;
  f.start_known(vec_at<N>(in.m0, 0), mat_at<N>(in.P0, 0));
  std::vector<double> mean, cov;
  for (std::size_t t = 0; t < steps; ++t) {
    if (t > 0) f.predict(F, Q, c);
    f.update(mat_at<N>(in.Psi, t), vec_at<N>(in.psi, t));
    ASSERT_TRUE(f.ok);
    const std::vector<double> m = flat(f.b), P = flat(f.C);
    mean.insert(mean.end(), m.begin(), m.end()), cov.insert(cov.end(), P.begin(), P.end());
  }
  EXPECT_LE(normwise(mean, ref.filtered_mean), 1e-12);
  EXPECT_LE(normwise(cov, ref.filtered_cov), 1e-12);

  Vec<double, N> ms = vec_at<N>(mean, steps - 1);
  Mat<double, N, N> Ps = mat_at<N>(cov, steps - 1);
  std::vector<double> smean(mean.end() - N, mean.end()), scov(cov.end() - N * N, cov.end());
  for (std::size_t t = steps - 1; t-- > 0;) {
    const Vec<double, N> m = vec_at<N>(mean, t);
    gpu::fast::rts_step(elements::smooth_element(F, Q, c, m, mat_at<N>(cov, t)), m, F * m + c, ms, Ps);
    const std::vector<double> a = flat(ms), B = flat(Ps);
    smean.insert(smean.begin(), a.begin(), a.end()), scov.insert(scov.begin(), B.begin(), B.end());
  }
  EXPECT_LE(normwise(smean, ref.smoothed_mean), 1e-12);
  EXPECT_LE(normwise(scov, ref.smoothed_cov), 1e-12);

  using Op = elements::FilterOp<double, N>;
  gpu::fast::ChunkFilter<double, N, true> a;
  a.start_unknown();
  typename Op::element folded = Op::identity();
  for (std::size_t t = s; t < e; ++t) {
    a.predict(F, Q, c);
    a.update(mat_at<N>(in.Psi, t), vec_at<N>(in.psi, t));
    folded = Op::combine(folded, elements::filter_element(F, Q, c, {mat_at<N>(in.Psi, t), vec_at<N>(in.psi, t)}));
  }
  const typename Op::element chunk = a.element();
  EXPECT_EQ(chunk.failed, 0);
  EXPECT_LE(normwise(flat(chunk.A), flat(folded.A)), 1e-10);
  EXPECT_LE(normwise(flat(chunk.b), flat(folded.b)), 1e-10);
  EXPECT_LE(normwise(flat(chunk.C), flat(folded.C)), 1e-10);
  EXPECT_LE(normwise(flat(chunk.eta), flat(folded.eta)), 1e-10);
  EXPECT_LE(normwise(flat(chunk.J), flat(folded.J)), 1e-10);
  const typename Op::element before = elements::posterior_element(vec_at<N>(ref.filtered_mean, s - 1),
                                                                  mat_at<N>(ref.filtered_cov, s - 1));
  const typename Op::element after = Op::combine(before, chunk);
  const std::vector<double> m_ref(ref.filtered_mean.begin() + (e - 1) * N, ref.filtered_mean.begin() + e * N);
  const std::vector<double> P_ref(ref.filtered_cov.begin() + (e - 1) * N * N, ref.filtered_cov.begin() + e * N * N);
  EXPECT_LE(normwise(flat(after.b), m_ref), 1e-12);
  EXPECT_LE(normwise(flat(after.C), P_ref), 1e-12);
}

TEST(FastSteps, RecursionsEqualSequentialFilterAndFoldedElements) {
  check_recursions<2>(1);
  check_recursions<4>(2);
  check_recursions<6>(3);
}

}  // namespace
}  // namespace kalmanscan::filters
