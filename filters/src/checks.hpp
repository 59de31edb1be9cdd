// Input checks shared by the filters (private). Each throws Error naming the step (or
// no_step), the quantity and its dimensions.
#pragma once

#include <cstddef>
#include <string>

#include <Eigen/Core>

#include "kalmanscan/filters/error.hpp"

namespace kalmanscan::filters::detail {

std::string dims(Eigen::Index rows, Eigen::Index cols);

/// Requires rows × cols (a vector: cols = 1) and finite entries.
void check_shape(const Eigen::MatrixXd& m, Eigen::Index rows, Eigen::Index cols, std::size_t step, const std::string& name);

enum class Definiteness { semi, positive };
/// Requires an n × n, finite, symmetric matrix that is positive semi-definite (smallest
/// eigenvalue ≥ -1e-10·largest) or positive definite (LLT succeeds).
void check_covariance(const Eigen::MatrixXd& m, Eigen::Index n, std::size_t step, const std::string& name,
                      Definiteness kind);

}  // namespace kalmanscan::filters::detail
