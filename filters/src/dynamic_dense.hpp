// The dense algebra of the run-time state size (host only): parallel_elements.hpp's Dense for
// N = dynamic_size, over Eigen's heap matrices. The element builders and operators of
// parallel_elements.hpp run on it unchanged; their `*_into` forms write into elements and
// scratch whose storage is reused, so once sized nothing here allocates per combine (products
// evaluate with noalias into their destination, the LU and LDLᵀ factorisations into storage
// kept in the scratch; Eigen's product kernels use stack blocks up to its stack limit).
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include "kalmanscan/filters/kalman_steps.hpp"
#include "kalmanscan/filters/parallel_elements.hpp"

namespace kalmanscan::filters::elements {

template <class T>
struct Dense<T, dynamic_size> {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  using Wide = Mat;
  using Narrow = Mat;
  /// The factorisations kept from call to call: the LU of M (serving M⁻¹ and M⁻ᵀ) with its row
  /// transpositions; the smoother's LDLᵀ of P⁻.
  struct Lu {
    Mat lu;
    Eigen::Transpositions<Eigen::Dynamic> p;
    Eigen::LDLT<Mat> ldlt;
  };

  static int size(const Mat& m) { return int(m.rows()); }
  template <class X>
  static void resize(X& x, int rows, int cols) {
    x.resize(rows, cols);
  }
  static Mat zero_mat(int n) { return Mat::Zero(n, n); }
  static Vec zero_vec(int n) { return Vec::Zero(n); }
  static Mat identity_mat(int n) { return Mat::Identity(n, n); }
  template <class X>
  static void set_zero(X& x) {
    x.setZero();
  }
  template <class A, class B, class O>
  static void mul(const A& a, const B& b, O& out) {
    out.noalias() = a * b;
  }
  template <class A, class B, class O>
  static void mul_tn(const A& a, const B& b, O& out) {
    out.noalias() = a.transpose() * b;
  }
  template <class A, class B, class O>
  static void mul_nt(const A& a, const B& b, O& out) {
    out.noalias() = a * b.transpose();
  }
  template <class X>
  static void add_to(X& out, const X& x) {
    out += x;
  }
  static void add_identity(Mat& m) { m.diagonal().array() += T(1); }
  static void symmetrise(Mat& m) { steps::symmetrise(m); }
  static void transpose_into(const Mat& a, Mat& out) { out = a.transpose(); }

  /// P A = L U in place, partial pivoting (A's strict lower part becomes L, whose unit diagonal
  /// is implied; P as transpositions); false when a pivot is exactly zero (as scan::lu_solve),
  /// leaving A and P unspecified. Unblocked rank-1 updates: no allocation (Eigen's PartialPivLU
  /// allocates in its transposed solve).
  static bool lu_in_place(Mat& A, Eigen::Transpositions<Eigen::Dynamic>& P) {
    const Eigen::Index n = A.rows();
    P.resize(n);
    for (Eigen::Index k = 0; k < n; ++k) {
      Eigen::Index p = 0;
      if (A.col(k).tail(n - k).cwiseAbs().maxCoeff(&p) == T(0)) return false;
      p += k;
      P.indices()[k] = int(p);
      if (p != k) A.row(k).swap(A.row(p));
      const Eigen::Index rest = n - k - 1;
      A.col(k).tail(rest) /= A(k, k);
      A.bottomRightCorner(rest, rest).noalias() -= A.col(k).tail(rest) * A.row(k).tail(rest);
    }
    return true;
  }

  /// X = M⁻¹ RX and Y = M⁻ᵀ RY from one LU of M (P M = L U, so Mᵀ = Uᵀ Lᵀ P); false when a
  /// pivot is exactly zero.
  static bool solve_pair(const Mat& M, const Mat& RX, Mat& X, const Mat& RY, Mat& Y, Lu& f) {
    f.lu = M;
    if (!lu_in_place(f.lu, f.p)) return false;
    X.noalias() = f.p * RX;
    f.lu.template triangularView<Eigen::UnitLower>().solveInPlace(X);
    f.lu.template triangularView<Eigen::Upper>().solveInPlace(X);
    Y = RY;
    f.lu.template triangularView<Eigen::Upper>().transpose().solveInPlace(Y);
    f.lu.template triangularView<Eigen::UnitLower>().transpose().solveInPlace(Y);
    Y = f.p.transpose() * Y;
    return true;
  }

  /// X = A⁺ B for symmetric PSD A by a pivoted LDLᵀ (Eigen), dropping pivots d_k ≤
  /// rel_tol · max|diag A| (components of the solution set to zero), the rule of scan::ldlt_solve.
  template <bool ReciprocalPivots = false>
  static void psd_solve(const Mat& A, const Mat& B, Mat& X, T rel_tol, Lu& f) {
    static_assert(!ReciprocalPivots, "the reciprocal-pivot form is the compiled sizes' (GPU fast paths)");
    Eigen::LDLT<Mat>& ldlt = f.ldlt;
    ldlt.compute(A);
    const T tol = rel_tol * A.diagonal().cwiseAbs().maxCoeff();
    // X = Pᵀ L⁻ᵀ D⁺ L⁻¹ P B.
    X.noalias() = ldlt.transpositionsP() * B;
    ldlt.matrixL().solveInPlace(X);
    const auto d = ldlt.vectorD();
    for (Eigen::Index i = 0; i < X.rows(); ++i) {
      if (d[i] > tol)
        X.row(i) /= d[i];
      else
        X.row(i).setZero();
    }
    ldlt.matrixU().solveInPlace(X);
    X = ldlt.transpositionsP().transpose() * X;
  }
};

template <class T>
struct SizeOf<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>> {
  using scalar = T;
  static constexpr int n = dynamic_size;
};

}  // namespace kalmanscan::filters::elements
