// Cooperative dense linear algebra for a run-time size n <= 32 (the group path of the parallel
// filter: state sizes without a compiled fast path). All threads of a block (a "group" of one to
// a few warps, blockDim.x a multiple of 32) call each routine together; matrices are row-major in
// shared or global memory with an explicit row stride; every routine ends with __syncthreads(),
// so its result is visible to the whole group. The algorithms are those of
// kalmanscan/scan/small_linalg.hpp (LU with partial pivoting, the guarded LDLᵀ), distributed over
// threads instead of unrolled at compile time, so one compiled kernel serves every size and nvcc
// compiles it in seconds.
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

/// out = a · b (+ add when given), out R × C; out must not alias a or b (it may alias add).
template <class T>
__device__ void matmul(View<T> out, View<const T> a, View<const T> b, int R, int K, int C,
                       View<const T> add = {nullptr, 0, 0}) {
  for (int idx = rank(); idx < R * C; idx += stride()) {
    const int i = idx / C, j = idx - i * C;
    T s = add.p ? add(i, j) : T(0);
    for (int k = 0; k < K; ++k) s += a(i, k) * b(k, j);
    out(i, j) = s;
  }
  sync();
}

/// out = (a + aᵀ) / 2 for an n × n a (out may not alias a).
template <class T>
__device__ void symmetrise(View<T> out, View<const T> a, int n) {
  for (int idx = rank(); idx < n * n; idx += stride()) {
    const int i = idx / n, j = idx - i * n;
    out(i, j) = T(0.5) * (a(i, j) + a(j, i));
  }
  sync();
}

/// dst = src (count values).
template <class T, class U>
__device__ void copy(T* dst, const U* src, int count) {
  for (int k = rank(); k < count; k += stride()) dst[k] = T(src[k]);
  sync();
}

/// Solves A X = B in place (A n × n is destroyed, B n × m becomes X) by LU with partial
/// pivoting. Returns false (for the whole group) when a pivot is exactly zero.
template <class T>
__device__ bool lu_solve(View<T> A, View<T> B, int n, int m) {
  for (int k = 0; k < n; ++k) {
    // Pivot: the largest |A(i, k)|, i >= k (ties to the smallest i, as the host version),
    // found by the first warp (n <= 32 rows) and shared through `pivot_row` (-1: zero pivot).
    __shared__ int pivot_row;
    if (rank() < 32) {
      T best = T(-1);
      int p = k;
      for (int i = k + rank(); i < n; i += 32) {
        const T c = fabs(A(i, k));
        if (c > best) best = c, p = i;
      }
      for (int off = 16; off > 0; off /= 2) {
        const T ob = __shfl_xor_sync(0xffffffffu, best, off);
        const int op = __shfl_xor_sync(0xffffffffu, p, off);
        if (ob > best || (ob == best && op < p)) best = ob, p = op;
      }
      if (rank() == 0) pivot_row = best == T(0) ? -1 : p;
    }
    sync();
    const int p = pivot_row;
    sync();  // pivot_row is rewritten at the next k
    if (p < 0) return false;
    if (p != k) {
      for (int j = rank(); j < n + m; j += stride()) {
        T& x = j < n ? A(k, j) : B(k, j - n);
        T& y = j < n ? A(p, j) : B(p, j - n);
        const T t = x;
        x = y, y = t;
      }
      sync();
    }
    // Eliminate below the pivot (columns k+1 … n-1 of A and all of B).
    // The multipliers l_i = A(i, k) / A(k, k) are stored in place of A(i, k) first.
    const T pivot = A(k, k);
    for (int i = k + 1 + rank(); i < n; i += stride()) A(i, k) /= pivot;
    sync();
    const int rows = n - k - 1, cols = n - k - 1 + m;
    for (int idx = rank(); idx < rows * cols; idx += stride()) {
      const int i = k + 1 + idx / cols, c = idx % cols;
      if (c < n - k - 1)
        A(i, k + 1 + c) -= A(i, k) * A(k, k + 1 + c);
      else
        B(i, c - (n - k - 1)) -= A(i, k) * B(k, c - (n - k - 1));
    }
    sync();
  }
  // Back substitution U X = B, one thread per column of B.
  for (int j = rank(); j < m; j += stride())
    for (int i = n - 1; i >= 0; --i) {
      T s = B(i, j);
      for (int k = i + 1; k < n; ++k) s -= A(i, k) * B(k, j);
      B(i, j) = s / A(i, i);
    }
  sync();
  return true;
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
