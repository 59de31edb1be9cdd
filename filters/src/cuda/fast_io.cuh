// What the fast paths' filter (fast_filter.cuh) and smoother (fast_smooth.cuh) share: the split
// of the steps into chunks of one thread each, loads of inputs in the storage type S into the
// arithmetic type C (by 16-byte vectors where the arrays' alignment allows, else scalar), the
// store of a step's mean/covariance with the failure report, and the scan over the chunks'
// elements (arrays in, arrays out).
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "device_buffers.cuh"
#include "gpu.hpp"
#include "kalmanscan/filters/parallel_elements.hpp"

namespace kalmanscan::filters::gpu::fast {

using elements::Mat;
using elements::Vec;

/// The arithmetic of the elements of whole chunks (phase 1) and of their scan (phase 2) where the
/// steps are in double (double, and float storage with double arithmetic), and for float steps on
/// logs shorter than float_chunks_min_steps: in double, the state at each chunk boundary is as
/// accurate as double, and a float run's error is that of the float sequential filter over one
/// chunk (phase 3), not that of a float scan. The cost is small: phase 2 runs over steps / chunk
/// elements only.
using ChunkArithmetic = double;

/// run(W{}) with W the arithmetic of phases 1–2: float where the steps are in float (C) and the
/// log has at least float_chunks_min_steps steps (halves the elements' size and their
/// arithmetic's latency; the accuracy it costs, by length, is the constant's comment in gpu.hpp),
/// ChunkArithmetic otherwise.
template <class C, class Run>
cudaError_t with_chunk_arithmetic(std::size_t steps, Run run) {
  if constexpr (std::is_same_v<C, float>)
    if (steps >= float_chunks_min_steps) return run(float{});
  return run(ChunkArithmetic{});
}

/// Steps per chunk (one thread each) when the caller does not choose: the power of two k ≥ 4 with
/// 512 k² ≥ steps, at most 256 (k ≈ √steps / 16: longer chunks lengthen phases 1 and 3, which run
/// k steps in sequence; shorter ones give the scan of phase 2 more elements and levels). The
/// H200 sweep (docs/BENCHMARKS.md, state 4) had its fastest filter + smoother at k = 4, 16, 64,
/// 256 for 10³, 10⁵, 10⁶, 10⁷ steps, which this rule picks.
inline std::size_t default_chunk(std::size_t steps) {
  std::size_t k = 4;
  while (k < 256 && 512 * k * k < steps) k *= 2;
  return k;
}

struct Chunks {
  std::size_t steps, length, count;  ///< chunk c holds steps [c·length, min(steps, (c+1)·length))
  bool vector_io = false;            ///< the per-step arrays are 16-byte aligned: rows by vector accesses
  __host__ __device__ std::size_t begin(std::size_t c) const { return c * length; }
  __host__ __device__ std::size_t end(std::size_t c) const { return c * length + length < steps ? c * length + length : steps; }
};

inline Chunks chunks_of(std::size_t steps, std::size_t chunk, bool vector_io) {
  const std::size_t length = chunk ? chunk : default_chunk(steps);
  return {steps, length, (steps + length - 1) / length, vector_io};
}

/// Whether every pointer given is 16-byte aligned (null ones count as aligned).
template <class... P>
bool aligned16(const P*... p) {
  return ((reinterpret_cast<std::uintptr_t>(p) % 16 == 0) && ...);
}

inline constexpr unsigned block_threads = 64;
inline unsigned grid_of(const Chunks& c) { return unsigned((c.count + block_threads - 1) / block_threads); }

/// Whether a row of L values of S, stored back to back from a 16-byte aligned base, can be moved
/// by 16-byte vectors: every row then starts 16-byte aligned.
template <class S, int L>
inline constexpr bool vector_row = (L * sizeof(S)) % 16 == 0;
template <class S>
using Vector16 = std::conditional_t<std::is_same_v<S, float>, float4, double2>;

/// Row p[0 … L) into out[0 … L) converted to C; by 16-byte vector loads when `vec` (p 16-byte
/// aligned) and the row's length allows: one load instruction per 16 bytes, where the strided
/// rows of a warp's threads (one chunk each, a chunk apart) make every scalar load touch 32 lines.
template <class C, int L, class S>
__device__ inline void load_row(const S* p, C* out, bool vec) {
  if constexpr (vector_row<S, L>) {
    if (vec) {
      constexpr int W = 16 / sizeof(S);
#pragma unroll
      for (int k = 0; k < L / W; ++k) {
        const Vector16<S> v = reinterpret_cast<const Vector16<S>*>(p)[k];
        if constexpr (W == 4)
          out[4 * k] = C(v.x), out[4 * k + 1] = C(v.y), out[4 * k + 2] = C(v.z), out[4 * k + 3] = C(v.w);
        else
          out[2 * k] = C(v.x), out[2 * k + 1] = C(v.y);
      }
      return;
    }
  }
#pragma unroll
  for (int k = 0; k < L; ++k) out[k] = C(p[k]);
}
/// in[0 … L) converted to S into p[0 … L), as load_row.
template <int L, class S, class C>
__device__ inline void store_row(S* p, const C* in, bool vec) {
  if constexpr (vector_row<S, L>) {
    if (vec) {
      constexpr int W = 16 / sizeof(S);
#pragma unroll
      for (int k = 0; k < L / W; ++k) {
        Vector16<S> v;
        if constexpr (W == 4)
          v.x = S(in[4 * k]), v.y = S(in[4 * k + 1]), v.z = S(in[4 * k + 2]), v.w = S(in[4 * k + 3]);
        else
          v.x = S(in[2 * k]), v.y = S(in[2 * k + 1]);
        reinterpret_cast<Vector16<S>*>(p)[k] = v;
      }
      return;
    }
  }
#pragma unroll
  for (int k = 0; k < L; ++k) p[k] = S(in[k]);
}

template <class C, int N, class S>
__device__ inline Mat<C, N, N> load_mat(const S* p, bool vec = false) {
  Mat<C, N, N> m;
  load_row<C, N * N>(p, m.v, vec);
  return m;
}
template <class C, int N, class S>
__device__ inline Vec<C, N> load_vec(const S* p, bool vec = false) {
  Vec<C, N> v;
  load_row<C, N>(p, v.v, vec);
  return v;
}

/// The transition (F, Q, c) of entry t of a Transitions array (entry 0 when time-invariant).
template <class C, int N, class S>
struct Transition {
  Mat<C, N, N> F, Q;
  Vec<C, N> c;
  __device__ Transition(const Transitions<S>& tr, std::size_t t) {
    const std::size_t j = tr.invariant ? 0 : t;
    F = load_mat<C, N>(tr.F + j * N * N), Q = load_mat<C, N>(tr.Q + j * N * N), c = load_vec<C, N>(tr.c + j * N);
  }
};

/// Stores step t's mean/covariance in S (by vectors when `vec`: Chunks::vector_io); notes the
/// first step that broke down (`broke`) or whose stored values are not finite.
template <class S, int N>
struct Output {
  S *mean, *cov;
  unsigned long long* failed;
  template <class C>
  __device__ void operator()(std::size_t t, const Vec<C, N>& m, const Mat<C, N, N>& P, bool broke, bool vec) const {
    S s = S(0);
#pragma unroll
    for (int k = 0; k < N; ++k) s += S(m.v[k]);
#pragma unroll
    for (int k = 0; k < N * N; ++k) s += S(P.v[k]);
    store_row<N>(mean + t * N, m.v, vec);
    store_row<N * N>(cov + t * N * N, P.v, vec);
    if (broke || !isfinite(s)) atomicMin(failed, static_cast<unsigned long long>(t));
  }
};

/// One level of a Hillis–Steele scan: dst[i] = src[i − d] ∘ src[i] (forward) or src[i] ∘ src[i + d]
/// (reverse), src[i] where there is no partner.
template <class Op>
__global__ void scan_level(const typename Op::element* src, typename Op::element* dst, std::size_t count, std::size_t d,
                           bool reverse) {
  const std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  if (!reverse)
    dst[i] = i >= d ? Op::combine(src[i - d], src[i]) : src[i];
  else
    dst[i] = i + d < count ? Op::combine(src[i], src[i + d]) : src[i];
}

/// out[i] = the inclusive prefix (forward) or suffix (reverse) of in[0 … count) under Op, in
/// ⌈log₂ count⌉ launches of scan_level: every chunk's element is combined once per level, all in
/// parallel, so the critical path is ⌈log₂ count⌉ combines (the engine's chunked scan chains
/// 16 per level and thread, which for these register-heavy elements costs milliseconds even
/// for a few hundred chunks). Asynchronous; scratch from `buf`.
template <class Op>
cudaError_t scan_chunks(const typename Op::element* in, typename Op::element* out, std::size_t count,
                        bool reverse, DeviceBuffers& buf, cudaStream_t stream) {
  using E = typename Op::element;
  int levels = 0;
  while ((std::size_t(1) << levels) < count) ++levels;
  if (levels == 0) return cudaMemcpyAsync(out, in, count * sizeof(E), cudaMemcpyDeviceToDevice, stream);
  E* tmp = buf.alloc<E>(count);
  if (!buf.ok()) return buf.error();
  // Ping-pong between tmp and out so that the last level writes out.
  E* dst = levels % 2 ? out : tmp;
  const E* src = in;
  const unsigned grid = unsigned((count + block_threads - 1) / block_threads);
  for (int l = 0; l < levels; ++l) {
    scan_level<Op><<<grid, block_threads, 0, stream>>>(src, dst, count, std::size_t(1) << l, reverse);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    src = dst;
    dst = dst == out ? tmp : out;
  }
  return cudaSuccess;
}

/// The three phases of problem p over its chunks: the kernel phase1 writes each chunk's element,
/// scan_chunks scans them (in reverse for the smoother), the kernel phase3 reads each chunk's
/// prefix (suffix) and writes the chunk's steps to `out`. Asynchronous; the first error.
/// `vector_io`: the per-step arrays may be moved by vectors (the caller checked their alignment).
template <class Op, class Problem, class S, int N>
cudaError_t run_phases(void (*phase1)(Problem, Chunks, typename Op::element*),
                       void (*phase3)(Problem, Chunks, const typename Op::element*, Output<S, N>), const Problem& p,
                       std::size_t chunk, bool vector_io, bool reverse, Output<S, N> out, cudaStream_t stream) {
  using E = typename Op::element;
  const Chunks ch = chunks_of(p.steps, chunk, vector_io);
  DeviceBuffers buf(stream);
  E* elems = buf.alloc<E>(ch.count);
  E* scanned = buf.alloc<E>(ch.count);
  if (!buf.ok()) return buf.error();
  phase1<<<grid_of(ch), block_threads, 0, stream>>>(p, ch, elems);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  if (cudaError_t e = scan_chunks<Op>(elems, scanned, ch.count, reverse, buf, stream); e != cudaSuccess) return e;
  phase3<<<grid_of(ch), block_threads, 0, stream>>>(p, ch, scanned, out);
  return cudaGetLastError();
}

}  // namespace kalmanscan::filters::gpu::fast
