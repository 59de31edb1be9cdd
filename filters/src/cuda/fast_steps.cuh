// The per-step recursions of the GPU fast paths (state sizes 2, 4, 6; fast_filter.cuh,
// fast_smooth.cuh), written for one thread that keeps everything in registers: a linear solve
// with partial pivoting by compare-and-swap (static indices only, so no matrix is demoted to
// local memory, unlike a row swap by a run-time index), the Kalman filter of a chunk whose
// starting state is either known or an unknown x_{s-1} (the latter yields the chunk's filtering
// element), and one RTS step.
#pragma once

#include <cmath>

#include "kalmanscan/filters/parallel_elements.hpp"

namespace kalmanscan::filters::gpu::fast {

using elements::Mat;
using elements::Vec;

/// B ← A⁻¹ B by Gaussian elimination with partial pivoting (the pivot row is brought up by
/// compare-and-swap with every row below, which selects the same pivot as a search). False
/// when a pivot is exactly zero (B is then unspecified).
template <class T, int N, int M>
__device__ __forceinline__ bool solve_in_place(Mat<T, N, N> A, Mat<T, N, M>& B) {
  bool ok = true;
#pragma unroll
  for (int k = 0; k < N; ++k) {
#pragma unroll
    for (int i = k + 1; i < N; ++i) {
      const bool swap = std::abs(A(i, k)) > std::abs(A(k, k));
#pragma unroll
      for (int j = k; j < N; ++j) {
        const T a = A(k, j), b = A(i, j);
        A(k, j) = swap ? b : a, A(i, j) = swap ? a : b;
      }
#pragma unroll
      for (int j = 0; j < M; ++j) {
        const T a = B(k, j), b = B(i, j);
        B(k, j) = swap ? b : a, B(i, j) = swap ? a : b;
      }
    }
    ok = ok && A(k, k) != T(0);
    const T inv = T(1) / A(k, k);
    A(k, k) = inv;  // kept for the back substitution
#pragma unroll
    for (int i = k + 1; i < N; ++i) {
      const T l = A(i, k) * inv;
#pragma unroll
      for (int j = k + 1; j < N; ++j) A(i, j) -= l * A(k, j);
#pragma unroll
      for (int j = 0; j < M; ++j) B(i, j) -= l * B(k, j);
    }
  }
#pragma unroll
  for (int i = N - 1; i >= 0; --i)
#pragma unroll
    for (int j = 0; j < M; ++j) {
      T s = B(i, j);
#pragma unroll
      for (int k = i + 1; k < N; ++k) s -= A(i, k) * B(k, j);
      B(i, j) = s * A(i, i);
    }
  return ok;
}

/// The Kalman filter over a chunk of steps s … e in arithmetic T. With Affine, the state before
/// the chunk is an unknown x_{s-1}: the filtered mean is then affine in it, m_k = A x_{s-1} + b,
/// with covariance C, and the measurements' likelihood is the information pair (η, J) in
/// x_{s-1} — together the chunk's filtering element (A, b, C, η, J) of parallel_elements.hpp,
/// computed by one recursion instead of building and combining an element per step:
///   predict   A⁻ = F A,  b⁻ = F b + c,  C⁻ = F C Fᵀ + Q
///   update    D = I + C⁻Ψ,   [A | b | C] = D⁻¹ [A⁻ | b⁻ + C⁻ψ | C⁻]
///             J += A⁻ᵀ D⁻ᵀ Ψ A⁻,   η += A⁻ᵀ D⁻ᵀ (ψ − Ψ b⁻)
/// (z_k given x_{s-1} and the earlier measurements is N(H(A⁻x + b⁻) + d, H C⁻ Hᵀ + R), and
/// Hᵀ(H C⁻ Hᵀ + R)⁻¹ = (I + ΨC⁻)⁻¹ Hᵀ R⁻¹ = D⁻ᵀ Hᵀ R⁻¹ by the push-through identity). Without
/// Affine it is the ordinary filter of a known (m, P) = (b, C): A, η, J are not kept.
template <class T, int N, bool Affine>
struct ChunkFilter {
  Mat<T, N, N> A;  ///< Affine only
  Vec<T, N> b;
  Mat<T, N, N> C;
  Vec<T, N> eta;   ///< Affine only
  Mat<T, N, N> J;  ///< Affine only
  bool ok = true;

  /// Starts from a known state N(m, P) (A = 0: the chunk that begins the sequence or continues it).
  __device__ void start_known(const Vec<T, N>& m, const Mat<T, N, N>& P) {
    b = m, C = P;
    if constexpr (Affine) A = Mat<T, N, N>::zero(), eta = Vec<T, N>::zero(), J = Mat<T, N, N>::zero();
  }
  /// Starts from the unknown state before the chunk (A = I, b = 0, C = 0: the identity element).
  __device__ void start_unknown() {
    static_assert(Affine, "an unknown start needs the affine filter");
    A = Mat<T, N, N>::identity(), b = Vec<T, N>::zero(), C = Mat<T, N, N>::zero();
    eta = Vec<T, N>::zero(), J = Mat<T, N, N>::zero();
  }

  __device__ void predict(const Mat<T, N, N>& F, const Mat<T, N, N>& Q, const Vec<T, N>& c) {
    b = F * b + c;
    C = scan::symmetrise(F * C * transpose(F) + Q);
    if constexpr (Affine) A = F * A;
  }

  __device__ void update(const Mat<T, N, N>& Psi, const Vec<T, N>& psi) {
    const Mat<T, N, N> D = Mat<T, N, N>::identity() + C * Psi;
    constexpr int W = Affine ? 2 * N + 1 : N + 1;
    Mat<T, N, W> X;  // [b⁻ + C⁻ψ | C⁻ | A⁻]
    const Vec<T, N> bc = b + C * psi;
#pragma unroll
    for (int r = 0; r < N; ++r) {
      X(r, 0) = bc[r];
#pragma unroll
      for (int k = 0; k < N; ++k) {
        X(r, 1 + k) = C(r, k);
        if constexpr (Affine) X(r, 1 + N + k) = A(r, k);
      }
    }
    if constexpr (Affine) {
      // [w | W] = D⁻ᵀ [ψ − Ψ b⁻ | Ψ] with the predicted b⁻ (before b is overwritten).
      const Vec<T, N> pb = psi - Psi * b;
      Mat<T, N, N + 1> Y;
#pragma unroll
      for (int r = 0; r < N; ++r) {
        Y(r, 0) = pb[r];
#pragma unroll
        for (int k = 0; k < N; ++k) Y(r, 1 + k) = Psi(r, k);
      }
      ok = solve_in_place(transpose(D), Y) && ok;
      Mat<T, N, N> Wm;
      Vec<T, N> w;
#pragma unroll
      for (int r = 0; r < N; ++r) {
        w[r] = Y(r, 0);
#pragma unroll
        for (int k = 0; k < N; ++k) Wm(r, k) = Y(r, 1 + k);
      }
      const Mat<T, N, N> AT = transpose(A);
      eta = eta + AT * w;
      J = scan::symmetrise(J + AT * Wm * A);
    }
    ok = solve_in_place(D, X) && ok;
#pragma unroll
    for (int r = 0; r < N; ++r) {
      b[r] = X(r, 0);
#pragma unroll
      for (int k = 0; k < N; ++k) {
        C(r, k) = X(r, 1 + k);
        if constexpr (Affine) A(r, k) = X(r, 1 + N + k);
      }
    }
    C = scan::symmetrise(C);
  }

  /// The chunk's filtering element (Affine).
  __device__ elements::FilterElement<T, N> element() const {
    static_assert(Affine, "only the affine filter has an element");
    return {A, b, C, eta, J, ok ? 0 : 1};
  }
};

/// One RTS step backwards: the smoothed N(ms, Ps) of step k from that of step k+1 and step
/// k's smoothing element (E, g, L):  ms ← E ms + g,  Ps ← E Ps Eᵀ + L.
template <class T, int N>
__device__ void rts_step(const elements::SmoothElement<T, N>& e, Vec<T, N>& ms, Mat<T, N, N>& Ps) {
  ms = e.E * ms + e.g;
  Ps = scan::symmetrise(e.E * Ps * transpose(e.E) + e.L);
}

}  // namespace kalmanscan::filters::gpu::fast
