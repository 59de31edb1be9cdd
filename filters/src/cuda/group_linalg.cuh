// Cooperative dense linear algebra for a run-time size n <= 32 (the group path of the parallel
// filter: state sizes without a compiled fast path). All threads of a block (a "group" of one to
// eight warps, blockDim.x a multiple of 32) call each routine together; matrices are row-major in
// shared memory with an explicit row stride; every routine ends with __syncthreads(), so its
// result is visible to the whole group. One compiled kernel serves every size, so nvcc compiles
// it in seconds.
//
// Latency, not arithmetic, bounds these routines (a 20 × 20 product is 8 000 multiply-adds for
// 256 threads), so each does its work in as few barrier-separated passes as it can: `products`
// computes several independent matrix products in one pass, and `gj_solve` solves two systems
// together with one barrier per elimination step.
#pragma once

#include <cuda_runtime.h>

namespace kalmanscan::filters::gpu::group {

__device__ inline int rank() { return int(threadIdx.x); }
__device__ inline int stride() { return int(blockDim.x); }
__device__ inline void sync() { __syncthreads(); }

/// A strided view of a matrix: element (i, j) at p[i * rs + j * cs] (cs = 1: row-major; a
/// transposed view swaps the strides).
template <class T>
struct View {
  T* p;
  int rs, cs;
  __device__ T& operator()(int i, int j) const { return p[i * rs + j * cs]; }
  __device__ View t() const { return {p, cs, rs}; }
};
template <class T>
__device__ inline View<T> rm(T* p, int cols) {
  return {p, cols, 1};
}
template <class T>
__device__ inline View<const T> rm(const T* p, int cols) {
  return {p, cols, 1};
}
template <class T>
__device__ inline View<const T> cv(View<T> v) {
  return {v.p, v.rs, v.cs};
}
template <class T>
__device__ inline View<const T> ccol(const T* p) {  // an n-vector as an n × 1 matrix
  return {p, 1, 1};
}

/// out = a · b (+ add when add.p is set, + I when identity), out rows × cols; out must not alias
/// a or b (it may alias add).
template <class T>
struct Product {
  View<T> out;
  View<const T> a, b;
  int rows, inner, cols;
  View<const T> add{nullptr, 0, 0};
  bool identity = false;

  /// This thread's share of the entries (no barrier).
  __device__ void run() const {
    for (int idx = rank(); idx < rows * cols; idx += stride()) {
      const int i = idx / cols, j = idx - i * cols;
      T s = add.p ? add(i, j) : T(identity && i == j);
#pragma unroll 4
      for (int k = 0; k < inner; ++k) s += a(i, k) * b(k, j);
      out(i, j) = s;
    }
  }
};

/// Computes independent products (no one reads another's output) in one pass.
template <class T, class... More>
__device__ void products(const Product<T>& first, const More&... more) {
  first.run();
  (more.run(), ...);
  sync();
}

/// out = (a + aᵀ) / 2 for n × n matrices, up to two at once (out may not alias a).
template <class T>
__device__ void symmetrise(View<T> out, View<const T> a, int n, View<T> out2 = {nullptr, 0, 0},
                           View<const T> a2 = {nullptr, 0, 0}) {
  for (int idx = rank(); idx < n * n; idx += stride()) {
    const int i = idx / n, j = idx - i * n;
    out(i, j) = T(0.5) * (a(i, j) + a(j, i));
    if (out2.p) out2(i, j) = T(0.5) * (a2(i, j) + a2(j, i));
  }
  sync();
}

/// dst = src (count values).
template <class T, class U>
__device__ void copy(T* dst, const U* src, int count) {
  for (int k = rank(); k < count; k += stride()) dst[k] = T(src[k]);
  sync();
}

/// dst = 0 (count values), without a barrier.
template <class T>
__device__ void zero_nosync(T* dst, int count) {
  for (int k = rank(); k < count; k += stride()) dst[k] = T(0);
}

/// One linear system A X = B of gj_solve: A n × n and B n × m are destroyed, X n × m receives
/// the solution (it may not alias A or B). m = 0: no system.
template <class T>
struct System {
  View<T> A, B, X;
  int m = 0;
};

/// This warp's pivot row for column k of A: the largest |A(i, k)| over the rows i not yet used
/// (bit i of `used` clear), ties to the smallest i. Every warp computes the same row.
template <class T>
__device__ int pivot_row(View<T> A, int k, int n, unsigned used) {
  const int lane = rank() & 31;
  T best = lane < n && !((used >> lane) & 1u) ? fabs(A(lane, k)) : T(-1);
  int p = lane;
  for (int off = 16; off > 0; off /= 2) {
    const T ob = __shfl_xor_sync(0xffffffffu, best, off);
    const int op = __shfl_xor_sync(0xffffffffu, p, off);
    if (ob > best || (ob == best && op < p)) best = ob, p = op;
  }
  return p;
}

/// The last pass of gj_solve: X(k, :) = B(p_k, :) / A(p_k, k) (no barrier).
template <class T>
__device__ void gj_finish(const System<T>& s, const int* pivots, int n) {
  for (int idx = rank(); idx < n * s.m; idx += stride()) {
    const int k = idx / s.m, j = idx - k * s.m, p = pivots[k];
    s.X(k, j) = s.B(p, j) / s.A(p, k);
  }
}

/// Solves up to two independent systems (s2.m = 0: one) by Gauss–Jordan elimination with
/// partial pivoting. Rows are never swapped: step k picks pivot row p_k (pivot_row, computed by
/// every warp alike, so the only barrier of a step is the one after its elimination) and removes
/// column k from every other row of A and B; at the end A is a row permutation of a diagonal
/// matrix and X(k, :) = B(p_k, :) / A(p_k, k). Each thread owns one column of [A | B] (of both
/// systems) and a share of its rows. Returns false (for the whole group) when a pivot of either
/// system is exactly zero; the step is then skipped and X is not meaningful.
template <class T>
__device__ bool gj_solve(System<T> s1, System<T> s2, int n) {
  __shared__ int pivots[2][32];
  const int w1 = n + s1.m, width = w1 + (s2.m > 0 ? n + s2.m : 0);
  // Thread → (column, first row, row step): `groups` threads share a column when there are
  // enough threads; else each thread takes every stride()-th column with all rows.
  const int groups = stride() >= width ? stride() / width : 1;
  const int col0 = groups > 1 ? rank() % width : rank(), col_step = groups > 1 ? width : stride();
  const int row0 = groups > 1 ? rank() / width : 0;
  unsigned used1 = 0, used2 = 0;
  bool ok = true;
  for (int k = 0; k < n; ++k) {
    const int p1 = pivot_row(s1.A, k, n, used1), p2 = s2.m > 0 ? pivot_row(s2.A, k, n, used2) : 0;
    used1 |= 1u << p1, used2 |= 1u << p2;
    const T a1 = s1.A(p1, k), a2 = s2.m > 0 ? s2.A(p2, k) : T(1);
    ok = ok && a1 != T(0) && a2 != T(0);
    const T r1 = a1 != T(0) ? T(1) / a1 : T(0), r2 = a2 != T(0) ? T(1) / a2 : T(0);
    if (rank() == 0) pivots[0][k] = p1, pivots[1][k] = p2;
    if (row0 < groups)
      for (int c = col0; c < width; c += col_step) {
        const bool second = c >= w1;
        const int cc = second ? c - w1 : c, p = second ? p2 : p1;
        if (cc <= k) continue;  // columns of A up to k are done (column k keeps the multipliers)
        const View<T> A = second ? s2.A : s1.A, M = cc < n ? A : second ? s2.B : s1.B;
        T* column = &M(0, cc < n ? cc : cc - n);
        const T* multipliers = &A(0, k);
        const T f = column[p * M.rs] * (second ? r2 : r1);
        for (int r = row0; r < n; r += groups)
          if (r != p) column[r * M.rs] -= multipliers[r * A.rs] * f;
      }
    sync();
  }
  gj_finish(s1, pivots[0], n);
  gj_finish(s2, pivots[1], n);
  sync();
  return ok;
}

/// Guarded solve A X = B in place for symmetric positive semi-definite A (destroyed; d holds n
/// scratch values): A = L D Lᵀ without pivoting, pivots d_k <= rel_tol · max|diag A| dropped
/// with their solution components set to zero — scan::ldlt_solve, thread-parallel.
template <class T>
__device__ void ldlt_solve(View<T> A, View<T> B, T* d, int n, int m, T rel_tol) {
  T scale = T(0);
  for (int i = 0; i < n; ++i) scale = fabs(A(i, i)) > scale ? fabs(A(i, i)) : scale;
  const T tol = rel_tol * scale;
  for (int j = 0; j < n; ++j) {
    // Column j of L in the strict lower triangle of A (thread i owns row i); d_j in d[j].
    T dj = A(j, j);
    for (int k = 0; k < j; ++k) dj -= A(j, k) * A(j, k) * d[k];
    const bool kept = dj > tol;
    for (int i = j + 1 + rank(); i < n; i += stride()) {
      T s = A(i, j);
      for (int k = 0; k < j; ++k) s -= A(i, k) * A(j, k) * d[k];
      A(i, j) = kept ? s / dj : T(0);
    }
    sync();
    if (rank() == 0) d[j] = kept ? dj : T(0);
    sync();
  }
  for (int c = rank(); c < m; c += stride()) {
    for (int i = 0; i < n; ++i) {  // L y = b
      T s = B(i, c);
      for (int k = 0; k < i; ++k) s -= A(i, k) * B(k, c);
      B(i, c) = s;
    }
    for (int i = 0; i < n; ++i) B(i, c) = d[i] != T(0) ? B(i, c) / d[i] : T(0);  // D z = y
    for (int i = n - 1; i >= 0; --i) {  // Lᵀ x = z
      T s = B(i, c);
      for (int k = i + 1; k < n; ++k) s -= A(k, i) * B(k, c);
      B(i, c) = s;
    }
  }
  sync();
}

}  // namespace kalmanscan::filters::gpu::group
