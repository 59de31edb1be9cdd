// KLA forward and backward kernels (fp32). Design in kalmanscan/kla/cuda.hpp; per-slot
// arithmetic in ../step.hpp and ../operators.hpp (shared with the CPU kernels).
//
// Block = (batch entry b, tile of `mt` channels). Thread = (lane, chunk): lane = (channel of the
// tile, slot) with the slots of one channel on `sp` consecutive lanes (S rounded up to a power
// of two), chunk = which `chunk_len` tokens of the current round the thread owns. Each round of
// `round_len` tokens:
//   1. every thread folds its chunk's precision maps (Mobius2Op) → block exchange (per lane,
//      in time order, from the round's carried λ) → λ at its chunk start;
//   2. steps λ through its chunk folding the mean maps (AffineOp) → exchange → η at chunk start;
//   3. rescans its chunk, leaving per-token terms in shared memory, which the block then sums
//      over slots (readout) or channels (k̄, q̄) — no atomics inside the block.
// The backward keeps the state at every `rounds_per_checkpoint`-th round start in global
// scratch, recomputes a checkpoint span's round starts into shared memory, and walks the rounds
// backwards: recompute chunk starts, fold each chunk's adjoint maps (AdjointOp) → reverse
// exchange from the round's carried adjoints → rescan the chunk backwards emitting gradients.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "kalmanscan/scan/operators/affine.hpp"
#include "kalmanscan/scan/operators/mobius.hpp"
#include "operators.hpp"
#include "step.hpp"

namespace kalmanscan::kla::cuda::detail {

using kla::detail::Adjoint2;
using kla::detail::AdjointOp;
using kla::detail::SlotParams;
using scan::Affine;
using scan::AffineOp;
using scan::Mobius2;
using scan::Mobius2Op;

// Tuning (see kalmanscan/kla/cuda.hpp). `Chunks` (thread rows, each owning one chunk of a round)
// is a template parameter: 1 when there are enough blocks to fill the GPU — then a round is one
// chunk, stepped directly from the carried state with no reduce or exchange — and 4 when there
// are few (long sequences, small batch), to split the time axis.
constexpr int lanes = 128;      ///< (channel, slot) pairs per block
constexpr int round_len = 32;   ///< tokens per round
constexpr int rounds_per_checkpoint = 16;  ///< a checkpoint every 512 tokens
template <int Chunks>
constexpr int chunk_len = round_len / Chunks;  ///< tokens per chunk

struct Geometry {
  int B, M, S;
  long long L;
  int sp;                  ///< S rounded up to a power of two (≤ lanes)
  int mt;                  ///< channels per block: lanes / sp
  int tiles;               ///< ⌈M / mt⌉ blocks per batch entry
  long long rounds;        ///< ⌈L / round_len⌉
  long long checkpoints;   ///< ⌈rounds / rounds_per_checkpoint⌉
};

struct DeviceIn {
  const float *v, *lam_v, *k, *q, *a_bar, *p_bar, *lam0, *eta0;  ///< lam0, eta0 may be null
};
struct DeviceOut {
  float *y, *y_var, *lam_T, *eta_T;  ///< lam_T, eta_T may be null
};
struct DeviceCot {
  const float *y, *y_var, *lam_T, *eta_T;  ///< any may be null (zero)
};
struct DeviceGrad {
  float *v, *lam_v, *k, *q, *a_bar, *p_bar, *lam0, *eta0;  ///< lam0, eta0 may be null
};

/// This thread's place in the block.
struct Lane {
  int lane, c, ml, j;
  int b, m;
  bool active;  ///< a real (channel, slot); padding lanes compute on dummies and write nothing
  SlotParams<float> sp;

  __device__ std::size_t seq(const Geometry& g, long long t) const { return (std::size_t(b) * g.L + t) * g.M + m; }
  __device__ std::size_t key(const Geometry& g, long long t) const { return (std::size_t(b) * g.L + t) * g.S + j; }
  __device__ std::size_t state(const Geometry& g) const { return (std::size_t(b) * g.M + m) * g.S + j; }
};

__device__ inline Lane make_lane(const Geometry& g, const float* a_bar, const float* p_bar) {
  Lane l;
  l.lane = int(threadIdx.x) % lanes;
  l.c = int(threadIdx.x) / lanes;
  l.j = l.lane % g.sp;
  l.ml = l.lane / g.sp;
  l.b = int(blockIdx.x) / g.tiles;
  l.m = (int(blockIdx.x) % g.tiles) * g.mt + l.ml;
  l.active = l.j < g.S && l.m < g.M;
  l.sp = l.active ? kla::detail::slot_params(a_bar[l.m * g.S + l.j], p_bar[l.m * g.S + l.j])
                  : SlotParams<float>{1.f, 1.f, false};
  return l;
}

/// One token's inputs for this lane (zeros on padding lanes).
struct Token {
  float lv, v, k, q;
};

/// The current round's tokens, staged in shared memory by the whole block with coalesced loads
/// (the sequential steps then never wait on global memory): channel data [round_len][mt] (the
/// cotangents of y, y_var only in the backward's reverse rounds), slot data [round_len][sp].
struct Staged {
  float *lv, *v, *gy, *gyv, *k, *q;

  /// Bytes of dynamic shared memory for a geometry.
  __host__ __device__ static std::size_t bytes(const Geometry& g) {
    return std::size_t(round_len) * (4 * std::size_t(g.mt) + 2 * std::size_t(g.sp)) * sizeof(float);
  }
  __device__ static Staged carve(float* base, const Geometry& g) {
    const int c = round_len * g.mt, s = round_len * g.sp;
    return {base, base + c, base + 2 * c, base + 3 * c, base + 4 * c, base + 4 * c + s};
  }
};

/// Loads round r's tokens of this block's channels (and, when cot is given, the cotangents of
/// y, y_var) into st; zeros past L, M or S. Synchronises before (the previous round's tokens may
/// still be read) and after.
__device__ inline void stage_round(const Staged& st, const DeviceIn& in, const DeviceCot* cot, const Geometry& g,
                                   long long r) {
  __syncthreads();
  const int b = int(blockIdx.x) / g.tiles, m0 = (int(blockIdx.x) % g.tiles) * g.mt;
  for (int i = int(threadIdx.x); i < round_len * g.mt; i += int(blockDim.x)) {
    const long long t = r * round_len + i / g.mt;
    const int m = m0 + i % g.mt;
    const bool ok = t < g.L && m < g.M;
    const std::size_t s = ok ? (std::size_t(b) * g.L + t) * g.M + m : 0;
    st.lv[i] = ok ? in.lam_v[s] : 0.f;
    st.v[i] = ok ? in.v[s] : 0.f;
    if (cot) {
      st.gy[i] = ok && cot->y ? cot->y[s] : 0.f;
      st.gyv[i] = ok && cot->y_var ? cot->y_var[s] : 0.f;
    }
  }
  for (int i = int(threadIdx.x); i < round_len * g.sp; i += int(blockDim.x)) {
    const long long t = r * round_len + i / g.sp;
    const int j = i % g.sp;
    const bool ok = t < g.L && j < g.S;
    const std::size_t s = ok ? (std::size_t(b) * g.L + t) * g.S + j : 0;
    st.k[i] = ok ? in.k[s] : 0.f;
    st.q[i] = ok ? in.q[s] : 0.f;
  }
  __syncthreads();
}

/// Token t (of the staged round r) for this lane.
__device__ inline Token read_token(const Staged& st, const Geometry& g, const Lane& l, long long t) {
  if (!l.active) return {0.f, 0.f, 0.f, 0.f};
  const int kk = int(t % round_len);
  return {st.lv[kk * g.mt + l.ml], st.v[kk * g.mt + l.ml], st.k[kk * g.sp + l.j], st.q[kk * g.sp + l.j]};
}

/// The tokens [lo, hi) of this thread's chunk in round r (hi ≤ lo when the chunk is past L).
template <int Chunks>
__device__ inline void chunk_range(const Geometry& g, const Lane& l, long long r, long long& lo, long long& hi) {
  lo = r * round_len + l.c * chunk_len<Chunks>;
  hi = lo + chunk_len<Chunks> < g.L ? lo + chunk_len<Chunks> : g.L;
}

/// Shared memory for the block exchanges and the carried state of each lane.
template <int Chunks>
struct Exchange {
  union {
    Mobius2<float> mob[Chunks][lanes];
    Affine<float> aff[Chunks][lanes];
    Adjoint2<float> adj[Chunks][lanes];
    float sum[Chunks][lanes][2];
  } x;
  float lam[lanes], eta[lanes];  ///< state carried into the current round
};

/// Phases 1–2 of a round: this thread's state (lam, eta) before its chunk, from the carried
/// state of the round start in ex. With several chunks the carried state advances to the round's
/// end; with one, it stays (the caller steps the chunk and stores the end state: advance_round).
/// Contains __syncthreads: every thread of the block calls it.
template <int Chunks>
__device__ inline void chunk_start(Exchange<Chunks>& ex, const Staged& st, const Geometry& g, const Lane& l,
                                   long long lo, long long hi, float& lam, float& eta) {
  if constexpr (Chunks == 1) {
    lam = ex.lam[l.lane];
    eta = ex.eta[l.lane];
    return;
  }
  // 1. Precision: fold the chunk's Möbius maps; exclusive scan over chunks from the constant map to λ.
  Mobius2<float> agg = Mobius2Op<float>::identity();
  for (long long t = lo; t < hi; ++t) {
    const Token tk = read_token(st, g, l, t);
    agg = Mobius2Op<float>::combine(agg, kla::detail::precision_leaf(l.sp, kla::detail::observation_precision(tk.lv, tk.k)));
  }
  ex.x.mob[l.c][l.lane] = agg;
  __syncthreads();
  if (l.c == 0) {
    Mobius2<float> acc{0.f, ex.lam[l.lane], 0.f, 1.f};
    for (int c = 0; c < Chunks; ++c) {
      const Mobius2<float> a = ex.x.mob[c][l.lane];
      ex.x.mob[c][l.lane] = acc;
      acc = Mobius2Op<float>::combine(acc, a);
    }
    ex.lam[l.lane] = acc.apply(1.f);
  }
  __syncthreads();
  lam = ex.x.mob[l.c][l.lane].apply(1.f);
  __syncthreads();
  // 2. Mean: step λ through the chunk folding the affine maps (f_t, r_t); exclusive scan from η.
  Affine<float> mean = AffineOp<float>::identity();
  float lt = lam;
  for (long long t = lo; t < hi; ++t) {
    const Token tk = read_token(st, g, l, t);
    const float f = kla::detail::precision_step(l.sp, kla::detail::observation_precision(tk.lv, tk.k), lt);
    mean = AffineOp<float>::combine(mean, Affine<float>{f, tk.lv * tk.v * tk.k});
  }
  ex.x.aff[l.c][l.lane] = mean;
  __syncthreads();
  if (l.c == 0) {
    Affine<float> acc{0.f, ex.eta[l.lane]};
    for (int c = 0; c < Chunks; ++c) {
      const Affine<float> a = ex.x.aff[c][l.lane];
      ex.x.aff[c][l.lane] = acc;
      acc = AffineOp<float>::combine(acc, a);
    }
    ex.eta[l.lane] = acc.b;
  }
  __syncthreads();
  eta = ex.x.aff[l.c][l.lane].b;
  __syncthreads();
}

/// Moves the carried state in ex over round r (the checkpoint sweeps).
template <int Chunks>
__device__ inline void advance_round(Exchange<Chunks>& ex, const Staged& st, const DeviceIn& in, const Geometry& g,
                                     const Lane& l, long long r) {
  stage_round(st, in, nullptr, g, r);
  long long lo, hi;
  chunk_range<Chunks>(g, l, r, lo, hi);
  float lam, eta;
  chunk_start(ex, st, g, l, lo, hi, lam, eta);
  if constexpr (Chunks == 1) {
    for (long long t = lo; t < hi; ++t) {
      const Token tk = read_token(st, g, l, t);
      kla::detail::step(l.sp, kla::detail::observation_precision(tk.lv, tk.k), tk.lv * tk.v * tk.k, lam, eta);
    }
    ex.lam[l.lane] = lam;
    ex.eta[l.lane] = eta;
  }
}

/// Loads the carried-in state (or the prior) into ex (chunk-0 threads).
template <int Chunks>
__device__ inline void load_initial_state(Exchange<Chunks>& ex, const DeviceIn& in, const Geometry& g, const Lane& l) {
  if (l.c == 0) {
    ex.lam[l.lane] = l.active && in.lam0 ? in.lam0[l.state(g)] : 1.f;
    ex.eta[l.lane] = l.active && in.eta0 ? in.eta0[l.state(g)] : 0.f;
  }
  __syncthreads();
}

template <int Chunks>
struct ForwardShared {
  Exchange<Chunks> ex;
  float y[round_len][lanes], y_var[round_len][lanes];
};

template <int Chunks>
__global__ void __launch_bounds__(lanes* Chunks) forward_kernel(DeviceIn in, DeviceOut out, Geometry g) {
  constexpr int K = chunk_len<Chunks>, threads = lanes * Chunks;
  __shared__ ForwardShared<Chunks> sh;
  extern __shared__ __align__(16) float staged_raw[];
  const Staged st = Staged::carve(staged_raw, g);
  const Lane l = make_lane(g, in.a_bar, in.p_bar);
  load_initial_state(sh.ex, in, g, l);
  for (long long r = 0; r < g.rounds; ++r) {
    stage_round(st, in, nullptr, g, r);
    long long lo, hi;
    chunk_range<Chunks>(g, l, r, lo, hi);
    float lam, eta;
    chunk_start(sh.ex, st, g, l, lo, hi, lam, eta);
    // 3. Rescan the chunk, leaving each token's readout terms for the sum over slots.
    for (int k = 0; k < K; ++k) {
      float y = 0.f, y_var = 0.f;
      if (lo + k < hi) {
        const Token tk = read_token(st, g, l, lo + k);
        kla::detail::step(l.sp, kla::detail::observation_precision(tk.lv, tk.k), tk.lv * tk.v * tk.k, lam, eta);
        if (l.active) kla::detail::readout(tk.q, lam, eta, y, y_var);
      }
      sh.y[l.c * K + k][l.lane] = y;
      sh.y_var[l.c * K + k][l.lane] = y_var;
    }
    if constexpr (Chunks == 1) {  // the chunk is the round: its end state is carried on
      sh.ex.lam[l.lane] = lam;
      sh.ex.eta[l.lane] = eta;
    }
    __syncthreads();
    // Sum over slots: one (token, channel) per thread, consecutive threads on consecutive channels.
    for (int i = int(threadIdx.x); i < round_len * g.mt; i += threads) {
      const int kk = i / g.mt, ml = i % g.mt;
      const long long t = r * round_len + kk;
      const int m = (int(blockIdx.x) % g.tiles) * g.mt + ml;
      if (t >= g.L || m >= g.M) continue;
      float y = 0.f, y_var = 0.f;
      for (int j = 0; j < g.S; ++j) {
        y += sh.y[kk][ml * g.sp + j];
        y_var += sh.y_var[kk][ml * g.sp + j];
      }
      const std::size_t s = (std::size_t(l.b) * g.L + t) * g.M + m;
      out.y[s] = y;
      out.y_var[s] = y_var;
    }
    __syncthreads();
  }
  if (l.c == 0 && l.active) {
    if (out.lam_T) out.lam_T[l.state(g)] = sh.ex.lam[l.lane];
    if (out.eta_T) out.eta_T[l.state(g)] = sh.ex.eta[l.lane];
  }
}

template <int Chunks>
struct BackwardShared {
  Exchange<Chunks> ex;
  float adj_eta[lanes], adj_lam[lanes];  ///< adjoints of the state after the current round
  float start_lam[rounds_per_checkpoint][lanes], start_eta[rounds_per_checkpoint][lanes];
  float gv[round_len][lanes], glv[round_len][lanes], gk[round_len][lanes], gq[round_len][lanes];
};

/// The staged cotangents of y and y_var at token t for this lane's channel.
__device__ inline void read_cotangents(const Staged& st, const Geometry& g, const Lane& l, long long t, float& gy,
                                       float& gyv) {
  const int kk = int(t % round_len);
  gy = l.active ? st.gy[kk * g.mt + l.ml] : 0.f;
  gyv = l.active ? st.gyv[kk * g.mt + l.ml] : 0.f;
}

/// Backward; grad.k, grad.q, grad.a_bar, grad.p_bar must be zero on entry (summed with atomics
/// across blocks). `checkpoints`: blocks · g.checkpoints · 2 · lanes floats of scratch.
template <int Chunks>
__global__ void __launch_bounds__(lanes* Chunks) backward_kernel(DeviceIn in, DeviceCot cot, DeviceGrad grad, Geometry g,
                                                                 float* checkpoints) {
  constexpr int K = chunk_len<Chunks>, threads = lanes * Chunks;
  extern __shared__ __align__(16) unsigned char shared_raw[];
  BackwardShared<Chunks>& sh = *reinterpret_cast<BackwardShared<Chunks>*>(shared_raw);
  const Staged st = Staged::carve(reinterpret_cast<float*>(shared_raw + sizeof(BackwardShared<Chunks>)), g);
  const Lane l = make_lane(g, in.a_bar, in.p_bar);
  float* ck = checkpoints + std::size_t(blockIdx.x) * std::size_t(g.checkpoints) * 2 * lanes;

  // Forward sweep: the state at each checkpoint's first round.
  load_initial_state(sh.ex, in, g, l);
  for (long long r = 0; r < g.rounds; ++r) {
    if (r % rounds_per_checkpoint == 0 && l.c == 0) {
      ck[(r / rounds_per_checkpoint) * 2 * lanes + l.lane] = sh.ex.lam[l.lane];
      ck[(r / rounds_per_checkpoint) * 2 * lanes + lanes + l.lane] = sh.ex.eta[l.lane];
    }
    advance_round(sh.ex, st, in, g, l, r);
  }
  if (l.c == 0) {
    sh.adj_eta[l.lane] = l.active && cot.eta_T ? cot.eta_T[l.state(g)] : 0.f;
    sh.adj_lam[l.lane] = l.active && cot.lam_T ? cot.lam_T[l.state(g)] : 0.f;
    if (g.L == 0 && l.active) {  // nothing between the carried state and the carry-out
      if (grad.lam0) grad.lam0[l.state(g)] = sh.adj_lam[l.lane];
      if (grad.eta0) grad.eta0[l.state(g)] = sh.adj_eta[l.lane];
    }
  }
  float a_sum = 0.f, p_sum = 0.f;
  for (long long cp = g.checkpoints - 1; cp >= 0; --cp) {
    const long long r0 = cp * rounds_per_checkpoint;
    const long long r1 = r0 + rounds_per_checkpoint < g.rounds ? r0 + rounds_per_checkpoint : g.rounds;
    // Round starts of this span, from its checkpoint.
    if (l.c == 0) {
      sh.ex.lam[l.lane] = ck[cp * 2 * lanes + l.lane];
      sh.ex.eta[l.lane] = ck[cp * 2 * lanes + lanes + l.lane];
    }
    __syncthreads();
    for (long long r = r0; r < r1; ++r) {
      if (l.c == 0) {
        sh.start_lam[r - r0][l.lane] = sh.ex.lam[l.lane];
        sh.start_eta[r - r0][l.lane] = sh.ex.eta[l.lane];
      }
      advance_round(sh.ex, st, in, g, l, r);
    }
    for (long long r = r1 - 1; r >= r0; --r) {
      if (l.c == 0) {
        sh.ex.lam[l.lane] = sh.start_lam[r - r0][l.lane];
        sh.ex.eta[l.lane] = sh.start_eta[r - r0][l.lane];
      }
      __syncthreads();
      stage_round(st, in, &cot, g, r);
      long long lo, hi;
      chunk_range<Chunks>(g, l, r, lo, hi);
      float sl[K + 1], se[K + 1];  // states of the chunk: index k = before its k-th token
      chunk_start(sh.ex, st, g, l, lo, hi, sl[0], se[0]);
      // The chunk's states; with several chunks, fold its adjoint maps in time order too.
      Adjoint2<float> agg = AdjointOp<float>::identity();
#pragma unroll
      for (int k = 0; k < K; ++k) {
        sl[k + 1] = sl[k];
        se[k + 1] = se[k];
        if (lo + k < hi) {
          const Token tk = read_token(st, g, l, lo + k);
          kla::detail::step(l.sp, kla::detail::observation_precision(tk.lv, tk.k), tk.lv * tk.v * tk.k, sl[k + 1],
                            se[k + 1]);
          if constexpr (Chunks > 1) {
            float gy, gyv;
            read_cotangents(st, g, l, lo + k, gy, gyv);
            agg = AdjointOp<float>::combine(
                agg, kla::detail::adjoint_leaf(l.sp, tk.q, sl[k + 1], se[k + 1], gy, gyv, lo + k + 1 < g.L));
          }
        }
      }
      // Reverse exchange: the adjoints after this chunk, from those after the round.
      float eta_bar = sh.adj_eta[l.lane], lam_bar = sh.adj_lam[l.lane];
      if constexpr (Chunks > 1) {
        sh.ex.x.adj[l.c][l.lane] = agg;
        __syncthreads();
        if (l.c == 0) {
          Adjoint2<float> acc{0.f, 0.f, 0.f, eta_bar, lam_bar};
          for (int c = Chunks - 1; c >= 0; --c) {
            const Adjoint2<float> a = sh.ex.x.adj[c][l.lane];
            sh.ex.x.adj[c][l.lane] = acc;
            acc = AdjointOp<float>::combine(a, acc);
          }
          sh.adj_eta[l.lane] = acc.be;
          sh.adj_lam[l.lane] = acc.bl;
        }
        __syncthreads();
        eta_bar = sh.ex.x.adj[l.c][l.lane].be;
        lam_bar = sh.ex.x.adj[l.c][l.lane].bl;
        __syncthreads();
      }
      // Rescan backwards: adjoints of each token's state, then the token's gradients.
#pragma unroll
      for (int k = K - 1; k >= 0; --k) {
        float gv = 0.f, glv = 0.f, gk = 0.f, gq = 0.f;
        if (lo + k < hi) {
          const long long t = lo + k;
          const Token tk = read_token(st, g, l, t);
          float gy, gyv;
          read_cotangents(st, g, l, t, gy, gyv);
          kla::detail::adjoint_leaf(l.sp, tk.q, sl[k + 1], se[k + 1], gy, gyv, t + 1 < g.L)
              .apply(eta_bar, lam_bar, eta_bar, lam_bar);
          float unused_l = 0.f, unused_e = 0.f;
          gq = kla::detail::readout_adjoint(tk.q, sl[k + 1], se[k + 1], gy, gyv, unused_l, unused_e);
          float phi_bar, r_bar, lb = lam_bar, eb = eta_bar;
          kla::detail::step_adjoint(l.sp, sl[k], se[k], lb, eb, a_sum, p_sum, phi_bar, r_bar);
          const kla::detail::TokenGrads<float> tg = kla::detail::token_grads(tk.v, tk.lv, tk.k, phi_bar, r_bar);
          gv = tg.v;
          glv = tg.lam_v;
          gk = tg.k;
          if (t == 0 && l.active) {  // (lb, eb) are the adjoints of the carried state
            if (grad.lam0) grad.lam0[l.state(g)] = lb;
            if (grad.eta0) grad.eta0[l.state(g)] = eb;
          }
        }
        sh.gv[l.c * K + k][l.lane] = l.active ? gv : 0.f;
        sh.glv[l.c * K + k][l.lane] = l.active ? glv : 0.f;
        sh.gk[l.c * K + k][l.lane] = l.active ? gk : 0.f;
        sh.gq[l.c * K + k][l.lane] = l.active ? gq : 0.f;
      }
      if constexpr (Chunks == 1) {  // the adjoints after the round's first token, for the round before
        sh.adj_eta[l.lane] = eta_bar;
        sh.adj_lam[l.lane] = lam_bar;
      }
      __syncthreads();
      // v̄, Λv̄: sums over slots, owned by this block.
      for (int i = int(threadIdx.x); i < round_len * g.mt; i += threads) {
        const int kk = i / g.mt, ml = i % g.mt;
        const long long t = r * round_len + kk;
        const int m = (int(blockIdx.x) % g.tiles) * g.mt + ml;
        if (t >= g.L || m >= g.M) continue;
        float gv = 0.f, glv = 0.f;
        for (int j = 0; j < g.S; ++j) {
          gv += sh.gv[kk][ml * g.sp + j];
          glv += sh.glv[kk][ml * g.sp + j];
        }
        const std::size_t s = (std::size_t(l.b) * g.L + t) * g.M + m;
        grad.v[s] = gv;
        grad.lam_v[s] = glv;
      }
      // k̄, q̄: sums over the tile's channels here, over tiles with one atomic add each.
      for (int i = int(threadIdx.x); i < round_len * g.S; i += threads) {
        const int kk = i / g.S, j = i % g.S;
        const long long t = r * round_len + kk;
        if (t >= g.L) continue;
        float gk = 0.f, gq = 0.f;
        for (int ml = 0; ml < g.mt; ++ml) {
          gk += sh.gk[kk][ml * g.sp + j];
          gq += sh.gq[kk][ml * g.sp + j];
        }
        const std::size_t s = (std::size_t(l.b) * g.L + t) * g.S + j;
        atomicAdd(&grad.k[s], gk);
        atomicAdd(&grad.q[s], gq);
      }
      __syncthreads();
    }
  }
  // ā̄, p̄̄: sum over the chunks here, over batch entries with one atomic add per block and slot.
  sh.ex.x.sum[l.c][l.lane][0] = a_sum;
  sh.ex.x.sum[l.c][l.lane][1] = p_sum;
  __syncthreads();
  if (l.c == 0 && l.active) {
    float a = 0.f, p = 0.f;
    for (int c = 0; c < Chunks; ++c) {
      a += sh.ex.x.sum[c][l.lane][0];
      p += sh.ex.x.sum[c][l.lane][1];
    }
    atomicAdd(&grad.a_bar[l.m * g.S + l.j], a);
    if (!l.sp.p_floored) atomicAdd(&grad.p_bar[l.m * g.S + l.j], p);
  }
}

}  // namespace kalmanscan::kla::cuda::detail
