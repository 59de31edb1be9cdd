// The per-step recursions of the GPU fast paths (filters/src/cuda/fast_steps.cuh), on the CPU:
// the pivoting solve against scan::lu_solve, the filter from a known start and the RTS step
// against the sequential Kalman filter and RTS smoother, and the chunk element of the affine filter (one recursion per step)
// against the paper's per-step elements folded with FilterOp — so the algebra the GPU runs is
// checked in every build, with or without a device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <utility>
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
template <class U, class T, int R, int K>
scan::Mat<U, R, K> cast_to(const scan::Mat<T, R, K>& m) {
  scan::Mat<U, R, K> u;
  for (int i = 0; i < R * K; ++i) u.v[i] = U(m.v[i]);
  return u;
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
/// step over its output the sequential smoother; from step s on, the affine filter's chunk
/// element (one solve per step) equals filter_element folded by FilterOp, as does the fold with
/// the scan's RegisterSolver, and the sequential posterior at s − 1 combined with the chunk
/// element gives the posterior at the chunk's end.
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

  // The RTS steps with the smoothing element of the GPU fast paths (reciprocal pivots).
  Vec<double, N> ms = vec_at<N>(mean, steps - 1);
  Mat<double, N, N> Ps = mat_at<N>(cov, steps - 1);
  std::vector<double> smean(mean.end() - N, mean.end()), scov(cov.end() - N * N, cov.end());
  for (std::size_t t = steps - 1; t-- > 0;) {
    const Vec<double, N> m = vec_at<N>(mean, t);
    gpu::fast::rts_step(elements::smooth_element_reciprocal<double, N>(F, Q, c, m, mat_at<N>(cov, t)), m, F * m + c, ms,
                        Ps);
    const std::vector<double> a = flat(ms), B = flat(Ps);
    smean.insert(smean.begin(), a.begin(), a.end()), scov.insert(scov.begin(), B.begin(), B.end());
  }
  EXPECT_LE(normwise(smean, ref.smoothed_mean), 1e-12);
  EXPECT_LE(normwise(scov, ref.smoothed_cov), 1e-12);

  using Op = elements::FilterOp<double, N>;
  gpu::fast::ChunkFilter<double, N, true> a;
  a.start_unknown();
  using RegisterOp = elements::FilterOp<double, N, gpu::fast::RegisterSolver>;  // the scan's variant
  typename Op::element folded = Op::identity();
  double register_error = 0;
  for (std::size_t t = s; t < e; ++t) {
    a.predict(F, Q, c);
    a.update(mat_at<N>(in.Psi, t), vec_at<N>(in.psi, t));
    const typename Op::element et = elements::filter_element(F, Q, c, {mat_at<N>(in.Psi, t), vec_at<N>(in.psi, t)});
    const typename Op::element r = RegisterOp::combine(folded, et);
    folded = Op::combine(folded, et);
    for (const auto& [x, y] : {std::pair{flat(r.A), flat(folded.A)}, std::pair{flat(r.b), flat(folded.b)},
                               std::pair{flat(r.C), flat(folded.C)}, std::pair{flat(r.eta), flat(folded.eta)},
                               std::pair{flat(r.J), flat(folded.J)}})
      register_error = std::max(register_error, normwise(x, y));
  }
  EXPECT_LE(register_error, 1e-12) << "FilterOp with RegisterSolver vs scan::lu_solve";
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

/// A host emulation of the fast paths' three phases (fast_filter.cuh, fast_smooth.cuh) for a
/// fresh log: chunk elements in W (phase 1), a Hillis–Steele scan over them in W with the GPU's
/// pairing and combine order (phase 2), each chunk filtered / smoothed from its scanned start in
/// C (phase 3); the scan's FilterOp solves with RegisterSolver and the smoothing elements with
/// reciprocal pivots, as on the GPU. Returns the filtered and smoothed means. It restates the
/// kernels' control flow on the CPU, so it measures the arithmetic's accuracy, not the kernels
/// (the GPU tests do that).
template <class W, class C, int N>
struct Emulation {
  std::vector<double> filtered, smoothed;
};

template <class Op>
std::vector<typename Op::element> hillis_steele(std::vector<typename Op::element> x, bool reverse) {
  for (std::size_t d = 1; d < x.size(); d *= 2) {
    std::vector<typename Op::element> y = x;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!reverse && i >= d) y[i] = Op::combine(x[i - d], x[i]);
      if (reverse && i + d < x.size()) y[i] = Op::combine(x[i], x[i + d]);
    }
    x = std::move(y);
  }
  return x;
}

template <class W, class C, int N>
Emulation<W, C, N> emulate_fast_path(const testing::CvInputs<double>& in, std::size_t steps, std::size_t k) {
  auto mat = [](const std::vector<double>& v, std::size_t t) { return cast_to<C>(mat_at<N>(v, t)); };
  auto vec = [](const std::vector<double>& v, std::size_t t) { return cast_to<C>(vec_at<N>(v, t)); };
  const std::size_t count = (steps + k - 1) / k;
  // Phase 1 and 2 of the filter, in W.
  using FOp = elements::FilterOp<W, N, gpu::fast::RegisterSolver>;
  std::vector<typename FOp::element> fe(count);
  for (std::size_t c = 0; c < count; ++c) {
    gpu::fast::ChunkFilter<W, N, true> f;
    std::size_t t = c * k;
    if (c > 0) {
      f.start_unknown();
    } else {
      f.start_known(cast_to<W>(vec_at<N>(in.m0, 0)), cast_to<W>(mat_at<N>(in.P0, 0)));
      f.update(cast_to<W>(mat_at<N>(in.Psi, 0)), cast_to<W>(vec_at<N>(in.psi, 0)));
      t = 1;
    }
    for (; t < std::min(steps, c * k + k); ++t) {
      f.predict(cast_to<W>(mat_at<N>(in.F, 0)), cast_to<W>(mat_at<N>(in.Q, 0)),
                cast_to<W>(vec_at<N>(in.c, 0)));
      f.update(cast_to<W>(mat_at<N>(in.Psi, t)), cast_to<W>(vec_at<N>(in.psi, t)));
    }
    fe[c] = f.element();
  }
  fe = hillis_steele<FOp>(std::move(fe), false);
  // Phase 3 of the filter, in C; the outputs stored in C.
  std::vector<Vec<C, N>> m(steps);
  std::vector<Mat<C, N, N>> P(steps);
  for (std::size_t c = 0; c < count; ++c) {
    gpu::fast::ChunkFilter<C, N, false> f;
    std::size_t t = c * k;
    if (c > 0) {
      f.start_known(cast_to<C>(fe[c - 1].b), cast_to<C>(fe[c - 1].C));
    } else {
      f.start_known(vec(in.m0, 0), mat(in.P0, 0));
      f.update(mat(in.Psi, 0), vec(in.psi, 0));
      m[0] = f.b, P[0] = f.C, t = 1;
    }
    for (; t < std::min(steps, c * k + k); ++t) {
      f.predict(mat(in.F, 0), mat(in.Q, 0), vec(in.c, 0));
      f.update(mat(in.Psi, t), vec(in.psi, t));
      m[t] = f.b, P[t] = f.C;
    }
  }
  // Phases 1 and 2 of the smoother (the last step's element (0, m, P)), in W.
  using SOp = elements::SmoothOp<W, N>;
  auto element_at = [&](std::size_t t) {
    const Vec<W, N> mw = cast_to<W>(m[t]);
    const Mat<W, N, N> Pw = cast_to<W>(P[t]);
    if (t + 1 == steps) return elements::last_smooth_element(mw, Pw);
    return elements::smooth_element_reciprocal<W, N>(cast_to<W>(mat_at<N>(in.F, 0)), cast_to<W>(mat_at<N>(in.Q, 0)),
                                                 cast_to<W>(vec_at<N>(in.c, 0)), mw, Pw);
  };
  std::vector<typename SOp::element> se(count);
  for (std::size_t c = 0; c < count; ++c) {
    se[c] = element_at(c * k);
    for (std::size_t t = c * k + 1; t < std::min(steps, c * k + k); ++t) se[c] = SOp::combine(se[c], element_at(t));
  }
  se = hillis_steele<SOp>(std::move(se), true);
  // Phase 3 of the smoother, in C.
  Emulation<W, C, N> out;
  out.filtered.resize(steps * N), out.smoothed.resize(steps * N);
  const Mat<C, N, N> F = mat(in.F, 0), Q = mat(in.Q, 0);
  const Vec<C, N> cc = vec(in.c, 0);
  for (std::size_t c = 0; c < count; ++c) {
    Vec<C, N> ms = Vec<C, N>::zero();
    Mat<C, N, N> Ps = Mat<C, N, N>::zero();
    if (c + 1 < count) ms = cast_to<C>(se[c + 1].g), Ps = cast_to<C>(se[c + 1].L);
    for (std::size_t t = std::min(steps, c * k + k); t-- > c * k;) {
      if (t + 1 == steps)
        ms = m[t], Ps = P[t];
      else
        gpu::fast::rts_step(elements::smooth_element_reciprocal<C, N>(F, Q, cc, m[t], P[t]), m[t], F * m[t] + cc, ms, Ps);
      for (int i = 0; i < N; ++i) out.filtered[t * N + i] = double(m[t][i]), out.smoothed[t * N + i] = double(ms[i]);
    }
  }
  return out;
}

/// The arithmetic of the chunk elements and their scan (phases 1–2): in double (float steps on
/// logs shorter than gpu::float_chunks_min_steps) and in float (from there on), plain float's
/// filtered and smoothed means stay within the bound of 2× the float sequential filter's
/// normwise error against double, at the chunk lengths the default picks for 10⁵ and 10⁶ steps
/// (16, 64) and a long one (256).
TEST(FastSteps, EmulatedChunkArithmeticKeepsFloatAccuracy) {
  const std::size_t steps = 100000;
  const Model model = testing::constant_velocity(2, 0.2, 0.5);
  const Measurements meas = testing::cv_log(2, steps);
  Trajectory ref = kalman_filter<double>(model, meas, std::nullopt);
  rts_smooth(model, meas, ref, std::nullopt, false);
  BasicTrajectory<float> seq = kalman_filter<float>(model, meas, std::nullopt);
  rts_smooth(model, meas, seq, std::nullopt, false);
  const double seq_f = normwise(seq.filtered_mean, ref.filtered_mean), seq_s = normwise(seq.smoothed_mean, ref.smoothed_mean);
  const testing::CvInputs<double> in(model, meas);
  for (std::size_t k : {16, 64, 256}) {
    const auto d = emulate_fast_path<double, float, 4>(in, steps, k);
    const auto f = emulate_fast_path<float, float, 4>(in, steps, k);
    const double df = normwise(d.filtered, ref.filtered_mean), ds = normwise(d.smoothed, ref.smoothed_mean);
    const double ff = normwise(f.filtered, ref.filtered_mean), fs = normwise(f.smoothed, ref.smoothed_mean);
    std::printf("k = %zu, float storage, filtered / smoothed mean error vs double: chunk elements in double %.3g / %.3g,"
                " in float %.3g / %.3g; sequential float %.3g / %.3g\n",
                k, df, ds, ff, fs, seq_f, seq_s);
    EXPECT_LE(df, 2 * seq_f) << "k = " << k;
    EXPECT_LE(ds, 2 * seq_s) << "k = " << k;
    EXPECT_LE(ff, 2 * seq_f) << "k = " << k;
    EXPECT_LE(fs, 2 * seq_s) << "k = " << k;
  }
}

}  // namespace
}  // namespace kalmanscan::filters
