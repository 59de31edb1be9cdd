// The CUDA parallel filter/smoother against the sequential filter (skipped without a device):
// every state size 1 … 32 (fast paths and the warp path), double, float and mixed precision,
// chunks with carries, a stable constant-velocity model at T = 10⁵ (double ≤ 1e-10), float at
// T = 10⁷ (finite; normwise errors against double printed next to the float sequential
// filter's), breakdowns reported at their step, the fast paths' chunk lengths and float chunk
// elements on both sides of their threshold, and the library's workspace pool.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "kalmanscan/config.hpp"
#include "kalmanscan/filters/kalman.hpp"
#include "kalmanscan/filters/parallel.hpp"
#include "kalmanscan/filters/rts.hpp"
#include "kalmanscan/filters/smooth.hpp"
#include "kalmanscan/scan/gpu.hpp"
#include "cv_inputs.hpp"
#include "reference.hpp"
#if KALMANSCAN_HAS_CUDA
#include <cuda_runtime.h>  // device arrays at chosen offsets, the default memory pool

#include "gpu.hpp"  // the device entry points (filters/src): chunk lengths, the workspace pool
#endif

namespace kalmanscan::filters {
namespace {

using testing::normwise;

#define KALMANSCAN_REQUIRE_GPU()                                                  \
  if (scan::gpu::device_count() == 0) GTEST_SKIP() << "no CUDA device (or built without CUDA)"

const ParallelOptions cuda{.backend = scan::Backend::cuda};
const ParallelOptions cuda_mixed{.backend = scan::Backend::cuda, .mixed_precision = true};

template <class T>
BasicTrajectory<T> gpu_run(const Model& model, const Measurements& meas, const ParallelOptions& o = cuda,
                           bool cross = true) {
  BasicTrajectory<T> tr = parallel_filter<T>(model, meas, std::nullopt, nullptr, o);
  parallel_smooth(model, meas, tr, std::nullopt, cross, o);
  return tr;
}

template <class T>
BasicTrajectory<T> sequential_run(const Model& model, const Measurements& meas, bool cross = true) {
  BasicTrajectory<T> tr = kalman_filter<T>(model, meas, std::nullopt);
  rts_smooth(model, meas, tr, std::nullopt, cross);
  return tr;
}

template <class T>
void expect_close(const BasicTrajectory<T>& a, const Trajectory& b, double tol) {
  EXPECT_LE(normwise(a.filtered_mean, b.filtered_mean), tol);
  EXPECT_LE(normwise(a.filtered_cov, b.filtered_cov), tol);
  EXPECT_LE(normwise(a.smoothed_mean, b.smoothed_mean), tol);
  EXPECT_LE(normwise(a.smoothed_cov, b.smoothed_cov), tol);
  EXPECT_LE(normwise(a.cross_cov, b.cross_cov), tol);
  EXPECT_NEAR(a.log_likelihood, b.log_likelihood, tol * std::abs(b.log_likelihood));
}

// Sizes 2, 4, 6 run on the fast paths (where compiled), all others on the warp path (padded to
// the next of 8, 12, 16, 24, 32); missing components and two sensors at different rates.
TEST(Gpu, EqualsSequentialForEverySize) {
  KALMANSCAN_REQUIRE_GPU();
  for (int n : {1, 2, 3, 4, 5, 6, 7, 9, 12, 17, 20, 32}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    const Model model = testing::random_model(n, {2, 1}, 300 + n);
    const Measurements meas = testing::simulate(model, 3000, {1, 3}, 0.1, 400 + n);
    const Trajectory ref = sequential_run<double>(model, meas);
    expect_close(gpu_run<double>(model, meas), ref, 1e-10);
    // float: a documented 1e-3 normwise (random models of condition ~1e2 lose ~5 digits of
    // float's 7 through the scan); mixed precision only rounds inputs and results to float.
    expect_close(gpu_run<float>(model, meas), ref, 1e-3);
    expect_close(gpu_run<float>(model, meas, cuda_mixed), ref, 1e-5);
  }
}

// A singular Q (rank 1 of 4) goes through the LDLᵀ-guarded smoother on both GPU paths.
TEST(Gpu, SingularProcessNoise) {
  KALMANSCAN_REQUIRE_GPU();
  for (int n : {4, 9}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    const Model model = testing::random_model(n, {2}, 91 + n, 1);
    const Measurements meas = testing::simulate(model, 2000, {1}, 0.0, 92 + n);
    expect_close(gpu_run<double>(model, meas), sequential_run<double>(model, meas), 1e-9);
  }
}

// The group path's runs (group_scan.cuh: as many runs of consecutive steps as one wave of blocks
// holds, a Kogge–Stone scan of their aggregates, then each run extended step by step) at the
// benchmark's shape, state 20 / measurement 10: lengths around one wave of the H200 (528 blocks:
// runs of one step, then of two with a short last one) and a prime, against the sequential filter.
TEST(Gpu, GroupPathRunLengths) {
  KALMANSCAN_REQUIRE_GPU();
  const Model model = testing::random_model(20, {10}, 2020);
  for (std::size_t steps : {527, 528, 529, 2113}) {
    SCOPED_TRACE("T = " + std::to_string(steps));
    const Measurements meas = testing::simulate(model, steps, {1}, 0.05, 2021);
    const Trajectory ref = sequential_run<double>(model, meas);
    expect_close(gpu_run<double>(model, meas), ref, 1e-10);
    expect_close(gpu_run<float>(model, meas, cuda_mixed), ref, 1e-5);
  }
}

TEST(Gpu, ShortRuns) {
  KALMANSCAN_REQUIRE_GPU();
  for (std::size_t steps : {0, 1, 2, 9}) {
    SCOPED_TRACE("T = " + std::to_string(steps));
    for (int n : {4, 8}) {
      const Model model = testing::random_model(n, {1}, 5 + n);
      const Measurements meas = testing::simulate(model, steps, {1}, 0.0, 6 + n);
      const BasicTrajectory<double> tr = gpu_run<double>(model, meas);
      const Trajectory ref = sequential_run<double>(model, meas);
      EXPECT_LE(normwise(tr.smoothed_mean, ref.smoothed_mean), 1e-12);
      EXPECT_LE(normwise(tr.filtered_cov, ref.filtered_cov), 1e-12);
    }
  }
}

TEST(Gpu, ChunkedEqualsWhole) {
  KALMANSCAN_REQUIRE_GPU();
  for (int n : {4, 10}) {  // a fast path and the warp path
    SCOPED_TRACE("n = " + std::to_string(n));
    const Model model = testing::random_model(n, {2}, 77 + n);
    const Measurements meas = testing::simulate(model, 20000, {1}, 0.05, 78 + n);
    const SmoothOptions o{.backend = Backend::cuda, .precision = Precision::float64, .cross_covariances = true};
    const Trajectory whole = smooth(model, meas, {.backend = Backend::sequential, .cross_covariances = true});
    // Two chunks: [0, 7000) and [7000, 20000), with carries both ways.
    auto part = [&](std::size_t lo, std::size_t hi) {
      Measurements c;
      c.first_step = lo;
      for (std::size_t t = lo; t < hi; ++t) {
        c.add_step();
        for (std::size_t k = meas.step_begin[t]; k < meas.step_begin[t + 1]; ++k)
          c.add(meas.sensor[k], Eigen::VectorXd(meas.value(k)));
      }
      return c;
    };
    const Measurements a = part(0, 7000), b = part(7000, 20000);
    FilteredChunk fa = filter_chunk(model, a, std::nullopt, o);
    FilteredChunk fb = filter_chunk(model, b, fa.carry_out, o);
    smooth_chunk(model, b, fb.trajectory, std::nullopt, o);
    smooth_chunk(model, a, fa.trajectory, first_smoothed(b, fb.trajectory), o);
    std::vector<double> sm = fa.trajectory.smoothed_mean, fm = fa.trajectory.filtered_mean;
    sm.insert(sm.end(), fb.trajectory.smoothed_mean.begin(), fb.trajectory.smoothed_mean.end());
    fm.insert(fm.end(), fb.trajectory.filtered_mean.begin(), fb.trajectory.filtered_mean.end());
    EXPECT_LE(normwise(fm, whole.filtered_mean), 1e-10);
    EXPECT_LE(normwise(sm, whole.smoothed_mean), 1e-10);
    EXPECT_NEAR(fa.trajectory.log_likelihood + fb.trajectory.log_likelihood, whole.log_likelihood,
                1e-9 * std::abs(whole.log_likelihood));
  }
}

// The accuracy criterion: parallel on the GPU equals sequential, normwise over the
// whole trajectory, ≤ 1e-10 in double at T = 10⁵ on a stable constant-velocity model.
TEST(Gpu, HundredThousandStepsDoubleEqualsSequential) {
  KALMANSCAN_REQUIRE_GPU();
  for (int axes : {1, 2, 3}) {
    SCOPED_TRACE("axes = " + std::to_string(axes));
    const Model model = testing::constant_velocity(axes, 0.2, 0.5);
    const Measurements meas = testing::cv_log(axes, 100000);
    expect_close(gpu_run<double>(model, meas), sequential_run<double>(model, meas), 1e-10);
  }
}

// A float run of 10⁷ steps stays finite; its normwise error against the double GPU result (itself
// ≤ 1e-10 from the sequential filter above) is printed next to the float sequential filter's.
TEST(Gpu, TenMillionStepFloatRunStaysFinite) {
  KALMANSCAN_REQUIRE_GPU();
  const Model model = testing::constant_velocity(2, 0.2, 0.5);
  const Measurements meas = testing::cv_log(2, 10000000);
  const ParallelOptions plain{.backend = scan::Backend::cuda, .diagnostics = false};
  const ParallelOptions mixed{.backend = scan::Backend::cuda, .diagnostics = false, .mixed_precision = true};
  const Trajectory d = gpu_run<double>(model, meas, plain, false);
  const BasicTrajectory<float> f = gpu_run<float>(model, meas, plain, false);
  const BasicTrajectory<float> fm = gpu_run<float>(model, meas, mixed, false);
  const BasicTrajectory<float> fs = sequential_run<float>(model, meas, false);
  for (const auto* tr : {&f, &fm})
    for (const std::vector<float>* v : {&tr->filtered_mean, &tr->filtered_cov, &tr->smoothed_mean, &tr->smoothed_cov})
      for (float x : *v) ASSERT_TRUE(std::isfinite(x));
  const double e = normwise(f.smoothed_mean, d.smoothed_mean), em = normwise(fm.smoothed_mean, d.smoothed_mean);
  const double es = normwise(fs.smoothed_mean, d.smoothed_mean);
  const double ef = normwise(f.filtered_mean, d.filtered_mean), efm = normwise(fm.filtered_mean, d.filtered_mean);
  const double efs = normwise(fs.filtered_mean, d.filtered_mean);
  std::printf("T = 1e7 float vs double, normwise: filtered means: GPU float %.3g, GPU mixed %.3g, sequential float %.3g;"
              " smoothed means: GPU float %.3g, GPU mixed %.3g, sequential float %.3g\n",
              ef, efm, efs, e, em, es);
  EXPECT_LE(e, 1e-2);   // documented float tolerance of the parallel form
  EXPECT_LE(em, 2 * es);  // the target, met by mixed precision
}

#if KALMANSCAN_HAS_CUDA
// The fast paths' chunks (one thread's steps) at lengths 1, 3, 7, 64 and longer than the log,
// against the sequential filter and smoother: every boundary case of the three phases (one solve
// per step in phase 1, the scan's solves in registers, the smoother's reciprocal pivots, vector
// loads and stores), on a log of `steps` (float: chunk elements in double below
// gpu::float_chunks_min_steps, in float from there on).
template <class T>
void check_chunk_lengths(bool mixed, std::size_t steps, double tol) {
  const gpu::DeviceOptions o{.mixed = mixed};
  for (int axes : {1, 2, 3}) {
    const Model model = testing::constant_velocity(axes, 0.2, 0.5);
    const Measurements meas = testing::cv_log(axes, steps);
    const Trajectory ref = sequential_run<double>(model, meas, false);
    const testing::CvInputs<T> in(model, meas);
    const int n = in.n;
    if (!gpu::fast_path<T>(n, mixed)) GTEST_SKIP() << "fast path not compiled in this build (reduced list)";
    for (std::size_t chunk : {std::size_t(1), std::size_t(3), std::size_t(7), std::size_t(64), steps + 1}) {
      SCOPED_TRACE("T = " + std::to_string(steps) + ", n = " + std::to_string(n) + ", chunk = " + std::to_string(chunk));
      gpu::DeviceOptions oc = o;
      oc.fast_chunk = chunk;
      std::vector<T> fm(steps * n), fc(steps * n * n), sm(steps * n), sc(steps * n * n);
      std::size_t failed = 0;
      const gpu::FilterProblem<T> fp{steps, {in.F.data(), in.Q.data(), in.c.data(), true}, in.Psi.data(), in.psi.data(),
                                     in.m0.data(), in.P0.data(), false, false};
      ASSERT_TRUE(gpu::filter<T>(n, fp, fm.data(), fc.data(), &failed, oc).ok());
      EXPECT_EQ(failed, steps);
      const gpu::SmoothProblem<T> sp{steps, {in.F.data(), in.Q.data(), in.c.data(), true}, fm.data(), fc.data()};
      ASSERT_TRUE(gpu::smooth<T>(n, sp, sm.data(), sc.data(), &failed, oc).ok());
      EXPECT_EQ(failed, steps);
      EXPECT_LE(normwise(fm, ref.filtered_mean), tol);
      EXPECT_LE(normwise(fc, ref.filtered_cov), tol);
      EXPECT_LE(normwise(sm, ref.smoothed_mean), tol);
      EXPECT_LE(normwise(sc, ref.smoothed_cov), tol);
    }
  }
}

// Vector loads and stores on device arrays that are 16-byte aligned (vector accesses) and that
// start one float past a 256-byte boundary (the accesses must fall back to scalar ones; a
// misaligned vector access fails the call), with Ψ per step and time-invariant (step 0's): loads
// and stores only move values, so both equal the results from the host wrapper's arrays (the
// library's own, aligned) bit for bit.
TEST(Gpu, FastPathVectorIoAlignedAndMisaligned) {
  KALMANSCAN_REQUIRE_GPU();
  const std::size_t steps = 777;
  const Model model = testing::constant_velocity(2, 0.2, 0.5);
  const Measurements meas = testing::cv_log(2, steps);
  const testing::CvInputs<float> in(model, meas);
  const int n = in.n;
  const std::size_t nn = std::size_t(n) * n;
  if (!gpu::fast_path<float>(n, false)) GTEST_SKIP() << "fast path not compiled";
  for (bool invariant_psi : {false, true}) {
    std::vector<float> fm(steps * n), fc(steps * nn), sm(steps * n), sc(steps * nn);
    std::size_t failed = 0;
    gpu::FilterProblem<float> fp{steps, {in.F.data(), in.Q.data(), in.c.data(), true}, in.Psi.data(), in.psi.data(),
                                 in.m0.data(), in.P0.data(), false, invariant_psi};
    ASSERT_TRUE(gpu::filter<float>(n, fp, fm.data(), fc.data(), &failed, {}).ok());
    gpu::SmoothProblem<float> sp{steps, {in.F.data(), in.Q.data(), in.c.data(), true}, fm.data(), fc.data()};
    ASSERT_TRUE(gpu::smooth<float>(n, sp, sm.data(), sc.data(), &failed, {}).ok());
    for (std::size_t offset : {0, 1}) {
      SCOPED_TRACE("arrays " + std::to_string(offset) + " floats past an aligned allocation, invariant Ψ " +
                   std::to_string(invariant_psi));
      std::vector<float*> owned;
      auto device = [&](std::size_t count, const float* host) {
        float* d = nullptr;
        EXPECT_EQ(cudaMalloc(&d, (count + 1) * sizeof(float)), cudaSuccess);
        owned.push_back(d);
        if (host) {
          EXPECT_EQ(cudaMemcpy(d + offset, host, count * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
        }
        return d + offset;
      };
      fp.into = {device(nn, in.F.data()), device(nn, in.Q.data()), device(n, in.c.data()), true};
      fp.Psi = device((invariant_psi ? 1 : steps) * nn, in.Psi.data()), fp.psi = device(steps * n, in.psi.data());
      fp.m = device(n, in.m0.data()), fp.P = device(nn, in.P0.data());
      float *dfm = device(steps * n, nullptr), *dfc = device(steps * nn, nullptr);
      float *dsm = device(steps * n, nullptr), *dsc = device(steps * nn, nullptr);
      ASSERT_TRUE(gpu::filter_device<float>(n, fp, dfm, dfc, &failed).ok());
      EXPECT_EQ(failed, steps);
      sp.out = fp.into, sp.filtered_mean = dfm, sp.filtered_cov = dfc;
      ASSERT_TRUE(gpu::smooth_device<float>(n, sp, dsm, dsc, &failed).ok());
      EXPECT_EQ(failed, steps);
      auto host = [](const float* d, std::size_t count) {
        std::vector<float> h(count);
        EXPECT_EQ(cudaMemcpy(h.data(), d, count * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
        return h;
      };
      EXPECT_EQ(host(dfm, steps * n), fm);
      EXPECT_EQ(host(dfc, steps * nn), fc);
      EXPECT_EQ(host(dsm, steps * n), sm);
      EXPECT_EQ(host(dsc, steps * nn), sc);
      for (float* d : owned) cudaFree(d);
    }
  }
}

TEST(Gpu, FastPathAnyChunkLength) {
  KALMANSCAN_REQUIRE_GPU();
  check_chunk_lengths<double>(false, 1000, 1e-12);
  // float: 1e-5 normwise is ~100 float roundings on this well-conditioned model (the float
  // sequential filter is ~1e-7 from double here, see TenMillionStepFloatRunStaysFinite); at
  // gpu::float_chunks_min_steps with the chunk elements and their scan in float as well.
  check_chunk_lengths<float>(false, 1000, 1e-5);
  check_chunk_lengths<float>(false, gpu::float_chunks_min_steps, 1e-5);
  check_chunk_lengths<float>(true, 1000, 1e-6);
}

// Float on the fast paths on both sides of gpu::float_chunks_min_steps (chunk elements in double
// one step below, in float from there on), default chunk lengths: the filtered and smoothed means
// are within the 2× of the float sequential filter's normwise error against the double
// sequential filter.
TEST(Gpu, FloatChunkElementsThresholdKeepsFloatAccuracy) {
  KALMANSCAN_REQUIRE_GPU();
  for (int axes : {1, 2, 3}) {
    for (std::size_t steps : {gpu::float_chunks_min_steps - 1, gpu::float_chunks_min_steps}) {
      SCOPED_TRACE("axes = " + std::to_string(axes) + ", T = " + std::to_string(steps));
      const Model model = testing::constant_velocity(axes, 0.2, 0.5);
      const Measurements meas = testing::cv_log(axes, steps);
      const Trajectory d = sequential_run<double>(model, meas, false);
      const BasicTrajectory<float> seq = sequential_run<float>(model, meas, false);
      const BasicTrajectory<float> f = gpu_run<float>(model, meas, cuda, false);
      const double ef = normwise(f.filtered_mean, d.filtered_mean), es = normwise(f.smoothed_mean, d.smoothed_mean);
      const double sf = normwise(seq.filtered_mean, d.filtered_mean), ss = normwise(seq.smoothed_mean, d.smoothed_mean);
      std::printf("axes %d, T = %zu, float vs double, filtered / smoothed means: GPU %.3g / %.3g, sequential %.3g / %.3g\n",
                  axes, steps, ef, es, sf, ss);
      EXPECT_LE(ef, 2 * sf);
      EXPECT_LE(es, 2 * ss);
    }
  }
}

// The library's workspace pool (cuda/device_buffers.cuh): a call leaves its workspace cached in
// the pool (reserved, none in use) and takes nothing from the process's default pool;
// release_cached_memory() hands it back (nothing reserved), and a call after the release
// allocates afresh and gives the same results bit for bit.
TEST(Gpu, WorkspacePoolCachedAndReleased) {
  KALMANSCAN_REQUIRE_GPU();
  const std::size_t steps = 5000;
  const Model model = testing::constant_velocity(2, 0.2, 0.5);
  const Measurements meas = testing::cv_log(2, steps);
  const testing::CvInputs<float> in(model, meas);
  const int n = in.n;
  const std::size_t nn = std::size_t(n) * n;
  int device = 0;
  ASSERT_EQ(cudaGetDevice(&device), cudaSuccess);
  cudaMemPool_t default_pool{};
  ASSERT_EQ(cudaDeviceGetDefaultMemPool(&default_pool, device), cudaSuccess);
  std::uint64_t high = 0;
  ASSERT_EQ(cudaMemPoolSetAttribute(default_pool, cudaMemPoolAttrUsedMemHigh, &high), cudaSuccess);
  auto run = [&] {
    std::vector<float> fm(steps * n), fc(steps * nn), sm(steps * n), sc(steps * nn);
    std::size_t failed = 0;
    const gpu::FilterProblem<float> fp{steps, {in.F.data(), in.Q.data(), in.c.data(), true}, in.Psi.data(),
                                       in.psi.data(), in.m0.data(), in.P0.data(), false, false};
    EXPECT_TRUE(gpu::filter<float>(n, fp, fm.data(), fc.data(), &failed).ok());
    const gpu::SmoothProblem<float> sp{steps, {in.F.data(), in.Q.data(), in.c.data(), true}, fm.data(), fc.data()};
    EXPECT_TRUE(gpu::smooth<float>(n, sp, sm.data(), sc.data(), &failed).ok());
    EXPECT_EQ(failed, steps);
    fm.insert(fm.end(), fc.begin(), fc.end()), fm.insert(fm.end(), sm.begin(), sm.end());
    fm.insert(fm.end(), sc.begin(), sc.end());
    return fm;
  };
  const std::vector<float> first = run();
  const gpu::PoolMemory cached = gpu::pool_memory();
  // At least the host wrapper's device copy of the covariances (steps n² floats) stays cached.
  EXPECT_GE(cached.reserved, steps * nn * sizeof(float));
  EXPECT_EQ(cached.used, 0u);
  ASSERT_EQ(cudaMemPoolGetAttribute(default_pool, cudaMemPoolAttrUsedMemHigh, &high), cudaSuccess);
  EXPECT_EQ(high, 0u) << "the default pool served an allocation";
  ASSERT_TRUE(gpu::release_cached_memory().ok());
  EXPECT_EQ(gpu::pool_memory().reserved, 0u);
  EXPECT_EQ(run(), first);
  EXPECT_GE(gpu::pool_memory().reserved, steps * nn * sizeof(float));
}
#endif

// A breakdown is reported with its step, never as silent NaN: a prior that overflows float.
TEST(Gpu, NonFiniteFloatReportedAtItsStep) {
  KALMANSCAN_REQUIRE_GPU();
  for (int n : {4, 8}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    Model model = testing::random_model(n, {1}, 55 + n);
    model.m0[0] = 1e39;  // finite in double, infinite in float
    const Measurements meas = testing::simulate(model, 50, {1}, 0.0, 56 + n);
    try {
      parallel_filter<float>(model, meas, std::nullopt, nullptr, cuda);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("step 0"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace kalmanscan::filters
