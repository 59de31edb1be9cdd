// The engine's fixed-size linear algebra (small_linalg.hpp) against Eigen on random matrices of
// sizes 1, 2, 3, 4, 6, 12, in float and double. Eigen's reference runs in double on the same
// (float-rounded) inputs, so float results are judged against the exact answer to their inputs.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cstdint>
#include <type_traits>

#include "kalmanscan/scan/small_linalg.hpp"
#include "scan_test_support.hpp"

namespace kalmanscan::scan::test {
namespace {

template <class T, int N>
struct Size {
  using scalar = T;
  static constexpr int n = N;
};

using SizeTypes = ::testing::Types<Size<double, 1>, Size<double, 2>, Size<double, 3>, Size<double, 4>, Size<double, 6>,
                                   Size<double, 12>, Size<float, 1>, Size<float, 2>, Size<float, 3>, Size<float, 4>,
                                   Size<float, 6>, Size<float, 12>>;

struct SizeNames {
  template <class S>
  static std::string GetName(int) {
    return std::string(std::is_same_v<typename S::scalar, float> ? "float_" : "double_") + std::to_string(S::n);
  }
};

using Dense = Eigen::MatrixXd;

template <class T, int R, int C>
Dense to_eigen(const Mat<T, R, C>& m) {
  Dense d(R, C);
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) d(i, j) = double(m(i, j));
  return d;
}

template <class T, int R, int C>
Mat<T, R, C> from_eigen(const Dense& d) {
  Mat<T, R, C> m;
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) m(i, j) = T(d(i, j));
  return m;
}

/// Entries uniform in [-1, 1), from `draws`.
Dense random_dense(int rows, int cols, Draws& draws) {
  Dense d(rows, cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) d(i, j) = draws.uniform(-1, 1);
  return d;
}

/// ‖actual − expected‖_F / ‖expected‖_F (absolute when expected is zero).
double normwise(const Dense& actual, const Dense& expected) {
  const double ref = expected.norm();
  return ref > 0 ? (actual - expected).norm() / ref : (actual - expected).norm();
}

/// Right-hand sides per solve.
constexpr int M = 3;

/// Allowed normwise error for the well-conditioned (cond ≲ 10) problems below.
template <class T, int N>
double tol() {
  return std::is_same_v<T, float> ? 5e-6 * N : 1e-14 * N;
}

template <class S>
class SmallLinalg : public ::testing::Test {};
TYPED_TEST_SUITE(SmallLinalg, SizeTypes, SizeNames);

TYPED_TEST(SmallLinalg, ProductsSumsTransposeSymmetrise) {
  using T = typename TypeParam::scalar;
  constexpr int N = TypeParam::n;
  const double tolerance = tol<T, N>();
  for (std::uint64_t trial = 0; trial < 5; ++trial) {
    Draws d(1, N, trial);
    const auto A = from_eigen<T, N, N>(random_dense(N, N, d));
    const auto B = from_eigen<T, N, N>(random_dense(N, N, d));
    const auto C = from_eigen<T, N, M>(random_dense(N, M, d));
    const Dense a = to_eigen(A), b = to_eigen(B), c = to_eigen(C);
    EXPECT_LE(normwise(to_eigen(A * B), a * b), tolerance) << "A B";
    EXPECT_LE(normwise(to_eigen(A * C), a * c), tolerance) << "A C (rectangular)";
    EXPECT_LE(normwise(to_eigen(A + B), a + b), tolerance) << "A + B";
    EXPECT_LE(normwise(to_eigen(A - B), a - b), tolerance) << "A - B";
    const auto Ct = transpose(C);
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < M; ++j) EXPECT_EQ(Ct(j, i), C(i, j)) << "transpose must be exact at (" << i << ", " << j << ")";
    const Dense s = to_eigen(symmetrise(A));
    EXPECT_TRUE(s.cwiseEqual(s.transpose()).all()) << "symmetrise must give an exactly symmetric matrix";
    EXPECT_LE(normwise(s, 0.5 * (a + a.transpose())), tolerance) << "(A + Aᵀ)/2";
  }
  EXPECT_TRUE(to_eigen(Mat<T, N, N>::identity()).cwiseEqual(Dense::Identity(N, N)).all());
  EXPECT_TRUE(to_eigen(Mat<T, N, M>::zero()).cwiseEqual(Dense::Zero(N, M)).all());
}

TYPED_TEST(SmallLinalg, LuSolveMatchesEigen) {
  using T = typename TypeParam::scalar;
  constexpr int N = TypeParam::n;
  const double tolerance = tol<T, N>();
  for (std::uint64_t trial = 0; trial < 10; ++trial) {
    Draws d(2, N, trial);
    // General (non-symmetric) matrix with a dominant diagonal of random sign: well conditioned,
    // and pivoting is exercised because the largest entry of a column is not always on the diagonal
    // in the first rows.
    Dense a = random_dense(N, N, d);
    for (int i = 0; i < N; ++i) a(i, (i + 1) % N) += (d.unit() < 0.5 ? -1 : 1) * 0.75 * N;
    const auto A = from_eigen<T, N, N>(a);
    const auto B = from_eigen<T, N, M>(random_dense(N, M, d));
    Mat<T, N, M> X;
    ASSERT_TRUE(lu_solve(A, B, X)) << "trial " << trial;
    const Dense expected = to_eigen(A).partialPivLu().solve(to_eigen(B));
    EXPECT_LE(normwise(to_eigen(X), expected), tolerance * 10) << "trial " << trial;
  }
  // An exactly singular matrix (a zero column) is reported, not divided by.
  Mat<T, N, N> S = Mat<T, N, N>::identity();
  S(N - 1, N - 1) = T(0);
  Mat<T, N, M> X;
  EXPECT_FALSE(lu_solve(S, Mat<T, N, M>::zero(), X));
}

TYPED_TEST(SmallLinalg, CholeskySolveMatchesEigen) {
  using T = typename TypeParam::scalar;
  constexpr int N = TypeParam::n;
  const double tolerance = tol<T, N>();
  for (std::uint64_t trial = 0; trial < 10; ++trial) {
    Draws d(3, N, trial);
    const Dense g = random_dense(N, N, d);
    const auto A = from_eigen<T, N, N>(g * g.transpose() / N + Dense::Identity(N, N));  // SPD, cond ≲ 10
    const auto B = from_eigen<T, N, M>(random_dense(N, M, d));
    Mat<T, N, M> X;
    ASSERT_TRUE(cholesky_solve(A, B, X)) << "trial " << trial;
    const Dense expected = to_eigen(A).llt().solve(to_eigen(B));
    EXPECT_LE(normwise(to_eigen(X), expected), tolerance) << "trial " << trial;
    Mat<T, N, N> L;
    ASSERT_TRUE(cholesky(A, L));
    EXPECT_LE(normwise(to_eigen(L), to_eigen(A).llt().matrixL().toDenseMatrix()), tolerance) << "factor L";
  }
  // Indefinite and NaN matrices are reported.
  Mat<T, N, N> S = Mat<T, N, N>::identity();
  S(N - 1, N - 1) = T(-1);
  Mat<T, N, M> X;
  EXPECT_FALSE(cholesky_solve(S, Mat<T, N, M>::zero(), X)) << "indefinite";
  S(N - 1, N - 1) = std::numeric_limits<T>::quiet_NaN();
  EXPECT_FALSE(cholesky_solve(S, Mat<T, N, M>::zero(), X)) << "NaN";
}

/// ldlt_solve in its default form or with reciprocal pivots (its Reciprocal parameter): every
/// LDLᵀ test below runs both.
template <class T, int N, int K>
int ldlt(bool reciprocal, const Mat<T, N, N>& A, const Mat<T, N, K>& B, Mat<T, N, K>& X, T rel_tol) {
  return reciprocal ? ldlt_solve<T, N, K, true>(A, B, X, rel_tol) : ldlt_solve<T, N, K, false>(A, B, X, rel_tol);
}

TYPED_TEST(SmallLinalg, LdltSolveOfPositiveDefiniteMatchesEigen) {
  using T = typename TypeParam::scalar;
  constexpr int N = TypeParam::n;
  const double tolerance = tol<T, N>();
  for (bool reciprocal : {false, true}) {
    for (std::uint64_t trial = 0; trial < 10; ++trial) {
      SCOPED_TRACE(reciprocal ? "reciprocal pivots" : "default");
      Draws d(4, N, trial);
      const Dense g = random_dense(N, N, d);
      const auto A = from_eigen<T, N, N>(g * g.transpose() / N + Dense::Identity(N, N));
      const auto B = from_eigen<T, N, M>(random_dense(N, M, d));
      Mat<T, N, M> X;
      EXPECT_EQ(ldlt(reciprocal, A, B, X, T(1e-4) * std::numeric_limits<T>::epsilon()), N) << "full rank";
      EXPECT_LE(normwise(to_eigen(X), to_eigen(A).ldlt().solve(to_eigen(B))), tolerance) << "trial " << trial;
    }
  }
}

/// Singular PSD A = L D Lᵀ with L unit lower triangular (off-diagonal entries ≤ 0.5/N, so the
/// null space is not aligned with the coordinates) and D ≥ 0 with zeros at random positions,
/// including the middle of the factorisation; right-hand sides in range(A). The guarded solve
/// finds the rank (the number of nonzero d_k) and an X with A X = B (any solution: they differ
/// by null-space terms).
TYPED_TEST(SmallLinalg, LdltSolveOfSingularPsdSolvesOnTheRange) {
  using T = typename TypeParam::scalar;
  constexpr int N = TypeParam::n;
  const double tolerance = tol<T, N>();
  const T rel_tol = std::is_same_v<T, float> ? T(1e-4) : T(1e-10);
  for (bool reciprocal : {false, true}) {
    for (std::uint64_t trial = 0; trial < 10; ++trial) {
      SCOPED_TRACE(reciprocal ? "reciprocal pivots" : "default");
      Draws d(5, N, trial);
      Dense l = Dense::Identity(N, N), dd = Dense::Zero(N, N);
      for (int i = 0; i < N; ++i)
        for (int j = 0; j < i; ++j) l(i, j) = d.uniform(-0.5, 0.5) / N;
      int rank = 0;
      for (int k = 0; k < N; ++k) {
        const bool zero = trial == 0 || d.unit() < 0.4;  // trial 0: A = 0
        dd(k, k) = zero ? 0.0 : d.uniform(0.5, 1.5);
        rank += zero ? 0 : 1;
      }
      const auto A = from_eigen<T, N, N>(l * dd * l.transpose());
      const Dense a = to_eigen(A);
      // B = A Y lies in range(A); computed in double from the rounded A.
      const Dense b = a * random_dense(N, M, d);
      Mat<T, N, M> X;
      EXPECT_EQ(ldlt(reciprocal, A, from_eigen<T, N, M>(b), X, rel_tol), rank) << "trial " << trial;
      const Dense x = to_eigen(X);
      EXPECT_TRUE(x.allFinite()) << "no division by a dropped pivot";
      EXPECT_LE(normwise(a * x, b), tolerance * 10) << "residual of A X = B, rank " << rank << ", trial " << trial;
    }
  }
}

/// When the null space is aligned with the dropped pivots (A = diag(A₁₁, 0)), the guarded solve
/// is the pseudo-inverse solution: X = [A₁₁⁻¹ B₁; 0], also for right-hand sides outside range(A).
TYPED_TEST(SmallLinalg, LdltSolveIsThePseudoInverseForAlignedNullSpace) {
  using T = typename TypeParam::scalar;
  constexpr int N = TypeParam::n;
  const double tolerance = tol<T, N>();
  constexpr int K = N / 2;  // kept block
  Draws d(6, N, 0);
  Dense a = Dense::Zero(N, N);
  if (K > 0) {
    const Dense g = random_dense(K, K, d);
    a.topLeftCorner(K, K) = g * g.transpose() / K + Dense::Identity(K, K);
  }
  const auto A = from_eigen<T, N, N>(a);
  const auto B = from_eigen<T, N, M>(random_dense(N, M, d));
  const Dense pinv_solution = to_eigen(A).completeOrthogonalDecomposition().solve(to_eigen(B));
  for (bool reciprocal : {false, true}) {
    SCOPED_TRACE(reciprocal ? "reciprocal pivots" : "default");
    Mat<T, N, M> X;
    EXPECT_EQ(ldlt(reciprocal, A, B, X, T(1e-6)), K);
    EXPECT_LE(normwise(to_eigen(X), pinv_solution), tolerance);
  }
}

}  // namespace
}  // namespace kalmanscan::scan::test
