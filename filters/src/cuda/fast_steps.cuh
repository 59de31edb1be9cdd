// The per-step recursions of the GPU fast paths (state sizes 2, 4, 6; fast_filter.cuh,
// fast_smooth.cuh), written for one thread that keeps everything in registers: a linear solve
// with partial pivoting by compare-and-swap (static indices only, so no matrix is demoted to
// local memory, unlike a row swap by a run-time index), the Kalman filter of a chunk whose
// starting state is either known or an unknown x_{s-1} (the latter yields the chunk's filtering
// element), and one RTS step. Host/device clean (KS_HD), so the CPU tests check the recursions
// against the sequential filter and the elements' operator without a GPU
// (tests/filters/fast_steps_test.cpp).
#pragma once

#include <cmath>

#include "kalmanscan/filters/parallel_elements.hpp"
#include "kalmanscan/scan/hd.hpp"

#if defined(__CUDA_ARCH__)  // the device pass only (GCC does not know the pragma)
#define KS_FAST_UNROLL _Pragma("unroll")
#else
#define KS_FAST_UNROLL
#endif

namespace kalmanscan::filters::gpu::fast {

using elements::Mat;
using elements::Vec;

/// B ← A⁻¹ B by Gaussian elimination with partial pivoting (the pivot row is brought up by
/// compare-and-swap with every row below, which selects the same pivot as a search). False
/// when a pivot is exactly zero (B is then unspecified).
template <class T, int N, int M>
KS_HD KS_INLINE bool solve_in_place(Mat<T, N, N> A, Mat<T, N, M>& B) {
  bool ok = true;
KS_FAST_UNROLL
  for (int k = 0; k < N; ++k) {
KS_FAST_UNROLL
    for (int i = k + 1; i < N; ++i) {
      const bool swap = std::abs(A(i, k)) > std::abs(A(k, k));
KS_FAST_UNROLL
      for (int j = k; j < N; ++j) {
        const T a = A(k, j), b = A(i, j);
        A(k, j) = swap ? b : a, A(i, j) = swap ? a : b;
      }
KS_FAST_UNROLL
      for (int j = 0; j < M; ++j) {
        const T a = B(k, j), b = B(i, j);
        B(k, j) = swap ? b : a, B(i, j) = swap ? a : b;
      }
    }
    ok = ok && A(k, k) != T(0);
    const T inv = T(1) / A(k, k);
    A(k, k) = inv;  // kept for the back substitution
KS_FAST_UNROLL
    for (int i = k + 1; i < N; ++i) {
      const T l = A(i, k) * inv;
KS_FAST_UNROLL
      for (int j = k + 1; j < N; ++j) A(i, j) -= l * A(k, j);
KS_FAST_UNROLL
      for (int j = 0; j < M; ++j) B(i, j) -= l * B(k, j);
    }
  }
KS_FAST_UNROLL
  for (int i = N - 1; i >= 0; --i)
KS_FAST_UNROLL
    for (int j = 0; j < M; ++j) {
      T s = B(i, j);
KS_FAST_UNROLL
      for (int k = i + 1; k < N; ++k) s -= A(i, k) * B(k, j);
      B(i, j) = s * A(i, i);
    }
  return ok;
}

/// FilterOp's solver for the scan over the chunks' elements (fast_filter.cuh, phase 2):
/// solve_in_place, whose row exchanges by compare-and-swap keep the matrices in registers, where
/// scan::lu_solve's exchange by the pivot's run-time index puts them in local memory (ptxas -v:
/// a 416-byte stack frame per thread in the double combine at state 4, ~1 300 local loads and
/// stores per combine in its PTX; 16 instead of 136 divisions per combine).
struct RegisterSolver {
  template <class D>
  KS_HD static bool solve_pair(const typename D::Mat& M, const typename D::Wide& RX, typename D::Wide& X,
                               const typename D::Narrow& RY, typename D::Narrow& Y, typename D::Lu&) {
    X = RX;
    const bool ok = solve_in_place(M, X);
    Y = RY;
    return solve_in_place(transpose(M), Y) && ok;
  }
};

/// The Kalman filter over a chunk of steps s … e in arithmetic T. With Affine, the state before
/// the chunk is an unknown x_{s-1}: the filtered mean is then affine in it, m_k = A x_{s-1} + b,
/// with covariance C, and the measurements' likelihood is the information pair (η, J) in
/// x_{s-1} — together the chunk's filtering element (A, b, C, η, J) of parallel_elements.hpp,
/// computed by one recursion instead of building and combining an element per step:
///   predict   A⁻ = F A,  b⁻ = F b + c,  C⁻ = F C Fᵀ + Q
///   update    D = I + C⁻Ψ,  r = ψ − Ψ b⁻,  [δ | C | A] = D⁻¹ [C⁻ r | C⁻ | A⁻],  b = b⁻ + δ
///             η += A⁻ᵀ D⁻ᵀ r = Aᵀ r,   J += A⁻ᵀ D⁻ᵀ Ψ A⁻ = A⁻ᵀ Ψ A
/// (z_k given x_{s-1} and the earlier measurements is N(H(A⁻x + b⁻) + d, H C⁻ Hᵀ + R), and
/// Hᵀ(H C⁻ Hᵀ + R)⁻¹ = (I + ΨC⁻)⁻¹ Hᵀ R⁻¹ = D⁻ᵀ Hᵀ R⁻¹ by the push-through identity; η and J
/// come from the one solve for A, since D⁻ᵀΨ = (I + ΨC⁻)⁻¹Ψ = Ψ(I + C⁻Ψ)⁻¹ = ΨD⁻¹, again by
/// push-through — one LU per step instead of two: 1874 instead of 2481 PTX instructions and 8
/// instead of 16 divisions in phase 1 at float state 4). Without Affine it is the ordinary
/// filter of a known (m, P) = (b, C): A, η, J are not kept. The mean is updated as a
/// correction of b⁻ by the innovation r = Hᵀ R⁻¹ (z − d − H b⁻), the gain form
/// b⁻ + K (z − d − H b⁻): solving for the whole D⁻¹ (b⁻ + C⁻ψ) instead gave float 3× the float
/// sequential filter's error over 64 steps (2.9e-7 vs 9.4e-8 on the benchmark's state-4 log).
template <class T, int N, bool Affine>
struct ChunkFilter {
  Mat<T, N, N> A;  ///< Affine only
  Vec<T, N> b;
  Mat<T, N, N> C;
  Vec<T, N> eta;   ///< Affine only
  Mat<T, N, N> J;  ///< Affine only
  bool ok = true;

  /// Starts from a known state N(m, P) (A = 0: the chunk that begins the sequence or continues it).
  KS_HD void start_known(const Vec<T, N>& m, const Mat<T, N, N>& P) {
    b = m, C = P;
    if constexpr (Affine) A = Mat<T, N, N>::zero(), eta = Vec<T, N>::zero(), J = Mat<T, N, N>::zero();
  }
  /// Starts from the unknown state before the chunk (A = I, b = 0, C = 0: the identity element).
  KS_HD void start_unknown() {
    static_assert(Affine, "an unknown start needs the affine filter");
    A = Mat<T, N, N>::identity(), b = Vec<T, N>::zero(), C = Mat<T, N, N>::zero();
    eta = Vec<T, N>::zero(), J = Mat<T, N, N>::zero();
  }

  KS_HD void predict(const Mat<T, N, N>& F, const Mat<T, N, N>& Q, const Vec<T, N>& c) {
    b = F * b + c;
    C = scan::symmetrise(F * C * transpose(F) + Q);
    if constexpr (Affine) A = F * A;
  }

  KS_HD void update(const Mat<T, N, N>& Psi, const Vec<T, N>& psi) {
    const Mat<T, N, N> D = Mat<T, N, N>::identity() + C * Psi;
    const Vec<T, N> r = psi - Psi * b;  // the innovation in information form
    constexpr int W = Affine ? 2 * N + 1 : N + 1;
    Mat<T, N, W> X;  // [C⁻ r | C⁻ | A⁻]
    const Vec<T, N> cr = C * r;
    KS_FAST_UNROLL
    for (int i = 0; i < N; ++i) {
      X(i, 0) = cr[i];
      KS_FAST_UNROLL
      for (int k = 0; k < N; ++k) {
        X(i, 1 + k) = C(i, k);
        if constexpr (Affine) X(i, 1 + N + k) = A(i, k);
      }
    }
    ok = solve_in_place(D, X) && ok;
    if constexpr (Affine) {
      // η += Aᵀ r,  J += A⁻ᵀ Ψ A  with A = D⁻¹A⁻ from the solve (the member A is still A⁻ here).
      Mat<T, N, N> An;
      KS_FAST_UNROLL
      for (int i = 0; i < N; ++i)
        KS_FAST_UNROLL
        for (int k = 0; k < N; ++k) An(i, k) = X(i, 1 + N + k);
      eta = eta + transpose(An) * r;
      J = scan::symmetrise(J + transpose(A) * (Psi * An));
    }
    KS_FAST_UNROLL
    for (int i = 0; i < N; ++i) {
      b[i] += X(i, 0);
      KS_FAST_UNROLL
      for (int k = 0; k < N; ++k) {
        C(i, k) = X(i, 1 + k);
        if constexpr (Affine) A(i, k) = X(i, 1 + N + k);
      }
    }
    C = scan::symmetrise(C);
  }

  /// The chunk's filtering element (Affine).
  KS_HD elements::FilterElement<T, N> element() const {
    static_assert(Affine, "only the affine filter has an element");
    return {A, b, C, eta, J, ok ? 0 : 1};
  }
};

/// One RTS step backwards: the smoothed N(ms, Ps) of step k from that of step k+1, step k's
/// filtered mean m, its prediction m⁻ = F m + c and its smoothing element (E, g, L):
///   ms ← m + E (ms − m⁻)  (= E ms + g, written as a correction of m: 1.1e-7 instead of 1.7e-7
///   float error over 64 steps on the benchmark's state-4 log),   Ps ← E Ps Eᵀ + L.
template <class T, int N>
KS_HD void rts_step(const elements::SmoothElement<T, N>& e, const Vec<T, N>& m, const Vec<T, N>& m_pred, Vec<T, N>& ms,
                    Mat<T, N, N>& Ps) {
  ms = m + e.E * (ms - m_pred);
  Ps = scan::symmetrise(e.E * Ps * transpose(e.E) + e.L);
}

}  // namespace kalmanscan::filters::gpu::fast
