#include "time_split.hpp"

#include <algorithm>
#include <vector>

#include "index.hpp"
#include "kalmanscan/scan/scan.hpp"
#include "operators.hpp"

namespace kalmanscan::kla::detail {

namespace {

// The slots s0 … s0 + n - 1 of a channel as one tile of `lanes` lanes (the rest padding).
template <class T>
struct Tile {
  std::size_t s0;
  int n;
  SlotParams<T> sp[lanes];
  T lam0[lanes], eta0[lanes];

  Tile(const Channel<T>& ch, std::size_t first) : s0(first), n(int(std::min<std::size_t>(lanes, ch.ix.s.S - first))) {
    for (int w = 0; w < lanes; ++w) {
      const bool real = w < n;
      sp[w] = real ? ch.params(s0 + w) : SlotParams<T>{T(1), T(1), false};
      lam0[w] = real ? ch.lam0(s0 + w) : T(1);
      eta0[w] = real ? ch.eta0(s0 + w) : T(0);
    }
  }
};

template <class T>
using PrecisionOp = LanesOp<scan::Mobius2Op<T>, lanes>;
template <class T>
using MeanOp = LanesOp<scan::AffineOp<T>, lanes>;

scan::Options engine_options(scan::Direction dir, unsigned threads) {
  return {.backend = scan::Backend::threaded, .direction = dir, .threads = threads};
}

// λ_t of every token of the tile into lam[(t + 1)·lanes + w] (lam[w] = λ₀), as a forward scan of
// Möbius maps whose carry-in is the constant map to λ₀ (so every prefix is the constant map to λ_t).
template <class T>
void precision_scan(const Channel<T>& ch, const Tile<T>& tile, std::vector<T>& lam, unsigned threads) {
  using Op = PrecisionOp<T>;
  typename Op::element carry;
  for (int w = 0; w < lanes; ++w) {
    carry.lane[w] = {T(0), tile.lam0[w], T(0), T(1)};
    lam[w] = tile.lam0[w];
  }
  auto leaf = [&](std::size_t, std::size_t t) {
    typename Op::element e;
    const T lv = ch.lam_v(t);
    const T* k = ch.k(t);
    for (int w = 0; w < lanes; ++w)
      e.lane[w] = w < tile.n ? precision_leaf(tile.sp[w], observation_precision(lv, k[tile.s0 + w]))
                             : scan::Mobius2Op<T>::identity();
    return e;
  };
  auto sink = [&](std::size_t, std::size_t t, const typename Op::element& e) {
    for (int w = 0; w < lanes; ++w) lam[(t + 1) * lanes + w] = e.lane[w].apply(T(1));
  };
  const typename Op::element* in = &carry;
  scan::scan<Op>(scan::Layout::single(ch.ix.s.L), leaf, sink, engine_options(scan::Direction::forward, threads),
                 {std::span(in, 1), {}});
}

// η_t of every token as a forward scan of affine maps (f_t, r_t) built from λ_{t-1}; the carry-in
// is the constant map to η₀. sink(t, eta) receives the tile's η_t (lanes values); returns η_L.
template <class T, class Sink>
typename MeanOp<T>::element mean_scan(const Channel<T>& ch, const Tile<T>& tile, const std::vector<T>& lam,
                                      Sink&& sink, unsigned threads) {
  using Op = MeanOp<T>;
  typename Op::element carry, last;
  for (int w = 0; w < lanes; ++w) carry.lane[w] = {T(0), tile.eta0[w]};
  auto leaf = [&](std::size_t, std::size_t t) {
    typename Op::element e;
    const T lv = ch.lam_v(t), vv = ch.v(t);
    const T* k = ch.k(t);
    for (int w = 0; w < lanes; ++w)
      e.lane[w] = mean_leaf(tile.sp[w], lam[t * lanes + w], w < tile.n ? lv * vv * k[tile.s0 + w] : T(0));
    return e;
  };
  auto emit = [&](std::size_t, std::size_t t, const typename Op::element& e) {
    T eta[lanes];
    for (int w = 0; w < lanes; ++w) eta[w] = e.lane[w].b;
    sink(t, eta);
  };
  const typename Op::element* in = &carry;
  scan::scan<Op>(scan::Layout::single(ch.ix.s.L), leaf, emit, engine_options(scan::Direction::forward, threads),
                 {std::span(in, 1), std::span(&last, 1)});
  return last;
}

}  // namespace

template <class T>
void forward_time_parallel(const Channel<T>& ch, const Outputs<T>& out, unsigned threads) {
  const std::size_t L = ch.ix.s.L, S = ch.ix.s.S;
  std::vector<T> lam((L + 1) * lanes);
  for (std::size_t t = 0; t < L; ++t) out.y[ch.seq(t)] = out.y_var[ch.seq(t)] = T(0);
  for (std::size_t s0 = 0; s0 < S; s0 += lanes) {
    const Tile<T> tile(ch, s0);
    precision_scan(ch, tile, lam, threads);
    // The readout of each token sums the tile's slots; tiles add up one after another.
    auto readout_sink = [&](std::size_t t, const T* eta) {
      const T* q = ch.q(t);
      T y = 0, y_var = 0;
      for (int w = 0; w < tile.n; ++w) readout(q[s0 + w], lam[(t + 1) * lanes + w], eta[w], y, y_var);
      out.y[ch.seq(t)] += y;
      out.y_var[ch.seq(t)] += y_var;
    };
    const auto last = mean_scan(ch, tile, lam, readout_sink, threads);
    for (int w = 0; w < tile.n; ++w) {
      if (!out.lam_T.empty()) out.lam_T[ch.state(s0 + w)] = lam[L * lanes + w];
      if (!out.eta_T.empty()) out.eta_T[ch.state(s0 + w)] = last.lane[w].b;
    }
  }
}

template <class T>
void backward_time_parallel(const Channel<T>& ch, const Cotangents<T>& cot, const Gradients<T>& grad,
                            unsigned threads) {
  using Op = LanesOp<AdjointOp<T>, lanes>;
  const std::size_t L = ch.ix.s.L, S = ch.ix.s.S;
  std::vector<T> lam((L + 1) * lanes), eta((L + 1) * lanes), a_terms(L * lanes), p_terms(L * lanes);
  for (std::size_t s0 = 0; s0 < S; s0 += lanes) {
    const Tile<T> tile(ch, s0);
    // Recompute the tile's states: λ, then η (stored, index t + 1 = after token t).
    precision_scan(ch, tile, lam, threads);
    for (int w = 0; w < lanes; ++w) eta[w] = tile.eta0[w];
    mean_scan(ch, tile, lam, [&](std::size_t t, const T* e) {
      for (int w = 0; w < lanes; ++w) eta[(t + 1) * lanes + w] = e[w];
    }, threads);
    // Adjoints: reverse scan of the maps from the adjoints after token t+1 to those after t,
    // carry-in the constant map to the final state's cotangents.
    typename Op::element carry;
    for (int w = 0; w < lanes; ++w) {
      const bool real = w < tile.n;
      carry.lane[w] = {T(0), T(0), T(0), real ? at_or_zero(cot.eta_T, ch.state(s0 + w)) : T(0),
                       real ? at_or_zero(cot.lam_T, ch.state(s0 + w)) : T(0)};
    }
    auto leaf = [&](std::size_t, std::size_t t) {
      typename Op::element e;
      const T* q = ch.q(t);
      const T gy = at_or_zero(cot.y, ch.seq(t)), gyv = at_or_zero(cot.y_var, ch.seq(t));
      for (int w = 0; w < lanes; ++w)
        e.lane[w] = w < tile.n ? adjoint_leaf(tile.sp[w], q[s0 + w], lam[(t + 1) * lanes + w], eta[(t + 1) * lanes + w],
                                              gy, gyv, t + 1 < L)
                               : AdjointOp<T>::identity();
      return e;
    };
    auto sink = [&](std::size_t t, const typename Op::element& e) {
      const T* q = ch.q(t);
      const T* k = ch.k(t);
      const T lv = ch.lam_v(t), vv = ch.v(t);
      const T gy = at_or_zero(cot.y, ch.seq(t)), gyv = at_or_zero(cot.y_var, ch.seq(t));
      T gv = 0, glv = 0;
      for (int w = 0; w < tile.n; ++w) {
        const std::size_t key = ch.ix.key(ch.b, t, s0 + w);
        T lb = 0, eb = 0;  // only q's gradient is wanted from the readout here
        grad.q[key] += readout_adjoint(q[s0 + w], lam[(t + 1) * lanes + w], eta[(t + 1) * lanes + w], gy, gyv, lb, eb);
        lb = e.lane[w].bl;
        eb = e.lane[w].be;
        T ga = 0, gp = 0, phi_bar, r_bar;
        step_adjoint(tile.sp[w], lam[t * lanes + w], eta[t * lanes + w], lb, eb, ga, gp, phi_bar, r_bar);
        a_terms[t * lanes + w] = ga;
        p_terms[t * lanes + w] = gp;
        const TokenGrads<T> g = token_grads(vv, lv, k[s0 + w], phi_bar, r_bar);
        gv += g.v;
        glv += g.lam_v;
        grad.k[key] += g.k;
        if (t == 0) {  // (λ̄, η̄) are now the adjoints of the carried state
          if (!grad.lam0.empty()) grad.lam0[ch.state(s0 + w)] = lb;
          if (!grad.eta0.empty()) grad.eta0[ch.state(s0 + w)] = eb;
        }
      }
      grad.v[ch.seq(t)] += gv;
      grad.lam_v[ch.seq(t)] += glv;
    };
    const typename Op::element* in = &carry;
    scan::scan<Op>(scan::Layout::single(L), leaf, [&](std::size_t, std::size_t t, const auto& e) { sink(t, e); },
                   engine_options(scan::Direction::reverse, threads), {std::span(in, 1), {}});
    for (int w = 0; w < tile.n; ++w) {
      const std::size_t pj = ch.ix.param(ch.m, s0 + w);
      T ga = 0, gp = 0;
      for (std::size_t t = 0; t < L; ++t) {
        ga += a_terms[t * lanes + w];
        gp += p_terms[t * lanes + w];
      }
      grad.a_bar[pj] += ga;
      if (!tile.sp[w].p_floored) grad.p_bar[pj] += gp;
      if (L == 0) {  // nothing between the carried state and the carry-out
        if (!grad.lam0.empty()) grad.lam0[ch.state(s0 + w)] = carry.lane[w].bl;
        if (!grad.eta0.empty()) grad.eta0[ch.state(s0 + w)] = carry.lane[w].be;
      }
    }
  }
}

template void forward_time_parallel<float>(const Channel<float>&, const Outputs<float>&, unsigned);
template void forward_time_parallel<double>(const Channel<double>&, const Outputs<double>&, unsigned);
template void backward_time_parallel<float>(const Channel<float>&, const Cotangents<float>&, const Gradients<float>&,
                                            unsigned);
template void backward_time_parallel<double>(const Channel<double>&, const Cotangents<double>&,
                                             const Gradients<double>&, unsigned);

}  // namespace kalmanscan::kla::detail
