// The fast paths' parallel filter (state sizes 2, 4, 6): chunk-sequential in three phases.
//  1. Each thread runs the affine filter of fast_steps.cuh over its chunk of steps (one solve per
//     step), giving the chunk's filtering element (the first chunk's starts from the prior or the
//     carry: A = 0), in ChunkArithmetic (double), or in float for float steps on long logs
//     (fast_io.cuh: with_chunk_arithmetic; W below).
//  2. A scan over the chunks' elements (in W, as phase 1; FilterOp's solves in registers,
//     fast_steps.cuh: RegisterSolver): the prefix up to chunk c − 1 has A = 0, b = the filtered
//     mean and C = the covariance at the last step before chunk c.
//  3. Each thread filters its chunk sequentially from that state, writing every step.
// Element work is done once per step, in registers; the scan is over steps / chunk elements.
#pragma once

#include "fast_io.cuh"
#include "fast_steps.cuh"

namespace kalmanscan::filters::gpu::fast {

template <class C, int N, bool Affine, class S>
__device__ void update_at(ChunkFilter<C, N, Affine>& f, const FilterProblem<S>& p, std::size_t t, bool vec) {
  f.update(load_mat<C, N>(p.Psi + (p.Psi_invariant ? 0 : t) * N * N, vec), load_vec<C, N>(p.psi + t * N, vec));
}
template <class C, int N, bool Affine, class S>
__device__ void step_at(ChunkFilter<C, N, Affine>& f, const FilterProblem<S>& p, std::size_t t, bool vec) {
  const Transition<C, N, S> tr(p.into, t);
  f.predict(tr.F, tr.Q, tr.c);
  update_at(f, p, t, vec);
}

/// Phase 1: the filtering element of each chunk, in W.
template <class S, class W, int N>
__global__ void filter_chunk_elements(FilterProblem<S> p, Chunks ch, elements::FilterElement<W, N>* out) {
  const std::size_t c = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= ch.count) return;
  ChunkFilter<W, N, true> f;
  std::size_t t = ch.begin(c);
  if (c > 0) {
    f.start_unknown();
  } else {
    f.start_known(load_vec<W, N>(p.m), load_mat<W, N>(p.P));
    if (!p.continued) {  // a fresh sequence: the prior is the state at step 0, before its update
      update_at(f, p, 0, ch.vector_io);
      t = 1;
    }
  }
  for (; t < ch.end(c); ++t) step_at(f, p, t, ch.vector_io);
  out[c] = f.element();
}

/// Phase 3: the sequential filter of each chunk from the filtered state before it.
template <class S, class C, class W, int N>
__global__ void filter_chunks(FilterProblem<S> p, Chunks ch, const elements::FilterElement<W, N>* prefix,
                              Output<S, N> out) {
  const std::size_t c = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= ch.count) return;
  ChunkFilter<C, N, false> f;
  std::size_t t = ch.begin(c);
  // A prefix whose scan broke down is reported at the first step that starts from it.
  bool broke = false;
  if (c > 0) {
    const elements::FilterElement<W, N>& e = prefix[c - 1];
    f.start_known(load_vec<C, N>(e.b.v), load_mat<C, N>(e.C.v));
    broke = e.failed != 0;
  } else {
    f.start_known(load_vec<C, N>(p.m), load_mat<C, N>(p.P));
    if (!p.continued) {
      update_at(f, p, 0, ch.vector_io);
      out(0, f.b, f.C, !f.ok, ch.vector_io);
      t = 1;
    }
  }
  for (; t < ch.end(c); ++t) {
    f.ok = true;
    step_at(f, p, t, ch.vector_io);
    out(t, f.b, f.C, broke || !f.ok, ch.vector_io);
    broke = false;
  }
}

template <class S, class C, int N>
cudaError_t filter(const FilterProblem<S>& p, S* m, S* P, unsigned long long* failed, const DeviceOptions& o,
                   cudaStream_t s) {
  const bool vec = aligned16(p.psi, p.Psi, m, P);  // Ψ is read by vectors when time-invariant too
  return with_chunk_arithmetic<C>(p.steps, [&](auto w) {
    using W = decltype(w);
    return run_phases<elements::FilterOp<W, N, RegisterSolver>>(filter_chunk_elements<S, W, N>,
                                                                 filter_chunks<S, C, W, N>, p, o.fast_chunk, vec,
                                                                 false, {m, P, failed}, s);
  });
}

}  // namespace kalmanscan::filters::gpu::fast
