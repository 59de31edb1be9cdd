// The filtering and smoothing elements of parallel_elements.hpp for a run-time state size
// n <= 32, built and combined by one thread block (group_linalg.cuh): the GPU path for every
// size without a compiled fast path. Same algebra and association order as the host operators,
// so results agree to rounding.
//
// An element is a flat array of C (the arithmetic type) with a fixed layout:
//   filtering (A, b, C, η, J, failed):  A at 0, b at n², C at n² + n, η at 2n² + n, J at 2n² + 2n,
//                                        failed (0 or 1) at 3n² + 2n;           3n² + 2n + 1 values
//   smoothing (E, g, L):                 E at 0, g at n², L at n² + n;           2n² + n values
// Each routine takes `tmp`, per-block scratch of `scratch(n)` values (shared memory), and may
// not write an output that aliases an input.
#pragma once

#include "group_linalg.cuh"

namespace kalmanscan::filters::gpu::group {

template <class T>
__device__ inline View<T> col(T* p) {  // an n-vector as an n × 1 matrix
  return {p, 1, 1};
}
template <class T>
__device__ inline View<const T> ccol(const T* p) {
  return {p, 1, 1};
}
template <class T>
__device__ inline View<const T> cv(View<T> v) {
  return {v.p, v.rs, v.cs};
}

/// Adds the identity to an n × n matrix.
template <class T>
__device__ void add_identity(View<T> a, int n) {
  for (int i = rank(); i < n; i += stride()) a(i, i) += T(1);
  sync();
}

template <class C>
struct FilterWarpOp {
  using value_type = C;
  __host__ __device__ static constexpr int scratch(int n) { return 6 * n * n + 2 * n; }
  __host__ __device__ static constexpr int size(int n) { return 3 * n * n + 2 * n + 1; }
  __host__ __device__ static constexpr int failed_at(int n) { return 3 * n * n + 2 * n; }

  /// out = ei ∘ ej (ei earlier): FilterOp::combine of parallel_elements.hpp.
  __device__ static void combine(const C* ei, const C* ej, C* out, C* tmp, int n) {
    const int nn = n * n, xc = 2 * n + 1, yc = n + 1;
    const View<const C> Ai = rm(ei, n), Ci = rm(ei + nn + n, n), Ji = rm(ei + 2 * nn + 2 * n, n);
    const View<const C> Aj = rm(ej, n), Cj = rm(ej + nn + n, n), Jj = rm(ej + 2 * nn + 2 * n, n);
    const C *bi = ei + nn, *etai = ei + 2 * nn + n, *bj = ej + nn, *etaj = ej + 2 * nn + n;
    C *M = tmp, *MT = M + nn, *X = MT + nn, *Y = X + n * xc, *T1 = Y + n * yc;
    // M = I + C_i J_j (and its transpose for the second solve).
    matmul(rm(M, n), Ci, Jj, n, n, n);
    add_identity(rm(M, n), n);
    for (int idx = rank(); idx < nn; idx += stride()) MT[idx] = M[(idx % n) * n + idx / n];
    // X = [A_i | b_i + C_i η_j | C_i],  Y = [η_j - J_j b_i | J_j A_i].
    for (int idx = rank(); idx < n * xc; idx += stride()) {
      const int r = idx / xc, k = idx - r * xc;
      if (k < n) X[idx] = Ai(r, k);
      if (k > n) X[idx] = Ci(r, k - n - 1);
    }
    matmul(View<C>{X + n, xc, 1}, Ci, ccol(etaj), n, n, 1, ccol(bi));
    matmul(View<C>{Y + 1, yc, 1}, Jj, Ai, n, n, n);
    for (int r = rank(); r < n; r += stride()) {
      C s = C(0);
      for (int k = 0; k < n; ++k) s += Jj(r, k) * bi[k];
      Y[r * yc] = etaj[r] - s;
    }
    sync();
    bool ok = lu_solve(rm(M, n), View<C>{X, xc, 1}, n, xc);
    ok = lu_solve(rm(MT, n), View<C>{Y, yc, 1}, n, yc) && ok;
    const View<const C> XA{X, xc, 1}, xb{X + n, xc, 1}, XC{X + n + 1, xc, 1}, ye{Y, yc, 1}, YJ{Y + 1, yc, 1};
    matmul(rm(out, n), Aj, XA, n, n, n);
    matmul(col(out + nn), Aj, xb, n, n, 1, ccol(bj));
    matmul(rm(T1, n), Aj, XC, n, n, n);
    matmul(rm(M, n), cv(rm(T1, n)), Aj.t(), n, n, n, Cj);
    symmetrise(rm(out + nn + n, n), cv(rm(M, n)), n);
    matmul(col(out + 2 * nn + n), Ai.t(), ye, n, n, 1, ccol(etai));
    matmul(rm(M, n), Ai.t(), YJ, n, n, n, Ji);
    symmetrise(rm(out + 2 * nn + 2 * n, n), cv(rm(M, n)), n);
    if (rank() == 0) out[failed_at(n)] = (ei[failed_at(n)] != C(0) || ej[failed_at(n)] != C(0) || !ok) ? C(1) : C(0);
    sync();
  }

  /// out = the element of a step with transition (F, Q, c) into it and measurement information
  /// (Ψ, ψ) (elements::filter_element); all inputs already in C. tmp: scratch(n) values.
  __device__ static void element(const C* F, const C* Q, const C* c, const C* Psi, const C* psi, C* out, C* tmp,
                                 int n) {
    const int nn = n * n, xc = 2 * n + 1, yc = n + 1;
    const View<const C> Fv = rm(F, n), Qv = rm(Q, n), Psiv = rm(Psi, n);
    C *D = tmp, *DT = D + nn, *X = DT + nn, *Y = X + n * xc, *T1 = Y + n * yc;
    matmul(rm(D, n), Qv, Psiv, n, n, n);  // D = I + Q Ψ
    add_identity(rm(D, n), n);
    for (int idx = rank(); idx < nn; idx += stride()) DT[idx] = D[(idx % n) * n + idx / n];
    // X = [F | c + Q ψ | Q],  Y = [ψ - Ψ c | Ψ].
    for (int idx = rank(); idx < n * xc; idx += stride()) {
      const int r = idx / xc, k = idx - r * xc;
      if (k < n) X[idx] = Fv(r, k);
      if (k > n) X[idx] = Qv(r, k - n - 1);
    }
    for (int idx = rank(); idx < n * yc; idx += stride()) {
      const int r = idx / yc, k = idx - r * yc;
      if (k > 0) Y[idx] = Psiv(r, k - 1);
    }
    matmul(View<C>{X + n, xc, 1}, Qv, ccol(psi), n, n, 1, ccol(c));
    for (int r = rank(); r < n; r += stride()) {
      C s = C(0);
      for (int k = 0; k < n; ++k) s += Psiv(r, k) * c[k];
      Y[r * yc] = psi[r] - s;
    }
    sync();
    bool ok = lu_solve(rm(D, n), View<C>{X, xc, 1}, n, xc);
    ok = lu_solve(rm(DT, n), View<C>{Y, yc, 1}, n, yc) && ok;
    // A = X[:, :n], b = X[:, n], C = sym(X[:, n+1:]), η = Fᵀ w, J = sym(Fᵀ W F).
    for (int idx = rank(); idx < nn; idx += stride()) {
      const int r = idx / n, k = idx - r * n;
      out[idx] = X[r * xc + k];
      out[nn + n + idx] = C(0.5) * (X[r * xc + n + 1 + k] + X[k * xc + n + 1 + r]);
    }
    for (int r = rank(); r < n; r += stride()) out[nn + r] = X[r * xc + n];
    matmul(col(out + 2 * nn + n), Fv.t(), View<const C>{Y, yc, 1}, n, n, 1);
    matmul(rm(T1, n), Fv.t(), View<const C>{Y + 1, yc, 1}, n, n, n);
    matmul(rm(D, n), cv(rm(T1, n)), Fv, n, n, n);
    symmetrise(rm(out + 2 * nn + 2 * n, n), cv(rm(D, n)), n);
    if (rank() == 0) out[failed_at(n)] = ok ? C(0) : C(1);
    sync();
  }

  /// Turns the element of (0, P0, m0) into the first element of a fresh sequence: A = 0, η = 0,
  /// J = 0 (elements::first_filter_element).
  __device__ static void make_first(C* e, int n) {
    const int nn = n * n;
    for (int k = rank(); k < nn; k += stride()) e[k] = C(0), e[2 * nn + 2 * n + k] = C(0);
    for (int k = rank(); k < n; k += stride()) e[2 * nn + n + k] = C(0);
    sync();
  }

  /// The posterior N(m, P) as the element (0, m, P, 0, 0) (elements::posterior_element): the
  /// carry-in of a continued chunk.
  template <class S>
  __device__ static void carry(const S* m, const S* P, C* e, int n) {
    const int nn = n * n;
    for (int k = rank(); k < size(n); k += stride()) e[k] = C(0);
    sync();
    copy(e + nn, m, n);
    copy(e + nn + n, P, nn);
  }
};

template <class C>
struct SmoothWarpOp {
  using value_type = C;
  __host__ __device__ static constexpr int scratch(int n) { return 4 * n * n + 2 * n; }
  __host__ __device__ static constexpr int size(int n) { return 2 * n * n + n; }

  /// out = ei ∘ ej (ei earlier): (E_i E_j, E_i g_j + g_i, sym(E_i L_j E_iᵀ + L_i)).
  __device__ static void combine(const C* ei, const C* ej, C* out, C* tmp, int n) {
    const int nn = n * n;
    const View<const C> Ei = rm(ei, n), Li = rm(ei + nn + n, n), Ej = rm(ej, n), Lj = rm(ej + nn + n, n);
    C *T1 = tmp, *T2 = tmp + nn;
    matmul(rm(out, n), Ei, Ej, n, n, n);
    matmul(col(out + nn), Ei, ccol(ej + nn), n, n, 1, ccol(ei + nn));
    matmul(rm(T1, n), Ei, Lj, n, n, n);
    matmul(rm(T2, n), cv(rm(T1, n)), Ei.t(), n, n, n, Li);
    symmetrise(rm(out + nn + n, n), cv(rm(T2, n)), n);
  }

  /// The smoothing element of a step from its filtered N(m, P) and the transition (F, Q, c) out
  /// of it (elements::smooth_element): P⁻ = F P Fᵀ + Q, Eᵀ = (P⁻)⁺ F P by the guarded LDLᵀ,
  /// g = m - E (F m + c), L = sym(P - E F P).
  __device__ static void element(const C* F, const C* Q, const C* c, const C* m, const C* P, C* out, C* tmp, int n,
                                 C rel_tol) {
    const int nn = n * n;
    const View<const C> Fv = rm(F, n), Pv = rm(P, n);
    C *FP = tmp, *Pp = FP + nn, *ET = Pp + nn, *T2 = ET + nn, *d = T2 + nn, *v = d + n;
    matmul(rm(FP, n), Fv, Pv, n, n, n);
    matmul(rm(T2, n), cv(rm(FP, n)), Fv.t(), n, n, n, rm(Q, n));
    symmetrise(rm(Pp, n), cv(rm(T2, n)), n);
    copy(ET, FP, nn);
    ldlt_solve(rm(Pp, n), rm(ET, n), d, n, n, rel_tol);
    const View<const C> E = View<const C>{ET, 1, n};  // Eᵀ stored row-major: E(i, j) = ET[j * n + i]
    for (int idx = rank(); idx < nn; idx += stride()) out[idx] = E(idx / n, idx % n);
    matmul(col(v), Fv, ccol(m), n, n, 1, ccol(c));
    for (int r = rank(); r < n; r += stride()) {
      C s = C(0);
      for (int k = 0; k < n; ++k) s += E(r, k) * v[k];
      out[nn + r] = m[r] - s;
    }
    matmul(rm(T2, n), E, cv(rm(FP, n)), n, n, n);
    for (int idx = rank(); idx < nn; idx += stride()) {
      const int r = idx / n, k = idx - r * n;
      out[nn + n + idx] = C(0.5) * ((Pv(r, k) - T2[idx]) + (Pv(k, r) - T2[k * n + r]));
    }
    sync();
  }

  /// (0, m, P): the last element of a log, or the reverse carry-in of a chunk.
  template <class S>
  __device__ static void carry(const S* m, const S* P, C* e, int n) {
    const int nn = n * n;
    for (int k = rank(); k < nn; k += stride()) e[k] = C(0);
    sync();
    copy(e + nn, m, n);
    copy(e + nn + n, P, nn);
  }
};

}  // namespace kalmanscan::filters::gpu::group
