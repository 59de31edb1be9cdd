// The wide KLA kernels (fp32): for shapes with enough (batch entry, channel tile) blocks to fill
// the GPU. Design in kalmanscan/kla/cuda.hpp; per-slot arithmetic in ../step.hpp (shared with the
// CPU kernels).
//
// Block = (batch entry b, tile of `mt` channels), 128 threads. Thread = G consecutive slots of one
// channel (the `tpc` = sp/G threads of a channel are consecutive; sp = S rounded up to a power of
// two): it steps its G states, kept in registers, through the whole sequence. The G slots are
// independent dependency chains, so one thread keeps the arithmetic pipes busy where a thread per
// slot needed many warps to hide each step's latency; and a token's key and query are read once
// per G slots (vector loads from shared memory), the readout is summed over G slots in registers.
// The time axis goes in rounds of R tokens staged in shared memory by double-buffered cp.async
// copies (16-byte copies when rows are 16-byte aligned). Each token's per-thread terms
// (readout; v̄, Λv̄; k̄, q̄ per slot) go to shared buffers laid out so that neither the writes nor
// the block's sums over a channel's threads (readout, v̄, Λv̄) or over the tile's channels (k̄, q̄)
// meet bank conflicts; the sums run in a fixed order.
// The backward's checkpoints are each thread's states at every `span_rounds`-th round start:
// saved by the forward (SavedStates) or swept by the backward itself into global scratch. Per
// checkpoint, backwards, it recomputes the span's round starts (scratch; nothing to do for a span
// of one round) and walks the span's rounds backwards: recompute the round's states in registers,
// step the adjoints back through it.
#pragma once

#include <cuda_pipeline.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "common.cuh"
#include "step.hpp"

namespace kalmanscan::kla::cuda::detail {

using kla::detail::SlotParams;

constexpr int wide_threads = 128;  ///< threads per block

/// Slots per thread (G) for S rounded up to sp: 4 (8 from 64 slots, so that a block still holds
/// 16 channels and shares each token's keys among them), 1 below 4 slots. (On the H200, G = 2 was
/// 10–20 % slower forward and backward at (8, 2048, 1024, 16): twice the warps, but each token's
/// loads and sums shared by fewer slots.)
__host__ __device__ constexpr int wide_slots_per_thread(int sp) { return sp >= 64 ? 8 : sp >= 4 ? 4 : 1; }

/// Tokens per round: forward 32 (16 with 8 slots a thread, for shared memory); backward 8 (4 with
/// 8 slots), since it keeps the round's states, (R + 1)·G·2 floats, in registers. The backward's
/// registers are capped so that `backward_blocks` blocks fit on a multiprocessor.
template <int G>
struct WideRounds {
  static constexpr int forward = G >= 8 ? 16 : 32, backward = G >= 8 ? 4 : 8, backward_blocks = G >= 4 ? 2 : 4;
};

struct WideGeometry {
  int B, M, S;
  long long L;
  int sp, log_sp;    ///< S rounded up to a power of two (≤ 128)
  int tpc, log_tpc;  ///< threads per channel: sp / G
  int mt, log_mt;    ///< channels per block: wide_threads / tpc
  int tiles;         ///< ⌈M / mt⌉ blocks per batch entry
  int chan_stride;   ///< per-channel terms of one token: [tpc][chan_stride ≥ mt] pairs (see ChannelTerms)
  int span_rounds;   ///< backward rounds between checkpoints (a power of two): rounds_per_checkpoint when the
                     ///< backward sweeps them, spacing / R when the forward saves them
  bool vec_chan;     ///< [B, L, M] rows can be staged with 16-byte copies (M % 4 = 0, aligned tensors)
  bool vec_key;      ///< [B, L, S] rows likewise (S % 4 = 0)
};

/// This thread's G slots j0 … j0 + G − 1 of channel m of batch entry b.
template <int G>
struct SlotGroup {
  int b, tile, m, ml, j0;
  bool active[G];  ///< a real (channel, slot); padding slots compute on staged zeros and write nothing
  SlotParams<float> par[G];

  __device__ std::size_t state(const WideGeometry& g, int i) const {
    return (std::size_t(b) * g.M + m) * g.S + j0 + i;
  }
};

template <int G>
__device__ inline SlotGroup<G> make_slot_group(const WideGeometry& g, const float* a_bar, const float* p_bar) {
  SlotGroup<G> s;
  const int tid = int(threadIdx.x);
  s.b = int(blockIdx.x) / g.tiles;
  s.tile = int(blockIdx.x) % g.tiles;
  s.ml = tid >> g.log_tpc;
  s.j0 = (tid & (g.tpc - 1)) * G;
  s.m = s.tile * g.mt + s.ml;
#pragma unroll
  for (int i = 0; i < G; ++i) {
    s.active[i] = s.m < g.M && s.j0 + i < g.S;
    const int at = s.m * g.S + s.j0 + i;
    s.par[i] = s.active[i] ? kla::detail::slot_params(a_bar[at], p_bar[at]) : SlotParams<float>{1.f, 1.f, false};
  }
  return s;
}

/// G consecutive floats at p (aligned to G floats), loaded or stored with vector accesses.
template <int G>
__device__ __forceinline__ void load_slots(float (&x)[G], const float* p) {
  if constexpr (G % 4 == 0) {
#pragma unroll
    for (int i = 0; i < G; i += 4) {
      const float4 v = *reinterpret_cast<const float4*>(p + i);
      x[i] = v.x, x[i + 1] = v.y, x[i + 2] = v.z, x[i + 3] = v.w;
    }
  } else if constexpr (G == 2) {
    const float2 v = *reinterpret_cast<const float2*>(p);
    x[0] = v.x, x[1] = v.y;
  } else {
    static_assert(G == 1);
    x[0] = p[0];
  }
}
template <int G>
__device__ __forceinline__ void store_slots(float* p, const float (&x)[G]) {
  if constexpr (G % 4 == 0) {
#pragma unroll
    for (int i = 0; i < G; i += 4) *reinterpret_cast<float4*>(p + i) = make_float4(x[i], x[i + 1], x[i + 2], x[i + 3]);
  } else if constexpr (G == 2) {
    *reinterpret_cast<float2*>(p) = make_float2(x[0], x[1]);
  } else {
    static_assert(G == 1);
    p[0] = x[0];
  }
}

/// One round's tokens in shared memory, one array each: Λv, v [R][mt]; k, q [R][sp]; in the
/// backward's reverse rounds also the cotangents ȳ, ȳ_var [R][mt].
struct WideStaged {
  float *lv, *v, *k, *q, *cy, *cy_var;

  /// Floats of one buffer (a multiple of 4, so the second buffer stays 16-byte aligned).
  __host__ __device__ static std::size_t floats(const WideGeometry& g, int R, bool cot) {
    return std::size_t(R) * std::size_t((cot ? 4 : 2) * g.mt + 2 * g.sp);
  }
  __device__ static WideStaged carve(float* base, const WideGeometry& g, int R, bool cot, int which) {
    float* p = base + which * floats(g, R, cot);
    const int c = R * g.mt, s = R * g.sp;
    return {p, p + c, p + 2 * c, p + 2 * c + s, p + 2 * c + 2 * s, p + 3 * c + 2 * s};
  }
};

/// Starts an asynchronous copy (cp.async) of Bytes (4 or 16) bytes from src to the shared dst,
/// or of zeros when !ok (src is then not read).
template <int Bytes>
__device__ __forceinline__ void copy_async(float* dst, const float* src, bool ok) {
  const unsigned to = unsigned(__cvta_generic_to_shared(dst)), n = ok ? Bytes : 0;
  if constexpr (Bytes == 16)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(to), "l"(src), "r"(n) : "memory");
  else
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(to), "l"(src), "r"(n) : "memory");
}

/// Starts copying rows t0 … t0 + R − 1 (of this batch entry), columns c0 … c0 + 2^log_w − 1 of
/// a row-major tensor with rows of `row_len` floats into dst [R][2^log_w]: zeros past `rows`
/// rows, past `cols` columns and for a null src (`dummy`, a valid address, stands in for it).
/// 16-byte copies when `vec` (row_len, c0, cols multiples of 4, src 16-byte aligned).
template <int R, int Bytes>
__device__ inline void stage_tile_by(float* dst, const float* src, const float* dummy, long long row0, long long rows,
                                     int row_len, int c0, int cols, int log_w) {
  constexpr int log_v = Bytes == 16 ? 2 : 0;
  const int log_n = log_w - log_v;  // copies per row: 2^log_n
#pragma unroll 1  // a thread makes one or two copies of a tile: unrolling only grows the code
  for (int i = int(threadIdx.x); i < R << log_n; i += wide_threads) {
    const int t = i >> log_n, c = (i & ((1 << log_n) - 1)) << log_v;
    const bool ok = src && t < rows && c < cols;
    copy_async<Bytes>(dst + (t << log_w) + c, ok ? src + (row0 + t) * row_len + c0 + c : dummy, ok);
  }
}
template <int R>
__device__ inline void stage_tile(float* dst, const float* src, const float* dummy, long long row0, long long rows,
                                  int row_len, int c0, int cols, int log_w, bool vec) {
  if (vec)
    stage_tile_by<R, 16>(dst, src, dummy, row0, rows, row_len, c0, cols, log_w);
  else
    stage_tile_by<R, 4>(dst, src, dummy, row0, rows, row_len, c0, cols, log_w);
}

/// Starts copying round r's tokens of block (b, tile) into st (and, when cot is given, the
/// cotangents of y and y_var); the queries only when `queries` (passes that only step the states
/// forward do not read them).
template <int R>
__device__ inline void stage_round(const WideStaged& st, const DeviceIn& in, const DeviceCot* cot,
                                   const WideGeometry& g, int b, int tile, long long r, bool queries = true) {
  const long long t0 = r * R, row0 = std::int64_t(b) * g.L + t0, rows = g.L - t0;
  const int m0 = tile * g.mt;
  stage_tile<R>(st.lv, in.lam_v, in.lam_v, row0, rows, g.M, m0, g.M - m0, g.log_mt, g.vec_chan);
  stage_tile<R>(st.v, in.v, in.lam_v, row0, rows, g.M, m0, g.M - m0, g.log_mt, g.vec_chan);
  stage_tile<R>(st.k, in.k, in.k, row0, rows, g.S, 0, g.S, g.log_sp, g.vec_key);
  if (queries) stage_tile<R>(st.q, in.q, in.k, row0, rows, g.S, 0, g.S, g.log_sp, g.vec_key);
  if (cot) {
    stage_tile<R>(st.cy, cot->y, in.lam_v, row0, rows, g.M, m0, g.M - m0, g.log_mt, g.vec_chan);
    stage_tile<R>(st.cy_var, cot->y_var, in.lam_v, row0, rows, g.M, m0, g.M - m0, g.log_mt, g.vec_chan);
  }
}

/// Staged token kk for this thread: its channel's Λv, v and its G slots' k, q.
template <int G>
struct WideToken {
  float lv, v, k[G], q[G];
};

template <int G>
__device__ __forceinline__ WideToken<G> read_token(const WideStaged& st, const WideGeometry& g,
                                                   const SlotGroup<G>& s, int kk) {
  WideToken<G> tk;
  tk.lv = st.lv[(kk << g.log_mt) + s.ml];
  tk.v = st.v[(kk << g.log_mt) + s.ml];
  load_slots<G>(tk.k, st.k + (kk << g.log_sp) + s.j0);
  load_slots<G>(tk.q, st.q + (kk << g.log_sp) + s.j0);
  return tk;
}

/// Slot i's update at token tk: λ, η ← the state after it; returns the step's 1/D.
template <int G>
__device__ __forceinline__ float step_slot(const SlotGroup<G>& s, const WideToken<G>& tk, int i, float& lam,
                                           float& eta) {
  return kla::detail::step_keeping_reciprocal(s.par[i], kla::detail::observation_precision(tk.lv, tk.k[i]),
                                              tk.lv * tk.v * tk.k[i], lam, eta);
}

/// One checkpoint of a block: every thread's G λ, then G η, [wide_threads][2][G] floats at `at`.
template <int G>
constexpr std::size_t checkpoint_floats = std::size_t(wide_threads) * 2 * G;
template <int G>
__device__ __forceinline__ void save_states(float* at, const float (&lam)[G], const float (&eta)[G]) {
  store_slots<G>(at + int(threadIdx.x) * 2 * G, lam);
  store_slots<G>(at + int(threadIdx.x) * 2 * G + G, eta);
}
template <int G>
__device__ __forceinline__ void load_states(const float* at, float (&lam)[G], float (&eta)[G]) {
  load_slots<G>(lam, at + int(threadIdx.x) * 2 * G);
  load_slots<G>(eta, at + int(threadIdx.x) * 2 * G + G);
}

/// Starts copying one checkpoint's states of this thread from global `src` to shared `dst` (both
/// [wide_threads][2][G] floats, 16-byte aligned), so that a round's start arrives with its tokens.
template <int G>
__device__ __forceinline__ void stage_states(float* dst, const float* src) {
  constexpr int step = G % 4 == 0 ? 4 : 1;
  const int at = int(threadIdx.x) * 2 * G;
#pragma unroll
  for (int i = 0; i < 2 * G; i += step) copy_async<step * 4>(dst + at + i, src + at + i, true);
}

/// Floats of saved states (the forward's checkpoints for the backward) per block.
template <int G>
__host__ __device__ inline std::size_t wide_saved_per_block(const WideGeometry& g) {
  return std::size_t(checkpoint_count(g.L, WideRounds<G>::backward, g.span_rounds)) * checkpoint_floats<G>;
}

/// Per-thread pairs of each token of a round, to be summed over a channel's threads: pair (kk, u,
/// ml) of thread u of channel ml at kk·tpc·chan_stride + u·chan_stride + ml. Threads reading one
/// u for consecutive channels read consecutive pairs; chan_stride pads the rows so that a warp's
/// writes (32/tpc channels × tpc threads) spread over all banks as well.
struct ChannelTerms {
  /// chan_stride for tpc threads per channel and mt channels: ≥ mt and ≡ 32/tpc (mod 16) pairs.
  __host__ static int stride(int tpc, int mt) { return mt + (((32 / tpc - mt) % 16) + 16) % 16; }
  __host__ __device__ static std::size_t pairs(const WideGeometry& g, int R) {
    return std::size_t(R) * std::size_t(g.tpc) * std::size_t(g.chan_stride);
  }
  /// This thread's pair of token 0 (token kk: + kk·tpc·chan_stride).
  __device__ static int own(const WideGeometry& g) {
    return (int(threadIdx.x) & (g.tpc - 1)) * g.chan_stride + (int(threadIdx.x) >> g.log_tpc);
  }
};

/// Sums over each channel's threads of the ChannelTerms `terms` of round r, written to the
/// [B, L, M] tensors out_x, out_y (the readout; v̄ and Λv̄). Every thread calls it.
template <int R>
__device__ inline void write_channel_sums(const float2* terms, float* out_x, float* out_y, const WideGeometry& g,
                                          int b, int tile, long long r) {
  for (int o = int(threadIdx.x); o < R << g.log_mt; o += wide_threads) {
    const int kk = o >> g.log_mt, ml = o & (g.mt - 1);
    const float2* p = terms + kk * g.tpc * g.chan_stride + ml;
    float sx = 0.f, sy = 0.f;
    for (int u = 0; u < g.tpc; ++u) {
      sx += p[u * g.chan_stride].x;
      sy += p[u * g.chan_stride].y;
    }
    const long long t = r * R + kk;
    const int m = tile * g.mt + ml;
    if (t < g.L && m < g.M) {
      const std::size_t at = (std::size_t(b) * g.L + t) * g.M + m;
      out_x[at] = sx;
      out_y[at] = sy;
    }
  }
}

/// Sums over the tile's channels of the [R][mt][sp] per-slot terms xk, xq of round r, added to
/// the [B, L, S] gradients gk, gq with one atomic add each (the other tiles add theirs).
template <int R>
__device__ inline void add_slot_sums(const float* xk, const float* xq, float* gk, float* gq, const WideGeometry& g,
                                     int b, long long r) {
  for (int o = int(threadIdx.x); o < R << g.log_sp; o += wide_threads) {
    const int kk = o >> g.log_sp, j = o & (g.sp - 1);
    const long long t = r * R + kk;
    if (j >= g.S || t >= g.L) continue;
    const int at = ((kk << g.log_mt) << g.log_sp) + j;
    float sk = 0.f, sq = 0.f;
    for (int ml = 0; ml < g.mt; ++ml) {
      sk += xk[at + (ml << g.log_sp)];
      sq += xq[at + (ml << g.log_sp)];
    }
    const std::size_t out = (std::size_t(b) * g.L + t) * g.S + j;
    atomicAdd(&gk[out], sk);
    atomicAdd(&gq[out], sq);
  }
}

/// The carried-in states (or the prior) of this thread's slots.
template <int G>
__device__ inline void initial_states(const DeviceIn& in, const WideGeometry& g, const SlotGroup<G>& s,
                                      float (&lam)[G], float (&eta)[G]) {
#pragma unroll
  for (int i = 0; i < G; ++i) {
    lam[i] = s.active[i] && in.lam0 ? in.lam0[s.state(g, i)] : 1.f;
    eta[i] = s.active[i] && in.eta0 ? in.eta0[s.state(g, i)] : 0.f;
  }
}

/// Dynamic shared memory of the wide forward: the readout terms (ChannelTerms), then the staged
/// rounds (16-byte aligned: an even number of pairs).
template <int G>
__host__ __device__ inline std::size_t wide_forward_terms_bytes(const WideGeometry& g) {
  return (ChannelTerms::pairs(g, WideRounds<G>::forward) + 1) / 2 * 2 * sizeof(float2);
}
template <int G>
__host__ __device__ inline std::size_t wide_forward_shared_bytes(const WideGeometry& g) {
  return wide_forward_terms_bytes<G>(g) +
         2 * WideStaged::floats(g, WideRounds<G>::forward, false) * sizeof(float);
}

/// Forward; Save: also the states before every span_rounds-th backward round, to `saved`
/// (wide_saved_per_block floats per block). A kernel of its own, so that the forward without it
/// keeps its registers (ptxas: with it G = 4 takes 78 instead of 71, G = 8 128 instead of 92).
template <int G, bool Save>
__global__ void __launch_bounds__(wide_threads)
    wide_forward_kernel(DeviceIn in, DeviceOut out, WideGeometry g, float* saved) {
  constexpr int R = WideRounds<G>::forward, RB = WideRounds<G>::backward;
  static_assert(R % RB == 0, "backward rounds start within forward rounds");
  extern __shared__ __align__(16) unsigned char shared_raw[];
  float2* const terms = reinterpret_cast<float2*>(shared_raw);  // ChannelTerms
  float* const staged = reinterpret_cast<float*>(shared_raw + wide_forward_terms_bytes<G>(g));
  const SlotGroup<G> s = make_slot_group<G>(g, in.a_bar, in.p_bar);
  float2* const own = terms + ChannelTerms::own(g);
  const int token_pairs = g.tpc * g.chan_stride;
  float lam[G], eta[G];
  initial_states(in, g, s, lam, eta);
  [[maybe_unused]] float* const ck = Save ? saved + std::size_t(blockIdx.x) * wide_saved_per_block<G>(g) : nullptr;
  pipelined_rounds(
      0, round_count(g.L, R), 1,
      [&](int which, long long r) {
        stage_round<R>(WideStaged::carve(staged, g, R, false, which), in, nullptr, g, s.b, s.tile, r);
      },
      [&](int which, long long r) {
        const WideStaged st = WideStaged::carve(staged, g, R, false, which);
        // Step every slot through the round, leaving each token's readout summed over the G slots
        // (tokens past L leave stale terms, which the sums skip).
        for_tokens<R>(tokens_in_round(g.L, r, R), [&](int kk) {
          if (Save && kk % RB == 0) {  // the states before backward round rb, a checkpoint's when rb % span_rounds = 0
            const long long rb = r * (R / RB) + kk / RB;
            if ((rb & (g.span_rounds - 1)) == 0) save_states<G>(ck + (rb / g.span_rounds) * checkpoint_floats<G>, lam, eta);
          }
          const WideToken<G> tk = read_token(st, g, s, kk);
          float y = 0.f, y_var = 0.f;
#pragma unroll
          for (int i = 0; i < G; ++i) {
            step_slot(s, tk, i, lam[i], eta[i]);
            kla::detail::readout(tk.q[i], lam[i], eta[i], y, y_var);
          }
          own[kk * token_pairs] = make_float2(y, y_var);
        });
        __syncthreads();
        write_channel_sums<R>(terms, out.y, out.y_var, g, s.b, s.tile, r);
      });
#pragma unroll
  for (int i = 0; i < G; ++i)
    if (s.active[i]) {
      if (out.lam_T) out.lam_T[s.state(g, i)] = lam[i];
      if (out.eta_T) out.eta_T[s.state(g, i)] = eta[i];
    }
}

/// Floats of backward scratch per block: the checkpoints unless the forward saved them, then one
/// span's round starts (checkpoint_floats each).
template <int G>
__host__ __device__ inline std::size_t wide_scratch_per_block(const WideGeometry& g, bool saved) {
  return (saved ? 0 : wide_saved_per_block<G>(g)) + std::size_t(g.span_rounds) * checkpoint_floats<G>;
}

/// Shared memory of the wide backward: per-token terms (k̄ and q̄ [R][threads·G] each; v̄, Λv̄
/// pairs as ChannelTerms), then the staged rounds (16-byte aligned: an even number of pairs).
/// The backward's forward passes stage rounds of RA tokens (no cotangents, no queries) over the
/// same memory from its start: they never run while the adjoint rounds use it.
template <int G>
struct WideBackwardShared {
  // RA = 2R: with 4R the two unrolled forward passes pushed the kernel past 255 registers (spills
  // in the span pass and the adjoint rounds); with 2R the only spills are outside the token loops.
  static constexpr int R = WideRounds<G>::backward, RA = 2 * R;
  // Span passes start at checkpoints, which are RA-rounds apart when span_rounds > 1 (a power of two).
  static_assert(RA == 2 * R, "checkpoints of more than one round start RA-rounds");
  static constexpr std::size_t slot_bytes = R * wide_threads * G * sizeof(float);
  __host__ __device__ static std::size_t chan_bytes(const WideGeometry& g) {
    return (ChannelTerms::pairs(g, R) + 1) / 2 * 2 * sizeof(float2);
  }
  /// With G ≤ 4: the reverse rounds' starts when the forward saved them all, staged with their
  /// tokens (two buffers after the staged rounds). Not with 8 slots a thread, where the staging's
  /// registers tripled the spills (32/96 → 96/212 bytes stored/loaded).
  static constexpr bool stage_starts = G <= 4;
  static constexpr std::size_t start_bytes = checkpoint_floats<G> * sizeof(float);
  __host__ __device__ static std::size_t starts_offset(const WideGeometry& g) {
    return 2 * slot_bytes + chan_bytes(g) + 2 * WideStaged::floats(g, R, true) * sizeof(float);
  }
  __host__ __device__ static std::size_t bytes(const WideGeometry& g) {
    const std::size_t adjoint = starts_offset(g) + (stage_starts ? 2 * start_bytes : 0);
    const std::size_t forward = 2 * WideStaged::floats(g, RA, false) * sizeof(float);
    return forward > adjoint ? forward : adjoint;
  }
};

/// Backward of the n tokens of the staged round st, from the states (lam, eta) before it:
/// (lam_bar, eta_bar) go from the adjoints of the states after the round (its last readout
/// excluded) to those of the states before it; ā, p̄ terms are added to a_sum, p_sum and each
/// token's gradient terms left in the shared buffers. The adjoint in factored form
/// (step_adjoint_from, ChannelTokenGrads: the token gradients summed over the G slots), reusing
/// each step's reciprocal 1/D from the recompute when G ≤ 4 (with 8 slots a thread the R·G more
/// registers spill).
template <int G, int R>
__device__ inline void wide_round_adjoints(const WideStaged& st, const WideGeometry& g, const SlotGroup<G>& s, int n,
                                           const float (&lam)[G], const float (&eta)[G], float (&lam_bar)[G],
                                           float (&eta_bar)[G], float (&a_sum)[G], float (&p_sum)[G],
                                           float2* chan_terms, float* k_terms, float* q_terms) {
  const int tid = int(threadIdx.x), token_pairs = g.tpc * g.chan_stride;
  float2* const own = chan_terms + ChannelTerms::own(g);
  float sl[R + 1][G], se[R + 1][G];  // the round's states: index kk = before its kk-th token
  constexpr bool keep = G <= 4;
  float sg[keep ? R : 1][G];         // keep: 1/D of token kk's step
#pragma unroll
  for (int i = 0; i < G; ++i) sl[0][i] = lam[i], se[0][i] = eta[i];
  for_tokens<R>(n, [&](int kk) {
    const WideToken<G> tk = read_token(st, g, s, kk);
#pragma unroll
    for (int i = 0; i < G; ++i) {
      sl[kk + 1][i] = sl[kk][i];
      se[kk + 1][i] = se[kk][i];
      const float rcp = step_slot(s, tk, i, sl[kk + 1][i], se[kk + 1][i]);
      if constexpr (keep) sg[kk][i] = rcp;
    }
  });
  for_tokens_reverse<R>(n, [&](int kk) {
    const WideToken<G> tk = read_token(st, g, s, kk);
    const float gy = st.cy[(kk << g.log_mt) + s.ml], gy_var = st.cy_var[(kk << g.log_mt) + s.ml];
    float kb[G], qb[G];
    // Per slot, the readout at token kk completes the adjoints of the state after it; then back
    // through its update.
    kla::detail::ChannelTokenGrads<float> cg{tk.lv, tk.lv * tk.v};
#pragma unroll
    for (int i = 0; i < G; ++i) {
      qb[i] = kla::detail::readout_adjoint(tk.q[i], sl[kk + 1][i], se[kk + 1][i], gy, gy_var, lam_bar[i], eta_bar[i]);
      const float phi_bar = lam_bar[i], r_bar = eta_bar[i];
      const float rcp = keep ? sg[keep ? kk : 0][i] : kla::detail::step_reciprocal(s.par[i], sl[kk][i]);
      kla::detail::step_adjoint_from(s.par[i], sl[kk][i], rcp, se[kk][i], lam_bar[i], eta_bar[i], a_sum[i], p_sum[i]);
      kb[i] = cg.add_slot(tk.k[i], phi_bar, r_bar);
    }
    own[kk * token_pairs] = make_float2(cg.v_bar, cg.lam_v_bar(tk.v));
    // Padding slots and channels computed on zeros: their terms are zero.
    store_slots<G>(k_terms + (kk * wide_threads + tid) * G, kb);
    store_slots<G>(q_terms + (kk * wide_threads + tid) * G, qb);
  });
}

/// Backward; grad.k, grad.q, grad.a_bar, grad.p_bar must be zero on entry (summed with atomics
/// across blocks). `scratch`: blocks · wide_scratch_per_block floats, 16-byte aligned. `saved`:
/// the checkpoints that wide_forward_kernel saved with the same geometry, or null: then the
/// backward sweeps them into the scratch (span_rounds = rounds_per_checkpoint).
/// The round adjoints are wide_round_adjoints'; the two forward passes (checkpoint sweep, span)
/// go in rounds of RA = 2R tokens (half the barriers and staging calls), step no token whose
/// state nothing reads (the sweep stops at the last checkpoint, a span pass at its last round
/// start) and do not stage the queries.
template <int G>
__global__ void __launch_bounds__(wide_threads, WideRounds<G>::backward_blocks)
    wide_backward_kernel(DeviceIn in, DeviceCot cot, DeviceGrad grad, WideGeometry g, float* scratch,
                         const float* saved) {
  using Shared = WideBackwardShared<G>;
  constexpr int R = Shared::R;
  extern __shared__ __align__(16) unsigned char shared_raw[];
  float* const k_terms = reinterpret_cast<float*>(shared_raw);
  float* const q_terms = reinterpret_cast<float*>(shared_raw + Shared::slot_bytes);
  float2* const chan_terms = reinterpret_cast<float2*>(shared_raw + 2 * Shared::slot_bytes);
  float* const staged = reinterpret_cast<float*>(shared_raw + 2 * Shared::slot_bytes + Shared::chan_bytes(g));
  constexpr bool stage_starts = Shared::stage_starts;
  float* const starts = reinterpret_cast<float*>(shared_raw + Shared::starts_offset(g));  // [2][states]
  const SlotGroup<G> s = make_slot_group<G>(g, in.a_bar, in.p_bar);
  const int per = g.span_rounds;
  const long long rounds = round_count(g.L, R), checkpoints = checkpoint_count(g.L, R, per);
  constexpr std::size_t states = checkpoint_floats<G>;  // floats of one save
  float* const own_scratch = scratch + std::size_t(blockIdx.x) * wide_scratch_per_block<G>(g, saved != nullptr);
  // [checkpoints][states]: the forward's, or swept into the scratch here
  float* const swept = saved ? nullptr : own_scratch;
  const float* const ck = saved ? saved + std::size_t(blockIdx.x) * wide_saved_per_block<G>(g) : own_scratch;
  float* const span = saved ? own_scratch : own_scratch + std::size_t(checkpoints) * states;  // [per][states]
  float lam[G], eta[G];
  auto save = [&](float* at) { save_states<G>(at, lam, eta); };
  auto load = [&](const float* at) { load_states<G>(at, lam, eta); };
  // Steps (lam, eta) from token R·r_begin to R·r_end (r_begin a checkpoint's round), in
  // rounds of RA tokens staged over the start of shared memory, calling save_at(r) with the
  // states before each round r of R tokens on the way (not at r_end).
  auto forward_pass = [&](long long r_begin, long long r_end, auto&& save_at) {
    constexpr int RA = Shared::RA;
    float* const staged_a = reinterpret_cast<float*>(shared_raw);
    const long long t_end = r_end * R;
    pipelined_rounds(
        r_begin * R / RA, round_count((r_end - r_begin) * R, RA), 1,
        [&](int which, long long a) {
          stage_round<RA>(WideStaged::carve(staged_a, g, RA, false, which), in, nullptr, g, s.b, s.tile, a, false);
        },
        [&](int which, long long a) {
          const WideStaged st = WideStaged::carve(staged_a, g, RA, false, which);
          const long long left = t_end - a * RA;
          for_tokens<RA>(left < RA ? int(left) : RA, [&](int kk) {
            if (kk % R == 0) save_at((a * RA + kk) / R);
            const WideToken<G> tk = read_token(st, g, s, kk);
#pragma unroll
            for (int i = 0; i < G; ++i) step_slot(s, tk, i, lam[i], eta[i]);
          });
        });
  };
  // Forward sweep, unless the forward saved them: the states at each checkpoint's first round.
  if (swept) {
    initial_states(in, g, s, lam, eta);
    if (checkpoints > 0) {
      forward_pass(0, (checkpoints - 1) * per, [&](long long r) {
        if (r % per == 0) save(swept + (r / per) * states);
      });
      save(swept + (checkpoints - 1) * states);
    }
  }
  float lam_bar[G], eta_bar[G], a_sum[G], p_sum[G];
#pragma unroll
  for (int i = 0; i < G; ++i) {
    lam_bar[i] = s.active[i] && cot.lam_T ? cot.lam_T[s.state(g, i)] : 0.f;
    eta_bar[i] = s.active[i] && cot.eta_T ? cot.eta_T[s.state(g, i)] : 0.f;
    a_sum[i] = p_sum[i] = 0.f;
  }
  for (long long cp = checkpoints - 1; cp >= 0; --cp) {
    const long long r0 = cp * per;
    const long long n_rounds = r0 + per < rounds ? per : rounds - r0;
    // Round starts of this span, from its checkpoint (the first is the checkpoint itself, read
    // there; a span of one round, at the spacing of one round, needs no pass).
    if (n_rounds > 1) {
      load(ck + cp * states);
      forward_pass(r0, r0 + n_rounds - 1, [&](long long r) {
        if (r > r0) save(span + (r - r0) * states);
      });
      save(span + (n_rounds - 1) * states);
    }
    // Each round's start, the checkpoint or the span's. With the forward's states at every
    // round (spans of one round: every start is a checkpoint from HBM, written by the forward's
    // kernel) and stage_starts, it is staged with the round's tokens, so that its load's latency
    // hides behind the previous round like theirs. Not the span's starts, which this thread has
    // just stored (an asynchronous copy is not ordered after them without a fence) and which L2
    // still holds.
    auto round_start = [&](long long r) { return r == r0 ? ck + cp * states : span + (r - r0) * states; };
    const bool staged_starts = stage_starts && saved && per == 1;
    pipelined_rounds(r0 + n_rounds - 1, n_rounds, -1, [&](int which, long long r) {
      stage_round<R>(WideStaged::carve(staged, g, R, true, which), in, &cot, g, s.b, s.tile, r);
      if (staged_starts) stage_states<G>(starts + which * states, ck + r * states);
    }, [&](int which, long long r) {
      load(staged_starts ? starts + which * states : round_start(r));
      wide_round_adjoints<G, R>(WideStaged::carve(staged, g, R, true, which), g, s, tokens_in_round(g.L, r, R), lam,
                                eta, lam_bar, eta_bar, a_sum, p_sum, chan_terms, k_terms, q_terms);
      __syncthreads();
      write_channel_sums<R>(chan_terms, grad.v, grad.lam_v, g, s.b, s.tile, r);
      add_slot_sums<R>(k_terms, q_terms, grad.k, grad.q, g, s.b, r);
    });
  }
  // (lam_bar, eta_bar) are now the adjoints of the carried states (the cotangents if L = 0); ā̄,
  // p̄̄ are summed over batch entries with one atomic add per block and slot.
#pragma unroll
  for (int i = 0; i < G; ++i)
    if (s.active[i]) {
      if (grad.lam0) grad.lam0[s.state(g, i)] = lam_bar[i];
      if (grad.eta0) grad.eta0[s.state(g, i)] = eta_bar[i];
      const int at = s.m * g.S + s.j0 + i;
      atomicAdd(&grad.a_bar[at], a_sum[i]);
      if (!s.par[i].p_floored) atomicAdd(&grad.p_bar[at], p_sum[i]);
    }
}

}  // namespace kalmanscan::kla::cuda::detail
