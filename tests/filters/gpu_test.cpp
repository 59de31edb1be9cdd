// The CUDA parallel filter/smoother against the sequential filter (skipped without a device).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "kalmanscan/filters/kalman.hpp"
#include "kalmanscan/filters/parallel.hpp"
#include "kalmanscan/filters/rts.hpp"
#include "kalmanscan/filters/smooth.hpp"
#include "kalmanscan/scan/gpu.hpp"
#include "reference.hpp"

namespace kalmanscan::filters {
namespace {

using testing::normwise;

#define KALMANSCAN_REQUIRE_GPU()                                                  \
  if (scan::gpu::device_count() == 0) GTEST_SKIP() << "no CUDA device (or built without CUDA)"

const ParallelOptions cuda{.backend = scan::Backend::cuda};

template <class T>
BasicTrajectory<T> gpu_run(const Model& model, const Measurements& meas) {
  BasicTrajectory<T> tr = parallel_filter<T>(model, meas, std::nullopt, nullptr, cuda);
  parallel_smooth(model, meas, tr, std::nullopt, true, cuda);
  return tr;
}

Trajectory sequential_run(const Model& model, const Measurements& meas) {
  Trajectory tr = kalman_filter<double>(model, meas, std::nullopt);
  rts_smooth(model, meas, tr, std::nullopt, true);
  return tr;
}

template <class T>
void expect_close(const BasicTrajectory<T>& a, const Trajectory& b, double tol) {
  EXPECT_LE(normwise(a.filtered_mean, b.filtered_mean), tol);
  EXPECT_LE(normwise(a.filtered_cov, b.filtered_cov), tol);
  EXPECT_LE(normwise(a.smoothed_mean, b.smoothed_mean), tol);
  EXPECT_LE(normwise(a.smoothed_cov, b.smoothed_cov), tol);
  EXPECT_LE(normwise(a.cross_cov, b.cross_cov), tol);
}

TEST(Gpu, EqualsSequentialForEverySize) {
  KALMANSCAN_REQUIRE_GPU();
  std::vector<int> sizes{1, 2, 3, 4, 6, 9, 12};
  if (KALMANSCAN_CUDA_LARGE_FILTER_SIZES) sizes.insert(sizes.end(), {20, 32});  // opt-in sizes (gpu.hpp)
  for (int n : sizes) {
    SCOPED_TRACE("n = " + std::to_string(n));
    const Model model = testing::random_model(n, {2, 1}, 300 + n);
    const Measurements meas = testing::simulate(model, 5000, {1, 3}, 0.1, 400 + n);
    const Trajectory ref = sequential_run(model, meas);
    if (KALMANSCAN_CUDA_FULL_INSTANTIATIONS) expect_close(gpu_run<double>(model, meas), ref, 1e-10);
    expect_close(gpu_run<float>(model, meas), ref, 1e-3);
  }
}

TEST(Gpu, ChunkedEqualsWhole) {
  KALMANSCAN_REQUIRE_GPU();
  const Model model = testing::random_model(4, {2}, 77);
  const Measurements meas = testing::simulate(model, 20000, {1}, 0.05, 78);
  const SmoothOptions o{.backend = Backend::cuda,
                        .precision = KALMANSCAN_CUDA_FULL_INSTANTIATIONS ? Precision::float64 : Precision::float32,
                        .cross_covariances = true};
  const Trajectory whole = smooth(model, meas, {.backend = Backend::sequential, .cross_covariances = true});
  // Two chunks: [0, 7000) and [7000, 20000), with carries both ways.
  auto part = [&](std::size_t lo, std::size_t hi) {
    Measurements c;
    c.first_step = lo;
    for (std::size_t t = lo; t < hi; ++t) {
      c.add_step();
      for (std::size_t k = meas.step_begin[t]; k < meas.step_begin[t + 1]; ++k) c.add(meas.sensor[k], Eigen::VectorXd(meas.value(k)));
    }
    return c;
  };
  const Measurements a = part(0, 7000), b = part(7000, 20000);
  FilteredChunk fa = filter_chunk(model, a, std::nullopt, o);
  FilteredChunk fb = filter_chunk(model, b, fa.carry_out, o);
  smooth_chunk(model, b, fb.trajectory, std::nullopt, o);
  smooth_chunk(model, a, fa.trajectory, first_smoothed(b, fb.trajectory), o);
  std::vector<double> sm = fa.trajectory.smoothed_mean;
  sm.insert(sm.end(), fb.trajectory.smoothed_mean.begin(), fb.trajectory.smoothed_mean.end());
  EXPECT_LE(normwise(sm, whole.smoothed_mean), o.precision == Precision::float64 ? 1e-10 : 1e-3);
  EXPECT_NEAR(fa.trajectory.log_likelihood + fb.trajectory.log_likelihood, whole.log_likelihood,
              (o.precision == Precision::float64 ? 1e-9 : 1e-3) * std::abs(whole.log_likelihood));
}

// A float run of 10⁶ steps stays finite; its normwise error against the double CPU result is printed.
TEST(Gpu, MillionStepFloatRunStaysFinite) {
  KALMANSCAN_REQUIRE_GPU();
  const Model model = testing::constant_velocity(2, 0.2, 0.5);
  Measurements meas;
  for (std::size_t t = 0; t < 1000000; ++t) {
    const double s = 0.1 * double(t);
    meas.add_step(s);
    if (t % 7 != 3) meas.add(0, Eigen::Vector2d(std::sin(0.05 * s), std::cos(0.03 * s)));
  }
  const ParallelOptions cpu{.backend = scan::Backend::threaded, .diagnostics = false};
  const ParallelOptions gpu{.backend = scan::Backend::cuda, .diagnostics = false};
  BasicTrajectory<float> f = parallel_filter<float>(model, meas, std::nullopt, nullptr, gpu);
  parallel_smooth(model, meas, f, std::nullopt, false, gpu);
  Trajectory d = parallel_filter<double>(model, meas, std::nullopt, nullptr, cpu);
  parallel_smooth(model, meas, d, std::nullopt, false, cpu);
  for (float v : f.smoothed_mean) ASSERT_TRUE(std::isfinite(v));
  const double e = normwise(f.smoothed_mean, d.smoothed_mean);
  std::printf("GPU float vs CPU double at T = 1e6: smoothed means %.3g\n", e);
  EXPECT_LE(e, 5e-2);
}

}  // namespace
}  // namespace kalmanscan::filters
