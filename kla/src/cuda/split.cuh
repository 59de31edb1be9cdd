// The split KLA kernels (fp32): for shapes with too few blocks to fill the GPU with the wide
// kernels (wide.cuh). Design in kalmanscan/kla/cuda.hpp; per-slot arithmetic in ../step.hpp and
// ../operators.hpp (shared with the CPU kernels).
//
// Block = (batch entry b, tile of `mt` channels). Thread = (lane, chunk): lane = (channel of the
// tile, slot) with the slots of one channel on `sp` consecutive lanes (S rounded up to a power
// of two), chunk = which `chunk` tokens of the current round the thread owns. A round's tokens
// are staged in shared memory (double-buffered cp.async copies, common.cuh); every thread folds
// its chunk's precision maps (Mobius2Op) → block exchange (per lane, in time order, from the
// round's carried λ) → λ at its chunk start; steps λ through its chunk folding the mean maps
// (AffineOp) → exchange → η; rescans. Each token's per-lane terms (readout, gradients) go to a
// shared [lane][token] buffer, padded so that neither the writes nor the block's sums over slots
// (readout, v̄, Λv̄) or channels (k̄, q̄) meet bank conflicts — no atomics inside the block.
// The backward keeps the state at every `rounds_per_checkpoint`-th round start in global
// scratch, recomputes a checkpoint span's round starts (scratch too), and walks the rounds
// backwards: fold each chunk's adjoint maps (AdjointOp) → reverse exchange → rescan backwards,
// emitting gradients.
#pragma once

#include <cstddef>

#include "common.cuh"
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

constexpr int lanes = 128;  ///< (channel, slot) pairs per block

/// The split configuration: `chunks` thread rows, each owning `chunk` tokens of a round of `round`.
struct Split {
  static constexpr int chunks = 4, round = 32, chunk = round / chunks, threads = lanes * chunks;
};

struct Geometry {
  int B, M, S;
  long long L;
  int sp;     ///< S rounded up to a power of two (≤ lanes)
  int mt;     ///< channels per block: lanes / sp
  int tiles;  ///< ⌈M / mt⌉ blocks per batch entry

  __host__ __device__ long long rounds(int round) const { return round_count(L, round); }
  __host__ __device__ long long checkpoints(int round) const { return checkpoint_count(L, round); }
};

/// This thread's place in the block.
struct Lane {
  int lane, c, ml, j;
  int b, tile, m;
  bool active;  ///< a real (channel, slot); padding lanes compute on dummies and write nothing
  SlotParams<float> sp;

  __device__ std::size_t state(const Geometry& g) const { return (std::size_t(b) * g.M + m) * g.S + j; }
};

__device__ inline Lane make_lane(const Geometry& g, const float* a_bar, const float* p_bar) {
  Lane l;
  l.lane = int(threadIdx.x) % lanes;
  l.c = int(threadIdx.x) / lanes;
  l.j = l.lane % g.sp;
  l.ml = l.lane / g.sp;
  l.b = int(blockIdx.x) / g.tiles;
  l.tile = int(blockIdx.x) % g.tiles;
  l.m = l.tile * g.mt + l.ml;
  l.active = l.j < g.S && l.m < g.M;
  l.sp = l.active ? kla::detail::slot_params(a_bar[l.m * g.S + l.j], p_bar[l.m * g.S + l.j])
                  : SlotParams<float>{1.f, 1.f, false};
  return l;
}

/// One token's inputs for this lane (zeros on padding lanes).
struct Token {
  float lv, v, k, q;
};

/// One round's tokens in shared memory, as pairs: channel data (Λv, v) and (ȳ, ȳ_var) [round][mt]
/// (the cotangents only in the backward's reverse rounds), slot data (k, q) [round][sp].
struct Staged {
  float2 *chan, *cot, *key;

  __host__ __device__ static std::size_t pairs(const Geometry& g, int round) {
    return std::size_t(round) * (2 * std::size_t(g.mt) + std::size_t(g.sp));
  }
  /// Bytes of dynamic shared memory for the two buffers of a geometry and round length.
  __host__ __device__ static std::size_t bytes(const Geometry& g, int round) { return 2 * pairs(g, round) * sizeof(float2); }
  /// Buffer `which` (0 or 1) in the dynamic shared memory at base.
  __device__ static Staged carve(float2* base, const Geometry& g, int round, int which) {
    float2* p = base + which * pairs(g, round);
    return {p, p + round * g.mt, p + 2 * round * g.mt};
  }
};

/// Starts copying round r's tokens of this block's channels (and, when cot is given, the
/// cotangents of y, y_var) into st (cp.async; zeros past L, M or S, and for absent cotangents).
template <class C>
__device__ inline void start_staging(const Staged& st, const DeviceIn& in, const DeviceCot* cot, const Geometry& g,
                                     long long r) {
  const int b = int(blockIdx.x) / g.tiles, m0 = (int(blockIdx.x) % g.tiles) * g.mt;
  // A zero-filled copy reads nothing; it is still given a valid address.
  auto copy = [&](float* dst, const float* src, std::size_t i, bool ok) {
    __pipeline_memcpy_async(dst, ok ? src + i : in.lam_v, sizeof(float), ok ? 0 : sizeof(float));
  };
  for (int i = int(threadIdx.x); i < C::round * g.mt; i += C::threads) {
    const long long t = r * C::round + i / g.mt;
    const int m = m0 + i % g.mt;
    const bool ok = t < g.L && m < g.M;
    const std::size_t s = ok ? (std::size_t(b) * g.L + t) * g.M + m : 0;
    copy(&st.chan[i].x, in.lam_v, s, ok);
    copy(&st.chan[i].y, in.v, s, ok);
    if (cot) {
      copy(&st.cot[i].x, cot->y, s, ok && cot->y);
      copy(&st.cot[i].y, cot->y_var, s, ok && cot->y_var);
    }
  }
  for (int i = int(threadIdx.x); i < C::round * g.sp; i += C::threads) {
    const long long t = r * C::round + i / g.sp;
    const int j = i % g.sp;
    const bool ok = t < g.L && j < g.S;
    const std::size_t s = ok ? (std::size_t(b) * g.L + t) * g.S + j : 0;
    copy(&st.key[i].x, in.k, s, ok);
    copy(&st.key[i].y, in.q, s, ok);
  }
}

/// Runs body(r, staged round r) for the `count` rounds first, first + dir, … (dir = ±1), staged in
/// the two buffers at `staged` (pipelined_rounds). Every thread calls it.
template <class C, class Body>
__device__ inline void for_rounds(float2* staged, const DeviceIn& in, const DeviceCot* cot, const Geometry& g,
                                  long long first, long long count, int dir, Body body) {
  pipelined_rounds(
      first, count, dir,
      [&](int which, long long r) { start_staging<C>(Staged::carve(staged, g, C::round, which), in, cot, g, r); },
      [&](int which, long long r) { body(r, Staged::carve(staged, g, C::round, which)); });
}

/// Token kk (index within the staged round) for this lane. Padding lanes read the zeros staged
/// past M or S: their state stays finite (φ at its floor, r = 0, η = 0) and their terms zero.
__device__ inline Token read_token(const Staged& st, const Geometry& g, const Lane& l, int kk) {
  const float2 c = st.chan[kk * g.mt + l.ml], key = st.key[kk * g.sp + l.j];
  return {c.x, c.y, key.x, key.y};
}

/// The staged cotangents (ȳ, ȳ_var) of token kk for this lane's channel.
__device__ inline float2 read_cotangents(const Staged& st, const Geometry& g, const Lane& l, int kk) {
  return l.active ? st.cot[kk * g.mt + l.ml] : make_float2(0.f, 0.f);
}

/// Tokens of this thread's chunk in round r that lie before L (0 … chunk).
template <class C>
__device__ inline int chunk_tokens(const Geometry& g, const Lane& l, long long r) {
  const long long left = g.L - (r * C::round + l.c * C::chunk);
  return left <= 0 ? 0 : left < C::chunk ? int(left) : C::chunk;
}

/// Per-lane terms of each token of a round: [lane][token], one column of padding so that a warp
/// writing one token (32 lanes) and a warp reading consecutive tokens of one lane both hit 32 banks.
template <class C>
using Terms = float[lanes][C::round + 1];

/// Block-wide sums of two term buffers for one round: `outputs` results, result o summing the `n`
/// terms x[first + e·stride][kk], e < n, where layout(o) → (first, stride, kk). Up to 32 threads
/// share a result (each a strided part, then warp shuffles), in a fixed order: deterministic.
/// emit(o, sum_x, sum_y) runs once per result. Every thread of the block calls it.
template <class C, class Layout, class Emit>
__device__ inline void block_sums(const Terms<C>& x, const Terms<C>& y, int outputs, int n, Layout layout,
                                  Emit emit) {
  int group = 1;
  while (group < 32 && group < n && 2 * group * outputs <= C::threads) group *= 2;
  for (int i0 = 0; i0 < outputs * group; i0 += C::threads) {  // uniform trip count: shuffles see full warps
    const int i = i0 + int(threadIdx.x), o = i / group, part = i % group;
    float sx = 0.f, sy = 0.f;
    if (o < outputs) {
      const int3 at = layout(o);
      for (int e = part; e < n; e += group) {
        sx += x[at.x + e * at.y][at.z];
        sy += y[at.x + e * at.y][at.z];
      }
    }
    for (int off = group / 2; off > 0; off /= 2) {
      sx += __shfl_xor_sync(0xffffffffu, sx, off);
      sy += __shfl_xor_sync(0xffffffffu, sy, off);
    }
    if (part == 0 && o < outputs) emit(o, sx, sy);
  }
}

/// Sums over the slots of each (token, channel) of round r, written to the [B, L, M] tensors
/// out_x, out_y (the readout; v̄ and Λv̄). (Staging them in shared memory to write whole sectors
/// measured 3–4 % slower on the H200: the extra barrier costs more than the scattered stores.)
template <class C>
__device__ inline void write_slot_sums(const Terms<C>& x, const Terms<C>& y, float* out_x, float* out_y,
                                       const Geometry& g, const Lane& l, long long r) {
  block_sums<C>(
      x, y, C::round * g.mt, g.S, [&](int o) { return make_int3((o / C::round) * g.sp, 1, o % C::round); },
      [&](int o, float sx, float sy) {
        const long long t = r * C::round + o % C::round;
        const int m = l.tile * g.mt + o / C::round;
        if (t >= g.L || m >= g.M) return;
        const std::size_t s = (std::size_t(l.b) * g.L + t) * g.M + m;
        out_x[s] = sx;
        out_y[s] = sy;
      });
}

/// Sums over the tile's channels of each (token, slot) of round r, added to the [B, L, S]
/// gradients gk, gq with one atomic add each (the other tiles add theirs).
template <class C>
__device__ inline void add_channel_sums(const Terms<C>& x, const Terms<C>& y, float* gk, float* gq,
                                        const Geometry& g, const Lane& l, long long r) {
  block_sums<C>(
      x, y, C::round * g.S, g.mt, [&](int o) { return make_int3(o % g.S, g.sp, o / g.S); },
      [&](int o, float sx, float sy) {
        const long long t = r * C::round + o / g.S;
        if (t >= g.L) return;
        const std::size_t s = (std::size_t(l.b) * g.L + t) * g.S + o % g.S;
        atomicAdd(&gk[s], sx);
        atomicAdd(&gq[s], sy);
      });
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
  float lam[lanes], eta[lanes];          ///< state carried into the current round
  float adj_eta[lanes], adj_lam[lanes];  ///< backward: adjoints of the state after the current round
};

/// Split phases 1–2 of a round: this thread's state (lam, eta) before its chunk (the `n` tokens
/// from kk0), from the carried state of the round start in ex, which advances to the round's end.
/// Contains __syncthreads: every thread of the block calls it.
template <int Chunks>
__device__ inline void chunk_start(Exchange<Chunks>& ex, const Staged& st, const Geometry& g, const Lane& l, int kk0,
                                   int n, float& lam, float& eta) {
  // 1. Precision: fold the chunk's Möbius maps; exclusive scan over chunks from the constant map to λ.
  Mobius2<float> agg = Mobius2Op<float>::identity();
  for (int k = 0; k < n; ++k) {
    const Token tk = read_token(st, g, l, kk0 + k);
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
  for (int k = 0; k < n; ++k) {
    const Token tk = read_token(st, g, l, kk0 + k);
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

/// The carried-in state (or the prior) of this lane.
__device__ inline void initial_state(const DeviceIn& in, const Geometry& g, const Lane& l, float& lam, float& eta) {
  lam = l.active && in.lam0 ? in.lam0[l.state(g)] : 1.f;
  eta = l.active && in.eta0 ? in.eta0[l.state(g)] : 0.f;
}

template <class C>
struct alignas(16) ForwardShared {  // aligned: the staged float2 pairs follow it
  Exchange<C::chunks> ex;
  Terms<C> y, y_var;

  /// Dynamic shared memory of the kernel: this, then the staged round.
  static std::size_t bytes(const Geometry& g) { return sizeof(ForwardShared) + Staged::bytes(g, C::round); }
};

template <class C>
__global__ void __launch_bounds__(C::threads) forward_kernel(DeviceIn in, DeviceOut out, Geometry g) {
  extern __shared__ __align__(16) unsigned char shared_raw[];
  ForwardShared<C>& sh = *reinterpret_cast<ForwardShared<C>*>(shared_raw);
  float2* const staged = reinterpret_cast<float2*>(shared_raw + sizeof(ForwardShared<C>));
  const Lane l = make_lane(g, in.a_bar, in.p_bar);
  float lam, eta;
  initial_state(in, g, l, lam, eta);
  if (l.c == 0) {
    sh.ex.lam[l.lane] = lam;
    sh.ex.eta[l.lane] = eta;
  }
  for_rounds<C>(staged, in, nullptr, g, 0, g.rounds(C::round), 1, [&](long long r, const Staged& st) {
    const int kk0 = l.c * C::chunk, n = chunk_tokens<C>(g, l, r);
    chunk_start(sh.ex, st, g, l, kk0, n, lam, eta);
    // Rescan the chunk, leaving each token's readout terms for the sum over slots
    // (tokens past L leave stale terms, which the sums skip).
    for_tokens<C::chunk>(n, [&](int k) {
      const Token tk = read_token(st, g, l, kk0 + k);
      kla::detail::step(l.sp, kla::detail::observation_precision(tk.lv, tk.k), tk.lv * tk.v * tk.k, lam, eta);
      float y = 0.f, y_var = 0.f;
      kla::detail::readout(tk.q, lam, eta, y, y_var);
      sh.y[l.lane][kk0 + k] = y;
      sh.y_var[l.lane][kk0 + k] = y_var;
    });
    __syncthreads();
    write_slot_sums<C>(sh.y, sh.y_var, out.y, out.y_var, g, l, r);
  });
  lam = sh.ex.lam[l.lane];
  eta = sh.ex.eta[l.lane];
  if (l.c == 0 && l.active) {
    if (out.lam_T) out.lam_T[l.state(g)] = lam;
    if (out.eta_T) out.eta_T[l.state(g)] = eta;
  }
}

template <class C>
struct alignas(16) BackwardShared {
  Exchange<C::chunks> ex;
  Terms<C> gv, glv, gk, gq;

  static std::size_t bytes(const Geometry& g) { return sizeof(BackwardShared) + Staged::bytes(g, C::round); }
};

/// Floats of backward scratch per block: the checkpoints, then one span's round starts.
template <class C>
__host__ __device__ inline std::size_t scratch_per_block(const Geometry& g) {
  return std::size_t(g.checkpoints(C::round) + rounds_per_checkpoint) * 2 * lanes;
}

/// Split backward of this thread's chunk (the `n` tokens from kk0 of round r), from the carried
/// state in ex: the adjoints after the round are in sh.ex.adj_* (the complete adjoints of the state
/// after the round's last token's successor map, AdjointOp's convention) and are moved before it.
template <class C>
__device__ inline void split_round_adjoints(BackwardShared<C>& sh, const Staged& st, const Geometry& g, const Lane& l,
                                            const DeviceGrad& grad, long long r, int kk0, int n, float& a_sum,
                                            float& p_sum) {
  constexpr int K = C::chunk;
  float sl[K + 1], se[K + 1];
  chunk_start(sh.ex, st, g, l, kk0, n, sl[0], se[0]);
  const long long lo = r * C::round + kk0;
  // The chunk's states and its adjoint maps folded in time order.
  Adjoint2<float> agg = AdjointOp<float>::identity();
#pragma unroll
  for (int k = 0; k < K; ++k) {
    sl[k + 1] = sl[k];
    se[k + 1] = se[k];
    if (k < n) {
      const Token tk = read_token(st, g, l, kk0 + k);
      kla::detail::step(l.sp, kla::detail::observation_precision(tk.lv, tk.k), tk.lv * tk.v * tk.k, sl[k + 1],
                        se[k + 1]);
      const float2 cy = read_cotangents(st, g, l, kk0 + k);
      agg = AdjointOp<float>::combine(
          agg, kla::detail::adjoint_leaf(l.sp, tk.q, sl[k + 1], se[k + 1], cy.x, cy.y, lo + k + 1 < g.L));
    }
  }
  // Reverse exchange: the adjoints after this chunk, from those after the round.
  sh.ex.x.adj[l.c][l.lane] = agg;
  __syncthreads();
  if (l.c == 0) {
    Adjoint2<float> acc{0.f, 0.f, 0.f, sh.ex.adj_eta[l.lane], sh.ex.adj_lam[l.lane]};
    for (int c = C::chunks - 1; c >= 0; --c) {
      const Adjoint2<float> a = sh.ex.x.adj[c][l.lane];
      sh.ex.x.adj[c][l.lane] = acc;
      acc = AdjointOp<float>::combine(a, acc);
    }
    sh.ex.adj_eta[l.lane] = acc.be;
    sh.ex.adj_lam[l.lane] = acc.bl;
  }
  __syncthreads();
  float eta_bar = sh.ex.x.adj[l.c][l.lane].be, lam_bar = sh.ex.x.adj[l.c][l.lane].bl;
  __syncthreads();
  // Rescan backwards: adjoints of each token's state, then the token's gradients.
#pragma unroll
  for (int k = K - 1; k >= 0; --k) {
    float gv = 0.f, glv = 0.f, gk = 0.f, gq = 0.f;
    if (k < n) {
      const long long t = lo + k;
      const Token tk = read_token(st, g, l, kk0 + k);
      const float2 cy = read_cotangents(st, g, l, kk0 + k);
      kla::detail::adjoint_leaf(l.sp, tk.q, sl[k + 1], se[k + 1], cy.x, cy.y, t + 1 < g.L)
          .apply(eta_bar, lam_bar, eta_bar, lam_bar);
      float unused_l = 0.f, unused_e = 0.f;
      gq = kla::detail::readout_adjoint(tk.q, sl[k + 1], se[k + 1], cy.x, cy.y, unused_l, unused_e);
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
    sh.gv[l.lane][kk0 + k] = l.active ? gv : 0.f;
    sh.glv[l.lane][kk0 + k] = l.active ? glv : 0.f;
    sh.gk[l.lane][kk0 + k] = l.active ? gk : 0.f;
    sh.gq[l.lane][kk0 + k] = l.active ? gq : 0.f;
  }
}

/// Backward; grad.k, grad.q, grad.a_bar, grad.p_bar must be zero on entry (summed with atomics
/// across blocks). `scratch`: blocks · scratch_per_block floats.
template <class C>
__global__ void __launch_bounds__(C::threads) backward_kernel(DeviceIn in, DeviceCot cot, DeviceGrad grad, Geometry g,
                                                              float* scratch) {
  extern __shared__ __align__(16) unsigned char shared_raw[];
  BackwardShared<C>& sh = *reinterpret_cast<BackwardShared<C>*>(shared_raw);
  float2* const staged = reinterpret_cast<float2*>(shared_raw + sizeof(BackwardShared<C>));
  const Lane l = make_lane(g, in.a_bar, in.p_bar);
  const long long rounds = g.rounds(C::round), checkpoints = g.checkpoints(C::round);
  float* ck = scratch + std::size_t(blockIdx.x) * scratch_per_block<C>(g);  // [checkpoints][2][lanes]
  float* span = ck + std::size_t(checkpoints) * 2 * lanes;                 // [rounds_per_checkpoint][2][lanes]
  // The carried state is in sh.ex, stored and loaded by row 0, which alone touches a lane's
  // scratch and carried state.
  float lam, eta;
  initial_state(in, g, l, lam, eta);
  auto save = [&](float* at) {
    if (l.c == 0) {
      at[l.lane] = sh.ex.lam[l.lane];
      at[lanes + l.lane] = sh.ex.eta[l.lane];
    }
  };
  auto load = [&](const float* at) {
    if (l.c == 0) {
      sh.ex.lam[l.lane] = at[l.lane];
      sh.ex.eta[l.lane] = at[lanes + l.lane];
    }
  };
  // Moves the carried state in sh.ex over the staged round r.
  auto advance = [&](long long r, const Staged& st) {
    chunk_start(sh.ex, st, g, l, l.c * C::chunk, chunk_tokens<C>(g, l, r), lam, eta);
  };
  if (l.c == 0) {
    sh.ex.lam[l.lane] = lam;
    sh.ex.eta[l.lane] = eta;
  }
  // Forward sweep: the state at each checkpoint's first round.
  for_rounds<C>(staged, in, nullptr, g, 0, rounds, 1, [&](long long r, const Staged& st) {
    if (r % rounds_per_checkpoint == 0) save(ck + (r / rounds_per_checkpoint) * 2 * lanes);
    advance(r, st);
  });
  const float lam_bar = l.active && cot.lam_T ? cot.lam_T[l.state(g)] : 0.f;
  const float eta_bar = l.active && cot.eta_T ? cot.eta_T[l.state(g)] : 0.f;
  if (l.c == 0) {
    sh.ex.adj_eta[l.lane] = eta_bar;
    sh.ex.adj_lam[l.lane] = lam_bar;
  }
  float a_sum = 0.f, p_sum = 0.f;
  for (long long cp = checkpoints - 1; cp >= 0; --cp) {
    const long long r0 = cp * rounds_per_checkpoint;
    const long long n_rounds = r0 + rounds_per_checkpoint < rounds ? rounds_per_checkpoint : rounds - r0;
    // Round starts of this span, from its checkpoint.
    load(ck + cp * 2 * lanes);
    for_rounds<C>(staged, in, nullptr, g, r0, n_rounds, 1, [&](long long r, const Staged& st) {
      save(span + (r - r0) * 2 * lanes);
      advance(r, st);
    });
    for_rounds<C>(staged, in, &cot, g, r0 + n_rounds - 1, n_rounds, -1, [&](long long r, const Staged& st) {
      load(span + (r - r0) * 2 * lanes);
      split_round_adjoints<C>(sh, st, g, l, grad, r, l.c * C::chunk, chunk_tokens<C>(g, l, r), a_sum, p_sum);
      __syncthreads();
      write_slot_sums<C>(sh.gv, sh.glv, grad.v, grad.lam_v, g, l, r);
      add_channel_sums<C>(sh.gk, sh.gq, grad.k, grad.q, g, l, r);
    });
  }
  // The adjoints of the carried state were written at token 0; with no token they are the cotangents.
  if (l.c == 0 && l.active && g.L == 0) {
    if (grad.lam0) grad.lam0[l.state(g)] = lam_bar;
    if (grad.eta0) grad.eta0[l.state(g)] = eta_bar;
  }
  // ā̄, p̄̄: summed over the rows here, over batch entries with one atomic add per block and slot.
  __syncthreads();
  sh.ex.x.sum[l.c][l.lane][0] = a_sum;
  sh.ex.x.sum[l.c][l.lane][1] = p_sum;
  __syncthreads();
  a_sum = p_sum = 0.f;
  for (int c = 0; c < C::chunks; ++c) {
    a_sum += sh.ex.x.sum[c][l.lane][0];
    p_sum += sh.ex.x.sum[c][l.lane][1];
  }
  if (l.c == 0 && l.active) {
    atomicAdd(&grad.a_bar[l.m * g.S + l.j], a_sum);
    if (!l.sp.p_floored) atomicAdd(&grad.p_bar[l.m * g.S + l.j], p_sum);
  }
}

}  // namespace kalmanscan::kla::cuda::detail
