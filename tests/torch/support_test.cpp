// The tests' own measure of error (support.hpp): a shape mismatch is a failure naming both shapes,
// never a broadcast that compares a column against a whole matrix.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "support.hpp"

namespace kalmanscan::kla::nn {
namespace {

using testing::rel_error;

TEST(RelError, IsNormwiseAndZeroForEqualTensors) {
  const auto ref = torch::tensor({3.0, 4.0}, torch::kDouble);
  EXPECT_EQ(rel_error(ref, ref), 0.0);
  EXPECT_DOUBLE_EQ(rel_error(torch::tensor({3.0, 5.0}, torch::kDouble), ref), 1.0 / 5.0);
  // Where the reference is exactly zero, the absolute norm of what was got.
  EXPECT_DOUBLE_EQ(rel_error(torch::tensor({0.0, 2.0}, torch::kDouble), torch::zeros({2}, torch::kDouble)), 2.0);
}

TEST(RelError, ShapeMismatchFailsNamingBothShapes) {
  // A column equal to every column of the reference would broadcast to an error of 0.
  const auto ref = torch::ones({2, 3}, torch::kDouble), got = torch::ones({2, 1}, torch::kDouble);
  double err = 0;
  EXPECT_NONFATAL_FAILURE(err = rel_error(got, ref), "got has shape [2, 1], the reference [2, 3]");
  EXPECT_TRUE(std::isinf(err));
  EXPECT_NONFATAL_FAILURE(rel_error(torch::ones({6}, torch::kDouble), ref), "[6]");
}

}  // namespace
}  // namespace kalmanscan::kla::nn
