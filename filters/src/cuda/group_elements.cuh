// The filtering and smoothing elements of parallel_elements.hpp for a run-time state size
// n <= 32, built and combined by one thread block (group_linalg.cuh): the GPU path for every
// size without a compiled fast path. Same algebra as the host operators (Särkkä &
// García-Fernández 2021, Lemmas 8 and 10), so results agree to rounding.
//
// An element is a flat array of C (the arithmetic type) with a fixed layout:
//   filtering (A, b, C, η, J, failed):  A at 0, b at n², C at n² + n, η at 2n² + n, J at 2n² + 2n,
//                                        failed (0 or 1) at 3n² + 2n;           3n² + 2n + 1 values
//   smoothing (E, g, L):                 E at 0, g at n², L at n² + n;           2n² + n values
// In both, the mean (b, g) is at n² and the covariance (C, L) at n² + n.
//
// "Settled" elements: every forward prefix of a filter starts from a posterior — the first
// element of a fresh sequence, or the carry of a continued one — so it is a posterior
// (0, m, P, 0, 0): A = 0, η = 0, J = 0. Likewise every suffix of a smoother ends in (0, m, P).
// Extending a settled prefix (suffix) by one element (`extend`) is a cheaper combine: one
// linear system instead of two and three products instead of eight for the filter, one product
// fewer for the smoother; the entries it skips are exactly zero in the full combine.
//
// The op interface used by group_scan.cuh: value_type, size(n), scratch(n) (values of shared
// memory per block), failed_at(n) (negative: no flag), reverse (scan direction), combine(ei, ej,
// out, tmp, n) with ei the earlier element, extend(settled, e, out, tmp, n). Outputs may not
// alias inputs; every routine ends with a barrier unless its name says otherwise.
#pragma once

#include "group_linalg.cuh"

namespace kalmanscan::filters::gpu::group {

template <class C>
struct FilterGroupOp {
  using value_type = C;
  static constexpr bool reverse = false;
  __host__ __device__ static constexpr int size(int n) { return 3 * n * n + 2 * n + 1; }
  __host__ __device__ static constexpr int failed_at(int n) { return 3 * n * n + 2 * n; }
  /// M, Mᵀ (n² each), the right-hand sides X (n × (2n+1)), Y (n × (n+1)) and their solutions.
  __host__ __device__ static constexpr int scratch(int n) { return 8 * n * n + 4 * n; }

  /// out = ei ∘ ej (ei earlier): FilterOp::combine of parallel_elements.hpp,
  ///   M = I + C_i J_j,  [X_A | x_b | X_C] = M⁻¹ [A_i | b_i + C_i η_j | C_i],
  ///   [y_e | Y_J] = M⁻ᵀ [η_j − J_j b_i | J_j A_i],
  ///   A = A_j X_A,  b = A_j x_b + b_j,  C = sym(A_j X_C A_jᵀ + C_j),  η = A_iᵀ y_e + η_i,
  ///   J = sym(A_iᵀ Y_J + J_i);  failed when either input failed or M is singular.
  /// settled: ei is a posterior (A_i = 0, η_i = 0, J_i = 0), so out is one and only b, C are
  /// computed (the Mᵀ system and the products with A_i are zero).
  __device__ static void combine(const C* ei, const C* ej, C* out, C* tmp, int n, bool settled = false) {
    const int nn = n * n, xc = settled ? n + 1 : 2 * n + 1, yc = n + 1, xb = settled ? 0 : n;
    const View<const C> Ai = rm(ei, n), Ci = rm(ei + nn + n, n), Ji = rm(ei + 2 * nn + 2 * n, n);
    const View<const C> Aj = rm(ej, n), Cj = rm(ej + nn + n, n), Jj = rm(ej + 2 * nn + 2 * n, n);
    const C *bi = ei + nn, *etai = ei + 2 * nn + n, *bj = ej + nn, *etaj = ej + 2 * nn + n;
    C *M = tmp, *MT = M + nn, *X = MT + nn, *Y = X + n * (2 * n + 1), *XS = Y + n * yc, *YS = XS + n * (2 * n + 1);
    // Right-hand sides: the copied blocks and y_e here, the products below, one barrier.
    for (int idx = rank(); idx < nn; idx += stride()) {
      const int r = idx / n, k = idx - r * n;
      X[r * xc + xb + 1 + k] = Ci(r, k);
      if (!settled) X[r * xc + k] = Ai(r, k);
    }
    if (!settled)
      for (int r = rank(); r < n; r += stride()) {
        C s = C(0);
        for (int k = 0; k < n; ++k) s += Jj(r, k) * bi[k];
        Y[r * yc] = etaj[r] - s;
      }
    const Product<C> m{rm(M, n), Ci, Jj, n, n, n, {}, true}, x{{X + xb, xc, 1}, Ci, ccol(etaj), n, n, 1, ccol(bi)};
    if (settled) {
      products(m, x);
    } else {
      const Product<C> mt{rm(MT, n), Jj, Ci, n, n, n, {}, true}, y{{Y + 1, yc, 1}, Jj, Ai, n, n, n};
      products(m, x, mt, y);
    }
    const bool ok = gj_solve<C>({rm(M, n), {X, xc, 1}, {XS, xc, 1}, xc},
                                settled ? System<C>{} : System<C>{rm(MT, n), {Y, yc, 1}, {YS, yc, 1}, yc}, n);
    // Products of the solutions; T1 = A_j X_C (in M), T2 = T1 A_jᵀ + C_j (in MT),
    // T3 = A_iᵀ Y_J + J_i (in X).
    const View<const C> XA{XS, xc, 1}, xbv{XS + xb, xc, 1}, XC{XS + xb + 1, xc, 1}, ye{YS, yc, 1}, YJ{YS + 1, yc, 1};
    const Product<C> b{rm(out + nn, 1), Aj, xbv, n, n, 1, ccol(bj)}, t1{rm(M, n), Aj, XC, n, n, n};
    if (settled) {
      products(b, t1);
    } else {
      const Product<C> a{rm(out, n), Aj, XA, n, n, n}, eta{rm(out + 2 * nn + n, 1), Ai.t(), ye, n, n, 1, ccol(etai)},
          t3{rm(X, n), Ai.t(), YJ, n, n, n, Ji};
      products(b, t1, a, eta, t3);
    }
    products(Product<C>{rm(MT, n), cv(rm(M, n)), Aj.t(), n, n, n, Cj});
    if (settled) {
      zero_nosync(out, nn);
      zero_nosync(out + 2 * nn + n, nn + n);
      symmetrise(rm(out + nn + n, n), cv(rm(MT, n)), n);
    } else {
      symmetrise(rm(out + nn + n, n), cv(rm(MT, n)), n, rm(out + 2 * nn + 2 * n, n), cv(rm(X, n)));
    }
    if (rank() == 0) out[failed_at(n)] = (ei[failed_at(n)] != C(0) || ej[failed_at(n)] != C(0) || !ok) ? C(1) : C(0);
    sync();
  }

  /// out = settled ∘ e: the posterior after one more step.
  __device__ static void extend(const C* settled, const C* e, C* out, C* tmp, int n) {
    combine(settled, e, out, tmp, n, true);
  }

  /// (F, c, Q, 0, 0): the transition x' = F x + c + w, w ~ N(0, Q), as an element; F null:
  /// F = 0 (posterior_nosync). No barrier.
  template <class S>
  __device__ static void transition_nosync(const S* F, const S* c, const S* Q, C* e, int n) {
    const int nn = n * n;
    for (int k = rank(); k < nn; k += stride()) {
      e[k] = F ? C(F[k]) : C(0);
      e[nn + n + k] = C(Q[k]);
      e[2 * nn + 2 * n + k] = C(0);
    }
    for (int k = rank(); k < n; k += stride()) e[nn + k] = C(c[k]), e[2 * nn + n + k] = C(0);
    if (rank() == 0) e[failed_at(n)] = C(0);
  }

  /// (0, m, P, 0, 0): the posterior N(m, P) (transition_nosync with F = 0). No barrier.
  template <class S>
  __device__ static void posterior_nosync(const S* m, const S* P, C* e, int n) {
    transition_nosync<S>(nullptr, m, P, e, n);
  }

  /// (I, 0, 0, ψ, Ψ): the measurement update with information Ψ = Σ Hᵀ R⁻¹ H, ψ = Σ Hᵀ R⁻¹ (z − d)
  /// as an element. transition ∘ measurement is the step's element (elements::filter_element).
  /// No barrier.
  template <class S>
  __device__ static void measurement_nosync(const S* Psi, const S* psi, C* e, int n) {
    const int nn = n * n;
    for (int k = rank(); k < nn; k += stride()) {
      e[k] = C(k % (n + 1) == 0);
      e[nn + n + k] = C(0);
      e[2 * nn + 2 * n + k] = C(Psi[k]);
    }
    for (int k = rank(); k < n; k += stride()) e[nn + k] = C(0), e[2 * nn + n + k] = C(psi[k]);
    if (rank() == 0) e[failed_at(n)] = C(0);
  }
};

template <class C>
struct SmoothGroupOp {
  using value_type = C;
  static constexpr bool reverse = true;
  __host__ __device__ static constexpr int size(int n) { return 2 * n * n + n; }
  __host__ __device__ static constexpr int failed_at(int) { return -1; }
  __host__ __device__ static constexpr int scratch(int n) { return 4 * n * n + 2 * n; }

  /// out = ei ∘ ej (ei earlier): (E_i E_j, E_i g_j + g_i, sym(E_i L_j E_iᵀ + L_i)).
  /// settled: ej is a smoothed suffix (E_j = 0), so E = 0.
  __device__ static void combine(const C* ei, const C* ej, C* out, C* tmp, int n, bool settled = false) {
    const int nn = n * n;
    const View<const C> Ei = rm(ei, n), Li = rm(ei + nn + n, n), Ej = rm(ej, n), Lj = rm(ej + nn + n, n);
    C *T1 = tmp, *T2 = tmp + nn;
    const Product<C> g{rm(out + nn, 1), Ei, ccol(ej + nn), n, n, 1, ccol(ei + nn)}, t1{rm(T1, n), Ei, Lj, n, n, n};
    if (settled) {
      zero_nosync(out, nn);
      products(g, t1);
    } else {
      products(g, t1, Product<C>{rm(out, n), Ei, Ej, n, n, n});
    }
    products(Product<C>{rm(T2, n), cv(rm(T1, n)), Ei.t(), n, n, n, Li});
    symmetrise(rm(out + nn + n, n), cv(rm(T2, n)), n);
  }

  /// out = e ∘ settled: the smoothed suffix one step earlier.
  __device__ static void extend(const C* settled, const C* e, C* out, C* tmp, int n) {
    combine(e, settled, out, tmp, n, true);
  }

  /// The smoothing element of a step from its filtered N(m, P) and the transition (F, Q, c) out
  /// of it (elements::smooth_element): P⁻ = F P Fᵀ + Q, Eᵀ = (P⁻)⁺ F P by the guarded LDLᵀ,
  /// g = m - E (F m + c), L = sym(P - E F P). All inputs in C, in shared memory.
  __device__ static void element(const C* F, const C* Q, const C* c, const C* m, const C* P, C* out, C* tmp, int n,
                                 C rel_tol) {
    const int nn = n * n;
    const View<const C> Fv = rm(F, n), Pv = rm(P, n);
    C *FP = tmp, *Pp = FP + nn, *ET = Pp + nn, *T2 = ET + nn, *d = T2 + nn, *v = d + n;
    products(Product<C>{rm(FP, n), Fv, Pv, n, n, n}, Product<C>{rm(v, 1), Fv, ccol(m), n, n, 1, ccol(c)});
    products(Product<C>{rm(T2, n), cv(rm(FP, n)), Fv.t(), n, n, n, rm(Q, n)});
    for (int idx = rank(); idx < nn; idx += stride()) {  // P⁻ = sym(T2), and Eᵀ's right-hand side F P
      const int r = idx / n, k = idx - r * n;
      Pp[idx] = C(0.5) * (T2[idx] + T2[k * n + r]);
      ET[idx] = FP[idx];
    }
    sync();
    ldlt_solve(rm(Pp, n), rm(ET, n), d, n, n, rel_tol);
    const View<const C> E = View<const C>{ET, 1, n};  // Eᵀ stored row-major: E(i, j) = ET[j * n + i]
    for (int idx = rank(); idx < nn; idx += stride()) out[idx] = E(idx / n, idx % n);
    for (int r = rank(); r < n; r += stride()) {
      C s = C(0);
      for (int k = 0; k < n; ++k) s += E(r, k) * v[k];
      out[nn + r] = m[r] - s;
    }
    products(Product<C>{rm(T2, n), E, cv(rm(FP, n)), n, n, n});
    for (int idx = rank(); idx < nn; idx += stride()) {
      const int r = idx / n, k = idx - r * n;
      out[nn + n + idx] = C(0.5) * ((Pv(r, k) - T2[idx]) + (Pv(k, r) - T2[k * n + r]));
    }
    sync();
  }

  /// (0, m, P): the last element of a log, or the reverse carry-in of a chunk. No barrier.
  template <class S>
  __device__ static void posterior_nosync(const S* m, const S* P, C* e, int n) {
    const int nn = n * n;
    for (int k = rank(); k < nn; k += stride()) e[k] = C(0), e[nn + n + k] = C(P[k]);
    for (int k = rank(); k < n; k += stride()) e[nn + k] = C(m[k]);
  }
};

}  // namespace kalmanscan::filters::gpu::group
