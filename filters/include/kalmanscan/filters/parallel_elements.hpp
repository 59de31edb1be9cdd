// The scan elements of the parallel-in-time Kalman filter and RTS smoother (Särkkä &
// García-Fernández, "Temporal parallelization of Bayesian smoothers", IEEE TAC 66(1), 2021,
// Sec. IV: the filtering element (A, b, C, η, J) with its associative operator, and the
// smoothing element (E, g, L) with its operator), as engine operators (kalmanscan/scan/operator.hpp).
//
// Written once for every backend and state size: templates on the scalar T and the state size N
// over the dense algebra Dense<T, N> below — for a compiled N the engine's fixed-size
// kalmanscan::scan::Mat, host/device clean (KS_HD, no Eigen, no exceptions); for
// N = dynamic_size Eigen's heap matrices of a size chosen at run time (host only,
// filters/src/dynamic_dense.hpp). Every builder and combine writes into a caller's element and
// scratch (`*_into`), so the dynamic path reuses storage instead of allocating per combine; the
// by-value forms wrap them. A numerical breakdown inside an element (a zero pivot) sets
// `failed`, which every later combine propagates; the host checks it after the scan and throws.
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

/// The state size N of the run-time-size path (Dense<T, dynamic_size> in dynamic_dense.hpp).
inline constexpr int dynamic_size = -1;

/// The dense algebra of a compiled state size N: scan::Mat stored inline. The element code below
/// uses only these members, so Dense<T, dynamic_size> (Eigen) runs the same code. Products write
/// into an output that aliases neither operand.
template <class T, int N>
struct Dense {
  static_assert(N > 0, "Dense<T, dynamic_size> is in filters/src/dynamic_dense.hpp");
  using Mat = scan::Mat<T, N, N>;
  using Vec = scan::Vec<T, N>;
  using Wide = scan::Mat<T, N, 2 * N + 1>;  ///< n × (2n+1): stacked right-hand sides
  using Narrow = scan::Mat<T, N, N + 1>;    ///< n × (n+1)
  struct Lu {};                             ///< no factorisation kept between calls

  KS_HD static constexpr int size(const Mat&) { return N; }
  template <class X>
  KS_HD static void resize(X&, int, int) {}
  KS_HD static Mat zero_mat(int) { return Mat::zero(); }
  KS_HD static Vec zero_vec(int) { return Vec::zero(); }
  KS_HD static Mat identity_mat(int) { return Mat::identity(); }
  template <class X>
  KS_HD static void set_zero(X& x) { x = X::zero(); }
  template <class A, class B, class O>
  KS_HD static void mul(const A& a, const B& b, O& out) { out = a * b; }  ///< out = a b
  template <class A, class B, class O>
  KS_HD static void mul_tn(const A& a, const B& b, O& out) { out = transpose(a) * b; }  ///< out = aᵀ b
  template <class A, class B, class O>
  KS_HD static void mul_nt(const A& a, const B& b, O& out) { out = a * transpose(b); }  ///< out = a bᵀ
  template <class X>
  KS_HD static void add_to(X& out, const X& x) { out = out + x; }
  KS_HD static void add_identity(Mat& m) {
    for (int k = 0; k < N; ++k) m(k, k) += T(1);
  }
  KS_HD static void symmetrise(Mat& m) { m = scan::symmetrise(m); }
  KS_HD static void transpose_into(const Mat& a, Mat& out) { out = transpose(a); }
  /// X = M⁻¹ RX and Y = M⁻ᵀ RY by LU with partial pivoting; false when a pivot is exactly zero.
  KS_HD static bool solve_pair(const Mat& M, const Wide& RX, Wide& X, const Narrow& RY, Narrow& Y, Lu&) {
    const bool ok = scan::lu_solve(M, RX, X);
    return scan::lu_solve(transpose(M), RY, Y) && ok;
  }
  /// X = A⁺ B for symmetric PSD A: scan::ldlt_solve, pivots below rel_tol · max diag dropped
  /// (ReciprocalPivots: its form with one division per pivot, the GPU fast paths').
  template <bool ReciprocalPivots = false>
  KS_HD static void psd_solve(const Mat& A, const Mat& B, Mat& X, T rel_tol, Lu&) {
    scan::ldlt_solve<T, N, N, ReciprocalPivots>(A, B, X, rel_tol);
  }
};

/// The scalar and state size of a state matrix type (deduces <T, N> of the functions below from
/// their matrix arguments; Eigen's in dynamic_dense.hpp).
template <class M>
struct SizeOf;
template <class T, int N>
struct SizeOf<scan::Mat<T, N, N>> {
  using scalar = T;
  static constexpr int n = N;
};
template <class M>
using ScalarOf = typename SizeOf<M>::scalar;

/// The information of a step's measurements: Ψ = Σ Hᵀ R⁻¹ H, ψ = Σ Hᵀ R⁻¹ (z - d).
template <class T, int N>
struct StepInformation {
  typename Dense<T, N>::Mat Psi;
  typename Dense<T, N>::Vec psi;
};

template <class T, int N>
struct FilterElement {
  typename Dense<T, N>::Mat A;
  typename Dense<T, N>::Vec b;
  typename Dense<T, N>::Mat C;
  typename Dense<T, N>::Vec eta;
  typename Dense<T, N>::Mat J;
  int failed;  ///< nonzero when a solve in this element or an earlier combine broke down
};

template <class T, int N>
struct SmoothElement {
  typename Dense<T, N>::Mat E;
  typename Dense<T, N>::Vec g;
  typename Dense<T, N>::Mat L;
};

/// Scratch of the filtering element's builder and combine (stack locals for a compiled N; heap
/// storage kept from call to call for dynamic_size).
template <class T, int N>
struct FilterScratch {
  using D = Dense<T, N>;
  typename D::Mat M, P, R;
  typename D::Vec v, w;
  typename D::Wide rx, X;
  typename D::Narrow ry, Y;
  typename D::Lu lu;
  KS_HD void shape(int n) {
    D::resize(M, n, n), D::resize(P, n, n), D::resize(R, n, n), D::resize(v, n, 1), D::resize(w, n, 1);
    D::resize(rx, n, 2 * n + 1), D::resize(X, n, 2 * n + 1), D::resize(ry, n, n + 1), D::resize(Y, n, n + 1);
  }
};

template <class T, int N>
KS_HD void shape(FilterElement<T, N>& e, int n) {
  using D = Dense<T, N>;
  D::resize(e.A, n, n), D::resize(e.b, n, 1), D::resize(e.C, n, n), D::resize(e.eta, n, 1), D::resize(e.J, n, n);
}

/// The two systems that the filtering element and its combine solve with one matrix M:
/// rx = [left | x + y | right] (n × 2n+1) and ry = [x' - y' | right'] (n × n+1).
template <class Wide, class M, class V>
KS_HD void stack_wide(Wide& rx, const M& left, const V& x, const V& y, const M& right, int n) {
  for (int r = 0; r < n; ++r) {
    for (int k = 0; k < n; ++k) rx(r, k) = left(r, k), rx(r, n + 1 + k) = right(r, k);
    rx(r, n) = x[r] + y[r];
  }
}
template <class Narrow, class M, class V>
KS_HD void stack_narrow(Narrow& ry, const V& x, const V& y, const M& right, int n) {
  for (int r = 0; r < n; ++r) {
    ry(r, 0) = x[r] - y[r];
    for (int k = 0; k < n; ++k) ry(r, 1 + k) = right(r, k);
  }
}
/// The solutions back apart: X = [left | mid | right], Y = [y | Ymat].
template <class Wide, class Narrow, class M, class V>
KS_HD void unstack(const Wide& X, const Narrow& Y, M& left, V& mid, M& right, V& y, M& Ymat, int n) {
  for (int r = 0; r < n; ++r) {
    for (int k = 0; k < n; ++k) left(r, k) = X(r, k), right(r, k) = X(r, n + 1 + k), Ymat(r, k) = Y(r, 1 + k);
    mid[r] = X(r, n), y[r] = Y(r, 0);
  }
}

/// FilterOp's default solver of its two systems, X = M⁻¹ RX and Y = M⁻ᵀ RY: D::solve_pair (LU with
/// partial pivoting; dynamic_dense.hpp's allocation-free LU for dynamic_size).
struct LuSolver {
  template <class D>
  KS_HD static bool solve_pair(const typename D::Mat& M, const typename D::Wide& RX, typename D::Wide& X,
                               const typename D::Narrow& RY, typename D::Narrow& Y, typename D::Lu& lu) {
    return D::solve_pair(M, RX, X, RY, Y, lu);
  }
};

/// The filtering operator (Särkkä & García-Fernández 2021, Sec. IV-A), for a_i earlier, a_j later:
///   M   = I + C_i J_j
///   A_ij = A_j M⁻¹ A_i                    b_ij = A_j M⁻¹ (b_i + C_i η_j) + b_j
///   C_ij = A_j M⁻¹ C_i A_jᵀ + C_j          η_ij = A_iᵀ M⁻ᵀ (η_j - J_j b_i) + η_i
///   J_ij = A_iᵀ M⁻ᵀ J_j A_i + J_i          (M⁻ᵀ = (I + J_j C_i)⁻¹; both by LU solves)
/// Identity: (I, 0, 0, 0, 0); for dynamic_size the empty (0 × 0) element, which combine treats
/// as the identity (the engine asks for identity() without a size). Solver: how the two systems
/// are solved (LuSolver; the GPU fast paths' scan keeps its matrices in registers with
/// cuda/fast_steps.cuh's RegisterSolver).
template <class T, int N, class Solver = LuSolver>
struct FilterOp {
  using D = Dense<T, N>;
  using element = FilterElement<T, N>;

  KS_HD static element identity() {
    return {D::identity_mat(0), D::zero_vec(0), D::zero_mat(0), D::zero_vec(0), D::zero_mat(0), 0};
  }

  KS_HD static element combine(const element& ei, const element& ej) {
    element out;
    FilterScratch<T, N> s;
    combine_into(ei, ej, out, s);
    return out;
  }

  /// The engine's in-place combine (scan/operator.hpp), for dynamic_size: a scratch per thread,
  /// kept from call to call.
  static void combine_into(const element& ei, const element& ej, element& out)
    requires(N == dynamic_size)
  {
    thread_local FilterScratch<T, N> s;
    combine_into(ei, ej, out, s);
  }

  /// out = ei ∘ ej (out aliases neither).
  KS_HD static void combine_into(const element& ei, const element& ej, element& out, FilterScratch<T, N>& s) {
    const int n = D::size(ei.A);
    if (n == 0 || D::size(ej.A) == 0) {  // an empty (dynamic identity) operand
      out = n == 0 ? ej : ei;
      return;
    }
    s.shape(n);
    shape(out, n);
    // M = I + C_i J_j.
    D::mul(ei.C, ej.J, s.M);
    D::add_identity(s.M);
    // X = M⁻¹ [A_i | b_i + C_i η_j | C_i].
    D::mul(ei.C, ej.eta, s.v);
    stack_wide(s.rx, ei.A, ei.b, s.v, ei.C, n);
    // Y = M⁻ᵀ [η_j - J_j b_i | J_j A_i].
    D::mul(ej.J, ei.b, s.w);
    D::mul(ej.J, ei.A, s.P);
    stack_narrow(s.ry, ej.eta, s.w, s.P, n);
    const bool ok = Solver::template solve_pair<D>(s.M, s.rx, s.X, s.ry, s.Y, s.lu);
    // P = M⁻¹ A_i, v = M⁻¹ (b_i + C_i η_j), R = M⁻¹ C_i; w = M⁻ᵀ (η_j - J_j b_i), M = M⁻ᵀ J_j A_i.
    unstack(s.X, s.Y, s.P, s.v, s.R, s.w, s.M, n);
    D::mul(ej.A, s.P, out.A);
    D::mul(ej.A, s.v, out.b);
    D::add_to(out.b, ej.b);
    D::mul(ej.A, s.R, s.P);
    D::mul_nt(s.P, ej.A, out.C);
    D::add_to(out.C, ej.C);
    D::symmetrise(out.C);
    D::mul_tn(ei.A, s.w, out.eta);
    D::add_to(out.eta, ei.eta);
    D::mul_tn(ei.A, s.M, out.J);
    D::add_to(out.J, ei.J);
    D::symmetrise(out.J);
    out.failed = ei.failed | ej.failed | (ok ? 0 : 1);
  }
};

/// The smoothing operator (Sec. IV-B), a_i earlier, a_j later:
///   E_ij = E_i E_j,   g_ij = E_i g_j + g_i,   L_ij = E_i L_j E_iᵀ + L_i.   Identity: (I, 0, 0)
///   (for dynamic_size the empty element, as for FilterOp).
template <class T, int N>
struct SmoothOp {
  using D = Dense<T, N>;
  using element = SmoothElement<T, N>;
  KS_HD static element identity() { return {D::identity_mat(0), D::zero_vec(0), D::zero_mat(0)}; }
  KS_HD static element combine(const element& ei, const element& ej) {
    element out;
    typename D::Mat s;
    combine_into(ei, ej, out, s);
    return out;
  }
  /// The engine's in-place combine, for dynamic_size (as FilterOp's).
  static void combine_into(const element& ei, const element& ej, element& out)
    requires(N == dynamic_size)
  {
    thread_local typename D::Mat s;
    combine_into(ei, ej, out, s);
  }

  /// out = ei ∘ ej (out aliases neither); s: an n × n scratch.
  KS_HD static void combine_into(const element& ei, const element& ej, element& out, typename D::Mat& s) {
    if (D::size(ei.E) == 0 || D::size(ej.E) == 0) {
      out = D::size(ei.E) == 0 ? ej : ei;
      return;
    }
    D::mul(ei.E, ej.E, out.E);
    D::mul(ei.E, ej.g, out.g);
    D::add_to(out.g, ei.g);
    D::mul(ei.E, ej.L, s);
    D::mul_nt(s, ei.E, out.L);
    D::add_to(out.L, ei.L);
    D::symmetrise(out.L);
  }
};

/// The element of a step k ≥ 1 given the transition (F, Q, c) into it (c includes B u) and the
/// step's measurement information (see the header comment; missing measurements: Ψ = 0, ψ = 0
/// give the pure prediction element (F, c, Q, 0, 0)). Written into e (aliasing no input).
template <class T, int N>
KS_HD void filter_element_into(const typename Dense<T, N>::Mat& F, const typename Dense<T, N>::Mat& Q,
                               const typename Dense<T, N>::Vec& c, const StepInformation<T, N>& z,
                               FilterElement<T, N>& e, FilterScratch<T, N>& s) {
  using D = Dense<T, N>;
  const int n = D::size(F);
  s.shape(n);
  shape(e, n);
  // D = I + Q Ψ.
  D::mul(Q, z.Psi, s.M);
  D::add_identity(s.M);
  // [A | b | C] = D⁻¹ [F | c + Q ψ | Q].
  D::mul(Q, z.psi, s.v);
  stack_wide(s.rx, F, c, s.v, Q, n);
  // [w | W] = D⁻ᵀ [ψ - Ψ c | Ψ];  η = Fᵀ w,  J = Fᵀ W F.
  D::mul(z.Psi, c, s.w);
  stack_narrow(s.ry, z.psi, s.w, z.Psi, n);
  const bool ok = D::solve_pair(s.M, s.rx, s.X, s.ry, s.Y, s.lu);
  unstack(s.X, s.Y, e.A, e.b, e.C, s.w, s.P, n);
  D::symmetrise(e.C);
  D::mul_tn(F, s.w, e.eta);
  D::mul_tn(F, s.P, s.R);
  D::mul(s.R, F, e.J);
  D::symmetrise(e.J);
  e.failed = ok ? 0 : 1;
}

template <class M, class T = ScalarOf<M>, int N = SizeOf<M>::n>
KS_HD FilterElement<T, N> filter_element(const M& F, const M& Q, const typename Dense<T, N>::Vec& c,
                                         const StepInformation<T, N>& z) {
  FilterElement<T, N> e;
  FilterScratch<T, N> s;
  filter_element_into(F, Q, c, z, e, s);
  return e;
}

/// The first element of a fresh sequence, from the prior N(m0, P0) at the first step (no
/// prediction): the update of the prior, A = 0, b = (I + P0 Ψ)⁻¹ (m0 + P0 ψ), C = (I + P0 Ψ)⁻¹ P0,
/// η = 0, J = 0.
template <class M, class T = ScalarOf<M>, int N = SizeOf<M>::n>
KS_HD FilterElement<T, N> first_filter_element(const typename Dense<T, N>::Vec& m0, const M& P0,
                                               const StepInformation<T, N>& z) {
  using D = Dense<T, N>;
  FilterElement<T, N> u = filter_element(D::zero_mat(D::size(P0)), P0, m0, z);
  D::set_zero(u.A), D::set_zero(u.eta), D::set_zero(u.J);
  return u;
}

/// A filtered posterior N(m, P) as an element (0, m, P, 0, 0): the engine carry-in of a chunk
/// that continues a sequence (its first element is then an ordinary filter_element).
template <class M, class T = ScalarOf<M>, int N = SizeOf<M>::n>
KS_HD FilterElement<T, N> posterior_element(const typename Dense<T, N>::Vec& m, const M& P) {
  using D = Dense<T, N>;
  const int n = D::size(P);
  return {D::zero_mat(n), m, P, D::zero_vec(n), D::zero_mat(n), 0};
}

/// Relative pivot tolerance of the smoother's guarded LDLᵀ solve.
template <class T>
KS_HD constexpr T smoother_pivot_tolerance() {
  return T(64) * std::numeric_limits<T>::epsilon();
}

/// Scratch of smooth_element_into.
template <class T, int N>
struct SmoothScratch {
  typename Dense<T, N>::Mat FP, Pp, ET;
  typename Dense<T, N>::Vec v, w;
  typename Dense<T, N>::Lu lu;
};

/// The smoothing element of step k < T-1 from its filtered N(m, P) and the transition (F, Q, c)
/// out of it (Sec. IV-B):  P⁻ = F P Fᵀ + Q,  E = P Fᵀ (P⁻)⁺,  g = m - E (F m + c),  L = P - E F P.
/// (P⁻)⁺ is applied by Dense::psd_solve (Eᵀ = (P⁻)⁺ F P), which drops pivots below
/// smoother_pivot_tolerance·max diag: a singular P⁻ acts as a pseudo-inverse on its range.
/// Written into e (aliasing no input). ReciprocalPivots: Dense::psd_solve's form for the GPU fast
/// paths (compiled sizes only).
template <class T, int N, bool ReciprocalPivots = false>
KS_HD void smooth_element_into(const typename Dense<T, N>::Mat& F, const typename Dense<T, N>::Mat& Q,
                               const typename Dense<T, N>::Vec& c, const typename Dense<T, N>::Vec& m,
                               const typename Dense<T, N>::Mat& P, SmoothElement<T, N>& e, SmoothScratch<T, N>& s) {
  using D = Dense<T, N>;
  D::mul(F, P, s.FP);
  D::mul_nt(s.FP, F, s.Pp);
  D::add_to(s.Pp, Q);
  D::symmetrise(s.Pp);
  D::template psd_solve<ReciprocalPivots>(s.Pp, s.FP, s.ET, smoother_pivot_tolerance<T>(), s.lu);
  D::transpose_into(s.ET, e.E);
  // g = m - E (F m + c).
  D::mul(F, m, s.v);
  D::add_to(s.v, c);
  D::mul(e.E, s.v, s.w);
  e.g = m - s.w;
  // L = P - E F P.
  D::mul(e.E, s.FP, s.Pp);
  e.L = P - s.Pp;
  D::symmetrise(e.L);
}

template <class M, class T = ScalarOf<M>, int N = SizeOf<M>::n>
KS_HD SmoothElement<T, N> smooth_element(const M& F, const M& Q, const typename Dense<T, N>::Vec& c,
                                         const typename Dense<T, N>::Vec& m, const M& P) {
  SmoothElement<T, N> e;
  SmoothScratch<T, N> s;
  smooth_element_into(F, Q, c, m, P, e, s);
  return e;
}

/// smooth_element with the LDLᵀ solve's reciprocal pivots (the GPU fast paths', compiled sizes).
template <class T, int N>
KS_HD SmoothElement<T, N> smooth_element_reciprocal(const Mat<T, N, N>& F, const Mat<T, N, N>& Q, const Vec<T, N>& c,
                                                    const Vec<T, N>& m, const Mat<T, N, N>& P) {
  SmoothElement<T, N> e;
  SmoothScratch<T, N> s;
  smooth_element_into<T, N, true>(F, Q, c, m, P, e, s);
  return e;
}

/// The last element of a log, (0, m_{T-1|T-1}, P_{T-1|T-1}); also the reverse carry-in
/// (0, m, P) of a chunk given the smoothed state after it.
template <class M, class T = ScalarOf<M>, int N = SizeOf<M>::n>
KS_HD SmoothElement<T, N> last_smooth_element(const typename Dense<T, N>::Vec& m, const M& P) {
  return {Dense<T, N>::zero_mat(Dense<T, N>::size(P)), m, P};
}

}  // namespace kalmanscan::filters::elements
