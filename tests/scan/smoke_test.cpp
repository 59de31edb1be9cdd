#include <gtest/gtest.h>
#include <vector>
#include "kalmanscan/scan/scan.hpp"
using namespace kalmanscan::scan;
TEST(Smoke, Affine) {
  std::vector<Affine<double>> in(100000, Affine<double>{0.5, 1.0}), out(in.size());
  scan<AffineOp<double>>(std::span<const Affine<double>>(in), std::span<Affine<double>>(out), Layout::single(in.size()), {.backend = Backend::threaded});
  EXPECT_NEAR(out.back().b, 2.0, 1e-12);
}
