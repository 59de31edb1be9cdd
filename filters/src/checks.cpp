#include "checks.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>

namespace kalmanscan::filters {

void fail(std::size_t step, const std::string& what) {
  if (step == no_step) throw Error("kalmanscan::filters: " + what);
  throw Error("kalmanscan::filters: step " + std::to_string(step) + ": " + what);
}

namespace detail {

std::string dims(Eigen::Index rows, Eigen::Index cols) { return std::to_string(rows) + "x" + std::to_string(cols); }

void check_shape(const Eigen::MatrixXd& m, Eigen::Index rows, Eigen::Index cols, std::size_t step, const std::string& name) {
  if (m.rows() != rows || m.cols() != cols)
    fail(step, name + " is " + dims(m.rows(), m.cols()) + ", expected " + dims(rows, cols));
  if (!m.allFinite()) fail(step, name + " (" + dims(rows, cols) + ") has a non-finite entry");
}

void check_covariance(const Eigen::MatrixXd& m, Eigen::Index n, std::size_t step, const std::string& name,
                      Definiteness kind) {
  check_shape(m, n, n, step, name);
  const double scale = m.cwiseAbs().maxCoeff();
  if ((m - m.transpose()).cwiseAbs().maxCoeff() > 1e-9 * scale)
    fail(step, name + " (" + dims(n, n) + ") is not symmetric");
  if (kind == Definiteness::positive) {
    if (n > 0 && Eigen::LLT<Eigen::MatrixXd>(m).info() != Eigen::Success)
      fail(step, name + " (" + dims(n, n) + ") is not positive definite");
    return;
  }
  if (n == 0 || scale == 0.0) return;
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(m, Eigen::EigenvaluesOnly);
  if (eig.eigenvalues().minCoeff() < -1e-10 * scale)
    fail(step, name + " (" + dims(n, n) + ") is not positive semi-definite (smallest eigenvalue " +
                   std::to_string(eig.eigenvalues().minCoeff()) + ")");
}

}  // namespace detail
}  // namespace kalmanscan::filters
