// Fixed-size dense linear algebra that runs on the host and inside CUDA kernels (n <= 32).
//
// Eigen's decompositions are not device-callable, so operators use these. Every routine
// solves; none forms an inverse. Tested against Eigen on the host (tests/scan/small_linalg_test).
#pragma once

#include <cmath>
#include <cstddef>

#include "kalmanscan/scan/hd.hpp"

namespace kalmanscan::scan {

/// Row-major R x C matrix stored inline (trivially copyable, usable as a scan element).
template <class T, int R, int C>
struct Mat {
  T v[R * C];

  KS_HD static constexpr int rows() { return R; }
  KS_HD static constexpr int cols() { return C; }
  KS_HD T& operator()(int i, int j) { return v[i * C + j]; }
  KS_HD const T& operator()(int i, int j) const { return v[i * C + j]; }
  KS_HD T& operator[](int i) { return v[i]; }
  KS_HD const T& operator[](int i) const { return v[i]; }

  KS_HD static Mat zero() {
    Mat m;
    for (int k = 0; k < R * C; ++k) m.v[k] = T(0);
    return m;
  }
  KS_HD static Mat identity() {
    Mat m = zero();
    for (int k = 0; k < (R < C ? R : C); ++k) m(k, k) = T(1);
    return m;
  }
};

template <class T, int N>
using Vec = Mat<T, N, 1>;

template <class T, int R, int C>
KS_HD KS_INLINE Mat<T, R, C> operator+(const Mat<T, R, C>& a, const Mat<T, R, C>& b) {
  Mat<T, R, C> r;
  for (int k = 0; k < R * C; ++k) r.v[k] = a.v[k] + b.v[k];
  return r;
}

template <class T, int R, int C>
KS_HD KS_INLINE Mat<T, R, C> operator-(const Mat<T, R, C>& a, const Mat<T, R, C>& b) {
  Mat<T, R, C> r;
  for (int k = 0; k < R * C; ++k) r.v[k] = a.v[k] - b.v[k];
  return r;
}

template <class T, int R, int K, int C>
KS_HD KS_INLINE Mat<T, R, C> operator*(const Mat<T, R, K>& a, const Mat<T, K, C>& b) {
  Mat<T, R, C> r;
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) {
      T s = T(0);
      for (int k = 0; k < K; ++k) s += a(i, k) * b(k, j);
      r(i, j) = s;
    }
  return r;
}

template <class T, int R, int C>
KS_HD KS_INLINE Mat<T, C, R> transpose(const Mat<T, R, C>& a) {
  Mat<T, C, R> r;
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) r(j, i) = a(i, j);
  return r;
}

/// (A + Aᵀ) / 2: removes the asymmetry that rounding leaves in covariance products.
template <class T, int N>
KS_HD KS_INLINE Mat<T, N, N> symmetrise(const Mat<T, N, N>& a) {
  Mat<T, N, N> r;
  for (int i = 0; i < N; ++i)
    for (int j = 0; j < N; ++j) r(i, j) = T(0.5) * (a(i, j) + a(j, i));
  return r;
}

/// Solves A X = B by LU with partial pivoting (A general, e.g. I + C J in the filtering
/// element). Returns false, leaving X unspecified, when a pivot is exactly zero.
template <class T, int N, int M>
KS_HD bool lu_solve(Mat<T, N, N> A, Mat<T, N, M> B, Mat<T, N, M>& X) {
  for (int k = 0; k < N; ++k) {
    // Pivot: the largest remaining entry of column k.
    int p = k;
    T best = std::abs(A(k, k));
    for (int i = k + 1; i < N; ++i) {
      const T c = std::abs(A(i, k));
      if (c > best) best = c, p = i;
    }
    if (best == T(0)) return false;
    if (p != k) {
      for (int j = 0; j < N; ++j) { const T t = A(k, j); A(k, j) = A(p, j); A(p, j) = t; }
      for (int j = 0; j < M; ++j) { const T t = B(k, j); B(k, j) = B(p, j); B(p, j) = t; }
    }
    // Eliminate below the pivot, applying the same row operations to B.
    for (int i = k + 1; i < N; ++i) {
      const T l = A(i, k) / A(k, k);
      for (int j = k + 1; j < N; ++j) A(i, j) -= l * A(k, j);
      for (int j = 0; j < M; ++j) B(i, j) -= l * B(k, j);
    }
  }
  // Back substitution U X = B.
  for (int i = N - 1; i >= 0; --i)
    for (int j = 0; j < M; ++j) {
      T s = B(i, j);
      for (int k = i + 1; k < N; ++k) s -= A(i, k) * X(k, j);
      X(i, j) = s / A(i, i);
    }
  return true;
}

/// Cholesky factor L (lower, A = L Lᵀ) of a symmetric positive-definite A.
/// Returns false when A is not numerically positive definite.
template <class T, int N>
KS_HD bool cholesky(const Mat<T, N, N>& A, Mat<T, N, N>& L) {
  L = Mat<T, N, N>::zero();
  for (int j = 0; j < N; ++j) {
    T d = A(j, j);
    for (int k = 0; k < j; ++k) d -= L(j, k) * L(j, k);
    if (!(d > T(0))) return false;  // also rejects NaN
    const T ljj = std::sqrt(d);
    L(j, j) = ljj;
    for (int i = j + 1; i < N; ++i) {
      T s = A(i, j);
      for (int k = 0; k < j; ++k) s -= L(i, k) * L(j, k);
      L(i, j) = s / ljj;
    }
  }
  return true;
}

/// Solves A X = B for symmetric positive-definite A (A = L Lᵀ, two triangular solves).
template <class T, int N, int M>
KS_HD bool cholesky_solve(const Mat<T, N, N>& A, const Mat<T, N, M>& B, Mat<T, N, M>& X) {
  Mat<T, N, N> L;
  if (!cholesky(A, L)) return false;
  for (int j = 0; j < M; ++j) {
    for (int i = 0; i < N; ++i) {  // L y = b
      T s = B(i, j);
      for (int k = 0; k < i; ++k) s -= L(i, k) * X(k, j);
      X(i, j) = s / L(i, i);
    }
    for (int i = N - 1; i >= 0; --i) {  // Lᵀ x = y
      T s = X(i, j);
      for (int k = i + 1; k < N; ++k) s -= L(k, i) * X(k, j);
      X(i, j) = s / L(i, i);
    }
  }
  return true;
}

/// Guarded solve for symmetric positive SEMI-definite A (e.g. a singular Q): A = L D Lᵀ
/// without pivoting; pivots d_k <= tol * max|diag(A)| are treated as zero, and the
/// corresponding components of the solution are set to zero (a pseudo-inverse on the
/// range of A when the null space is aligned with the dropped pivots). Returns the
/// number of pivots kept (the numerical rank); never divides by a tiny pivot.
/// Reciprocal: each kept pivot inverted once and multiplied by (N divisions instead of
/// N(N−1)/2 + N·M; within a rounding of the quotients, for device code where a division is a
/// long instruction sequence).
template <class T, int N, int M, bool Reciprocal = false>
KS_HD int ldlt_solve(const Mat<T, N, N>& A, const Mat<T, N, M>& B, Mat<T, N, M>& X, T rel_tol) {
  Mat<T, N, N> L = Mat<T, N, N>::identity();
  T d[N];
  [[maybe_unused]] T inv[N];  // Reciprocal only: 1/d of the kept pivots
  bool kept[N];
  T scale = T(0);
  for (int i = 0; i < N; ++i) scale = std::abs(A(i, i)) > scale ? std::abs(A(i, i)) : scale;
  const T tol = rel_tol * scale;
  int rank = 0;
  for (int j = 0; j < N; ++j) {
    T dj = A(j, j);
    for (int k = 0; k < j; ++k) dj -= L(j, k) * L(j, k) * d[k];
    kept[j] = dj > tol;
    d[j] = kept[j] ? dj : T(0);
    rank += kept[j] ? 1 : 0;
    if constexpr (Reciprocal) inv[j] = kept[j] ? T(1) / dj : T(0);
    for (int i = j + 1; i < N; ++i) {
      T s = A(i, j);
      for (int k = 0; k < j; ++k) s -= L(i, k) * L(j, k) * d[k];
      if constexpr (Reciprocal)
        L(i, j) = kept[j] ? s * inv[j] : T(0);
      else
        L(i, j) = kept[j] ? s / dj : T(0);
    }
  }
  for (int c = 0; c < M; ++c) {
    T y[N];
    for (int i = 0; i < N; ++i) {  // L y = b
      T s = B(i, c);
      for (int k = 0; k < i; ++k) s -= L(i, k) * y[k];
      y[i] = s;
    }
    for (int i = 0; i < N; ++i) {  // D z = y
      if constexpr (Reciprocal)
        y[i] = kept[i] ? y[i] * inv[i] : T(0);
      else
        y[i] = kept[i] ? y[i] / d[i] : T(0);
    }
    for (int i = N - 1; i >= 0; --i) {  // Lᵀ x = z
      T s = y[i];
      for (int k = i + 1; k < N; ++k) s -= L(k, i) * X(k, c);
      X(i, c) = s;
    }
  }
  return rank;
}

}  // namespace kalmanscan::scan
