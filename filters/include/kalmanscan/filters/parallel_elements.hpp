// The scan elements of the parallel-in-time Kalman filter and RTS smoother (Särkkä &
// García-Fernández, "Temporal parallelization of Bayesian smoothers", IEEE TAC 66(1), 2021,
// Sec. IV: the filtering element (A, b, C, η, J) with its associative operator, and the
// smoothing element (E, g, L) with its operator), as engine operators (kalmanscan/scan/operator.hpp).
//
// Written once for every backend: templates on the scalar T and the state size N over the
// engine's fixed-size kalmanscan::scan::Mat, host/device clean (KS_HD, no Eigen, no
// exceptions). A numerical breakdown inside an element (a zero pivot) sets `failed`, which
// every later combine propagates; the host checks it after the scan and throws there.
//
// Meaning of a filtering element: p(x_k | x_{k-1}, z_k) = N(x_k; A x_{k-1} + b, C) together with
// the likelihood of z_k as an information pair in x_{k-1}, ∝ exp(-½ xᵀJx + ηᵀx). A prefix
// a_0 ∘ … ∘ a_k has A = 0, b = m_{k|k}, C = P_{k|k} when a_0 is built from the prior.
// A smoothing element: p(x_k | x_{k+1}, z_0..k) = N(x_k; E x_{k+1} + g, L); the suffix
// a_k ∘ … ∘ a_{T-1} (a reverse scan) has E = 0, g = m_{k|T-1}, L = P_{k|T-1}.
//
// Measurements enter through their information Ψ = Σ Hᵀ R⁻¹ H and ψ = Σ Hᵀ R⁻¹ (z - d)
// (summed over the sensors and measured components of the step; 0 when nothing is measured).
// The paper's element is written with the gain K = Q Hᵀ (H Q Hᵀ + R)⁻¹; with the push-through
// identities (I - K H) = (I + Q Ψ)⁻¹ and Hᵀ (H Q Hᵀ + R)⁻¹ H = (I + Ψ Q)⁻¹ Ψ it becomes
//   D = I + Q Ψ:   A = D⁻¹ F,   b = D⁻¹ (c + Q ψ),   C = D⁻¹ Q,
//                  J = Fᵀ D⁻ᵀ Ψ F,   η = Fᵀ D⁻ᵀ (ψ - Ψ c),
// identical algebra, but additive over sensors and free of any m × m solve, so a step may
// carry any subset of sensors or components. D = I + QΨ is nonsingular for PSD Q and Ψ
// (its eigenvalues are 1 + λ(QΨ) ≥ 1), so a singular Q works and C is never inverted.
#pragma once

#include <limits>

#include "kalmanscan/scan/hd.hpp"
#include "kalmanscan/scan/small_linalg.hpp"

namespace kalmanscan::filters::elements {

using scan::Mat;
using scan::Vec;

/// The information of a step's measurements: Ψ = Σ Hᵀ R⁻¹ H, ψ = Σ Hᵀ R⁻¹ (z - d).
template <class T, int N>
struct StepInformation {
  Mat<T, N, N> Psi;
  Vec<T, N> psi;
};

template <class T, int N>
struct FilterElement {
  Mat<T, N, N> A;
  Vec<T, N> b;
  Mat<T, N, N> C;
  Vec<T, N> eta;
  Mat<T, N, N> J;
  int failed;  ///< nonzero when a solve in this element or an earlier combine broke down
};

template <class T, int N>
struct SmoothElement {
  Mat<T, N, N> E;
  Vec<T, N> g;
  Mat<T, N, N> L;
};

/// FilterOp's default solver of A X = B: scan::lu_solve.
struct LuSolver {
  template <class T, int N, int M>
  KS_HD static bool solve(const Mat<T, N, N>& A, const Mat<T, N, M>& B, Mat<T, N, M>& X) {
    return scan::lu_solve(A, B, X);
  }
};

/// The filtering operator (Särkkä & García-Fernández 2021, Sec. IV-A), for a_i earlier, a_j later:
///   M   = I + C_i J_j
///   A_ij = A_j M⁻¹ A_i                    b_ij = A_j M⁻¹ (b_i + C_i η_j) + b_j
///   C_ij = A_j M⁻¹ C_i A_jᵀ + C_j          η_ij = A_iᵀ M⁻ᵀ (η_j - J_j b_i) + η_i
///   J_ij = A_iᵀ M⁻ᵀ J_j A_i + J_i          (M⁻ᵀ = (I + J_j C_i)⁻¹; both by LU solves)
/// Identity: (I, 0, 0, 0, 0). Solver: how the two solves are done (LuSolver: scan::lu_solve; the
/// GPU fast paths may use one that keeps its matrices in registers, cuda/fast_steps.cuh).
template <class T, int N, class Solver = LuSolver>
struct FilterOp {
  using element = FilterElement<T, N>;

  KS_HD static element identity() {
    return {Mat<T, N, N>::identity(), Vec<T, N>::zero(), Mat<T, N, N>::zero(), Vec<T, N>::zero(), Mat<T, N, N>::zero(), 0};
  }

  KS_HD static element combine(const element& ei, const element& ej) {
    const Mat<T, N, N> M = Mat<T, N, N>::identity() + ei.C * ej.J;
    // X = M⁻¹ [A_i | b_i + C_i η_j | C_i].
    const Vec<T, N> bc = ei.b + ei.C * ej.eta;
    Mat<T, N, 2 * N + 1> rx, X;
    for (int r = 0; r < N; ++r) {
      for (int k = 0; k < N; ++k) rx(r, k) = ei.A(r, k), rx(r, N + 1 + k) = ei.C(r, k);
      rx(r, N) = bc[r];
    }
    bool ok = Solver::solve(M, rx, X);
    // Y = M⁻ᵀ [η_j - J_j b_i | J_j A_i].
    const Vec<T, N> ej_jb = ej.eta - ej.J * ei.b;
    const Mat<T, N, N> JA = ej.J * ei.A;
    Mat<T, N, N + 1> ry, Y;
    for (int r = 0; r < N; ++r) {
      ry(r, 0) = ej_jb[r];
      for (int k = 0; k < N; ++k) ry(r, 1 + k) = JA(r, k);
    }
    ok = Solver::solve(transpose(M), ry, Y) && ok;
    Mat<T, N, N> XA, XC, YJ;
    Vec<T, N> xb, ye;
    for (int r = 0; r < N; ++r) {
      for (int k = 0; k < N; ++k) XA(r, k) = X(r, k), XC(r, k) = X(r, N + 1 + k), YJ(r, k) = Y(r, 1 + k);
      xb[r] = X(r, N), ye[r] = Y(r, 0);
    }
    const Mat<T, N, N> AiT = transpose(ei.A);
    element out;
    out.A = ej.A * XA;
    out.b = ej.A * xb + ej.b;
    out.C = scan::symmetrise(ej.A * XC * transpose(ej.A) + ej.C);
    out.eta = AiT * ye + ei.eta;
    out.J = scan::symmetrise(AiT * YJ + ei.J);
    out.failed = ei.failed | ej.failed | (ok ? 0 : 1);
    return out;
  }
};

/// The smoothing operator (Sec. IV-B), a_i earlier, a_j later:
///   E_ij = E_i E_j,   g_ij = E_i g_j + g_i,   L_ij = E_i L_j E_iᵀ + L_i.   Identity: (I, 0, 0).
template <class T, int N>
struct SmoothOp {
  using element = SmoothElement<T, N>;
  KS_HD static element identity() { return {Mat<T, N, N>::identity(), Vec<T, N>::zero(), Mat<T, N, N>::zero()}; }
  KS_HD static element combine(const element& ei, const element& ej) {
    return {ei.E * ej.E, ei.E * ej.g + ei.g, scan::symmetrise(ei.E * ej.L * transpose(ei.E) + ei.L)};
  }
};

/// The element of a step k ≥ 1 given the transition (F, Q, c) into it (c includes B u) and the
/// step's measurement information (see the header comment; missing measurements: Ψ = 0, ψ = 0
/// give the pure prediction element (F, c, Q, 0, 0)).
template <class T, int N>
KS_HD FilterElement<T, N> filter_element(const Mat<T, N, N>& F, const Mat<T, N, N>& Q, const Vec<T, N>& c,
                                         const StepInformation<T, N>& z) {
  const Mat<T, N, N> D = Mat<T, N, N>::identity() + Q * z.Psi;
  // [A | b | C] = D⁻¹ [F | c + Q ψ | Q].
  const Vec<T, N> cq = c + Q * z.psi;
  Mat<T, N, 2 * N + 1> rx, X;
  for (int r = 0; r < N; ++r) {
    for (int k = 0; k < N; ++k) rx(r, k) = F(r, k), rx(r, N + 1 + k) = Q(r, k);
    rx(r, N) = cq[r];
  }
  bool ok = scan::lu_solve(D, rx, X);
  // [w | W] = D⁻ᵀ [ψ - Ψ c | Ψ];  η = Fᵀ w,  J = Fᵀ W F.
  const Vec<T, N> pc = z.psi - z.Psi * c;
  Mat<T, N, N + 1> ry, Y;
  for (int r = 0; r < N; ++r) {
    ry(r, 0) = pc[r];
    for (int k = 0; k < N; ++k) ry(r, 1 + k) = z.Psi(r, k);
  }
  ok = scan::lu_solve(transpose(D), ry, Y) && ok;
  FilterElement<T, N> e;
  Mat<T, N, N> W;
  Vec<T, N> w;
  for (int r = 0; r < N; ++r) {
    for (int k = 0; k < N; ++k) e.A(r, k) = X(r, k), e.C(r, k) = X(r, N + 1 + k), W(r, k) = Y(r, 1 + k);
    e.b[r] = X(r, N), w[r] = Y(r, 0);
  }
  const Mat<T, N, N> FT = transpose(F);
  e.C = scan::symmetrise(e.C);
  e.eta = FT * w;
  e.J = scan::symmetrise(FT * W * F);
  e.failed = ok ? 0 : 1;
  return e;
}

/// The first element of a fresh sequence, from the prior N(m0, P0) at the first step (no
/// prediction): the update of the prior, A = 0, b = (I + P0 Ψ)⁻¹ (m0 + P0 ψ), C = (I + P0 Ψ)⁻¹ P0,
/// η = 0, J = 0.
template <class T, int N>
KS_HD FilterElement<T, N> first_filter_element(const Vec<T, N>& m0, const Mat<T, N, N>& P0, const StepInformation<T, N>& z) {
  const FilterElement<T, N> u = filter_element(Mat<T, N, N>::zero(), P0, m0, z);
  return {Mat<T, N, N>::zero(), u.b, u.C, Vec<T, N>::zero(), Mat<T, N, N>::zero(), u.failed};
}

/// A filtered posterior N(m, P) as an element (0, m, P, 0, 0): the engine carry-in of a chunk
/// that continues a sequence (its first element is then an ordinary filter_element).
template <class T, int N>
KS_HD FilterElement<T, N> posterior_element(const Vec<T, N>& m, const Mat<T, N, N>& P) {
  return {Mat<T, N, N>::zero(), m, P, Vec<T, N>::zero(), Mat<T, N, N>::zero(), 0};
}

/// Relative pivot tolerance of the smoother's guarded LDLᵀ solve.
template <class T>
KS_HD constexpr T smoother_pivot_tolerance() {
  return T(64) * std::numeric_limits<T>::epsilon();
}

/// The smoothing element of step k < T-1 from its filtered N(m, P) and the transition (F, Q, c)
/// out of it (Sec. IV-B):  P⁻ = F P Fᵀ + Q,  E = P Fᵀ (P⁻)⁺,  g = m - E (F m + c),  L = P - E F P.
/// (P⁻)⁺ is applied by scan::ldlt_solve (Eᵀ = (P⁻)⁺ F P), which drops pivots below
/// smoother_pivot_tolerance·max diag: a singular P⁻ acts as a pseudo-inverse on its range.
/// ReciprocalPivots: the solve's Reciprocal form (the GPU fast paths' variant).
template <class T, int N, bool ReciprocalPivots = false>
KS_HD SmoothElement<T, N> smooth_element(const Mat<T, N, N>& F, const Mat<T, N, N>& Q, const Vec<T, N>& c,
                                         const Vec<T, N>& m, const Mat<T, N, N>& P) {
  const Mat<T, N, N> FP = F * P;
  const Mat<T, N, N> Pp = scan::symmetrise(FP * transpose(F) + Q);
  Mat<T, N, N> ET;
  scan::ldlt_solve<T, N, N, ReciprocalPivots>(Pp, FP, ET, smoother_pivot_tolerance<T>());
  SmoothElement<T, N> e;
  e.E = transpose(ET);
  e.g = m - e.E * (F * m + c);
  e.L = scan::symmetrise(P - e.E * FP);
  return e;
}

/// The last element of a log, (0, m_{T-1|T-1}, P_{T-1|T-1}); also the reverse carry-in
/// (0, m, P) of a chunk given the smoothed state after it.
template <class T, int N>
KS_HD SmoothElement<T, N> last_smooth_element(const Vec<T, N>& m, const Mat<T, N, N>& P) {
  return {Mat<T, N, N>::zero(), m, P};
}

}  // namespace kalmanscan::filters::elements
