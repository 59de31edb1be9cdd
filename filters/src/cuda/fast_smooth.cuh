// The fast paths' parallel RTS smoother (state sizes 2, 4, 6): chunk-sequential in three phases,
// the mirror of fast_filter.cuh.
//  1. Each thread combines the smoothing elements (E, g, L) of its chunk's steps into the chunk's
//     element (the last chunk's ends with the last step's (0, m, P), or with the smoothed state
//     after the log when the chunk continues: E = 0).
//     In ChunkArithmetic (double), or in float for float steps on long logs
//     (fast_io.cuh: with_chunk_arithmetic; W below).
//  2. A reverse scan over the chunks' elements (in W, as phase 1): the suffix from
//     chunk c + 1 on has E = 0, g = the smoothed mean and L = the covariance at chunk c + 1's
//     first step.
//  3. Each thread runs the RTS recursion backwards over its chunk from that state.
#pragma once

#include "fast_io.cuh"
#include "fast_steps.cuh"

namespace kalmanscan::filters::gpu::fast {

/// Step t's smoothing element from its filtered state and the transition out of it; the last
/// step of a log that ends here is (0, m, P). Its LDLᵀ solve inverts each kept pivot once
/// (scan::ldlt_solve's Reciprocal form), here and in phase 3: 44 → 8 PTX divisions in
/// phase 1's step body and 22 → 4 in phase 3's, and the double phase 1 stopped spilling.
template <class C, int N, class S>
__device__ elements::SmoothElement<C, N> smooth_element_at(const SmoothProblem<S>& p, std::size_t t, bool vec) {
  const Vec<C, N> m = load_vec<C, N>(p.filtered_mean + t * N, vec);
  const Mat<C, N, N> P = load_mat<C, N>(p.filtered_cov + t * N * N, vec);
  if (t + 1 == p.steps && !p.after_mean) return elements::last_smooth_element(m, P);
  const Transition<C, N, S> tr(p.out, t);
  return elements::smooth_element_reciprocal<C, N>(tr.F, tr.Q, tr.c, m, P);
}

/// Phase 1: the smoothing element of each chunk (time order: earlier ∘ later), in W.
template <class S, class W, int N>
__global__ void smooth_chunk_elements(SmoothProblem<S> p, Chunks ch, elements::SmoothElement<W, N>* out) {
  using Op = elements::SmoothOp<W, N>;
  const std::size_t c = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= ch.count) return;
  elements::SmoothElement<W, N> a = smooth_element_at<W, N>(p, ch.begin(c), ch.vector_io);
  for (std::size_t t = ch.begin(c) + 1; t < ch.end(c); ++t)
    a = Op::combine(a, smooth_element_at<W, N>(p, t, ch.vector_io));
  if (c + 1 == ch.count && p.after_mean)
    a = Op::combine(a, elements::last_smooth_element(load_vec<W, N>(p.after_mean), load_mat<W, N>(p.after_cov)));
  out[c] = a;
}

/// Phase 3: the RTS recursion over each chunk, backwards from the smoothed state after it.
template <class S, class C, class W, int N>
__global__ void smooth_chunks(SmoothProblem<S> p, Chunks ch, const elements::SmoothElement<W, N>* suffix,
                              Output<S, N> out) {
  const std::size_t c = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= ch.count) return;
  Vec<C, N> ms = Vec<C, N>::zero();
  Mat<C, N, N> Ps = Mat<C, N, N>::zero();
  if (c + 1 < ch.count) {
    ms = load_vec<C, N>(suffix[c + 1].g.v), Ps = load_mat<C, N>(suffix[c + 1].L.v);
  } else if (p.after_mean) {
    ms = load_vec<C, N>(p.after_mean), Ps = load_mat<C, N>(p.after_cov);
  }  // else the chunk's last step is the log's, which needs no state after it
  for (std::size_t t = ch.end(c); t-- > ch.begin(c);) {
    const Vec<C, N> m = load_vec<C, N>(p.filtered_mean + t * N, ch.vector_io);
    const Mat<C, N, N> P = load_mat<C, N>(p.filtered_cov + t * N * N, ch.vector_io);
    if (t + 1 == p.steps && !p.after_mean) {  // the log's last step: smoothed = filtered
      ms = m, Ps = P;
    } else {
      const Transition<C, N, S> tr(p.out, t);
      rts_step(elements::smooth_element_reciprocal<C, N>(tr.F, tr.Q, tr.c, m, P), m, tr.F * m + tr.c, ms, Ps);
    }
    out(t, ms, Ps, false, ch.vector_io);
  }
}

template <class S, class C, int N>
cudaError_t smooth(const SmoothProblem<S>& p, S* m, S* P, unsigned long long* failed, const DeviceOptions& o,
                   cudaStream_t s) {
  const bool vec = aligned16(p.filtered_mean, p.filtered_cov, m, P);
  return with_chunk_arithmetic<C>(p.steps, [&](auto w) {
    using W = decltype(w);
    return run_phases<elements::SmoothOp<W, N>>(smooth_chunk_elements<S, W, N>, smooth_chunks<S, C, W, N>, p,
                                                o.fast_chunk, vec, true, {m, P, failed}, s);
  });
}

}  // namespace kalmanscan::filters::gpu::fast
