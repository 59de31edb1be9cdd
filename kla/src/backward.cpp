#include <algorithm>
#include <vector>

#include "channel.hpp"
#include "index.hpp"
#include "kalmanscan/kla/kla.hpp"
#include "kalmanscan/scan/parallel.hpp"
#include "plan.hpp"
#include "time_split.hpp"

namespace kalmanscan::kla {

namespace detail {
namespace {

// The step-by-step backward of all channels, checkpointed: the time axis is cut into chunks of
// K tokens; one forward sweep stores every channel's state before each chunk; then the chunks
// are visited from last to first, every task (b, block of channels) recomputing its channels'
// states inside the chunk from the checkpoint and stepping their adjoints back through it.
// Memory: ⌈L/K⌉·B·M·S checkpoints, the adjoints B·M·S, and per task (K+1)·S states and K·S
// partial k, q gradients — never [B, L, M, S].
template <class T>
class CheckpointedBackward {
 public:
  CheckpointedBackward(const Inputs<T>& in, const Cotangents<T>& cot, const Gradients<T>& grad, const Plan& plan,
                       std::size_t K)
      : in_(in), cot_(cot), grad_(grad), plan_(plan), ix_{in.shape}, K_(K),
        chunks_((in.shape.L + K - 1) / K),
        tasks_(in.shape.B * plan.blocks),
        ck_lam_(chunks_ * in.shape.state_size()), ck_eta_(chunks_ * in.shape.state_size()),
        lam_bar_(in.shape.state_size()), eta_bar_(in.shape.state_size()),
        a_part_(in.shape.state_size()), p_part_(in.shape.state_size()),
        scratch_(tasks_) {}

  void run() {
    const Shape& s = in_.shape;
    scan::parallel_tasks(tasks_, plan_.threads, [&](std::size_t task) { checkpoint_sweep(task); });
    for (std::size_t c = chunks_; c-- > 0;) {
      scan::parallel_tasks(tasks_, plan_.threads, [&](std::size_t task) { chunk_adjoints(task, c); });
      // k and q gradients of the chunk: the channel blocks' partial sums, in block order.
      const std::size_t lo = c * K_, n = std::min(s.L, lo + K_) - lo;
      scan::parallel_tasks(s.B, plan_.threads, [&](std::size_t b) {
        for (std::size_t blk = 0; blk < plan_.blocks; ++blk) {
          const Scratch& sc = scratch_[b * plan_.blocks + blk];
          for (std::size_t i = 0; i < n * s.S; ++i) {
            grad_.k[ix_.key(b, lo, 0) + i] += sc.k[i];
            grad_.q[ix_.key(b, lo, 0) + i] += sc.q[i];
          }
        }
      });
    }
    for (std::size_t b = 0; b < s.B; ++b)
      for (std::size_t m = 0; m < s.M; ++m)
        for (std::size_t j = 0; j < s.S; ++j) {
          const std::size_t st = ix_.state(b, m, j), pj = ix_.param(m, j);
          if (!grad_.lam0.empty()) grad_.lam0[st] = lam_bar_[st];
          if (!grad_.eta0.empty()) grad_.eta0[st] = eta_bar_[st];
          grad_.a_bar[pj] += a_part_[st];
          if (!(in_.p_bar[pj] < T(p_bar_floor))) grad_.p_bar[pj] += p_part_[st];
        }
  }

 private:
  struct Scratch {
    std::vector<SlotParams<T>> sp;
    std::vector<T> lam, eta;  // (K + 1)·S states of the chunk: index i = before its i-th token
    std::vector<T> k, q;      // K·S partial gradients of the task's channels
  };

  // The channels of one task: batch entry b, channels [m0, m1).
  void channels(std::size_t task, std::size_t& b, std::size_t& m0, std::size_t& m1) const {
    b = task / plan_.blocks;
    m0 = (task % plan_.blocks) * plan_.channel_block;
    m1 = std::min(in_.shape.M, m0 + plan_.channel_block);
  }

  void checkpoint_sweep(std::size_t task) {
    const Shape& s = in_.shape;
    Scratch& sc = scratch_[task];
    sc.sp.resize(s.S);
    sc.lam.resize((K_ + 1) * s.S);
    sc.eta.resize((K_ + 1) * s.S);
    sc.k.resize(K_ * s.S);
    sc.q.resize(K_ * s.S);
    std::size_t b, m0, m1;
    channels(task, b, m0, m1);
    for (std::size_t m = m0; m < m1; ++m) {
      const Channel<T> ch{in_, ix_, b, m};
      T* lam = sc.lam.data();
      T* eta = sc.eta.data();
      for (std::size_t j = 0; j < s.S; ++j) {
        sc.sp[j] = ch.params(j);
        lam[j] = ch.lam0(j);
        eta[j] = ch.eta0(j);
        lam_bar_[ch.state(j)] = at_or_zero(cot_.lam_T, ch.state(j));
        eta_bar_[ch.state(j)] = at_or_zero(cot_.eta_T, ch.state(j));
      }
      for (std::size_t t = 0; t < s.L; ++t) {
        if (t % K_ == 0)
          for (std::size_t j = 0; j < s.S; ++j) {
            ck_lam_[(t / K_) * s.state_size() + ch.state(j)] = lam[j];
            ck_eta_[(t / K_) * s.state_size() + ch.state(j)] = eta[j];
          }
        const T lv = ch.lam_v(t), vv = ch.v(t);
        const T* k = ch.k(t);
        for (std::size_t j = 0; j < s.S; ++j) step(sc.sp[j], observation_precision(lv, k[j]), lv * vv * k[j], lam[j], eta[j]);
      }
    }
  }

  void chunk_adjoints(std::size_t task, std::size_t c) {
    const Shape& s = in_.shape;
    Scratch& sc = scratch_[task];
    const std::size_t lo = c * K_, n = std::min(s.L, lo + K_) - lo;
    std::fill(sc.k.begin(), sc.k.end(), T(0));
    std::fill(sc.q.begin(), sc.q.end(), T(0));
    std::size_t b, m0, m1;
    channels(task, b, m0, m1);
    for (std::size_t m = m0; m < m1; ++m) {
      const Channel<T> ch{in_, ix_, b, m};
      // Recompute the chunk's states from its checkpoint.
      for (std::size_t j = 0; j < s.S; ++j) {
        sc.sp[j] = ch.params(j);
        sc.lam[j] = ck_lam_[c * s.state_size() + ch.state(j)];
        sc.eta[j] = ck_eta_[c * s.state_size() + ch.state(j)];
      }
      for (std::size_t i = 0; i < n; ++i) {
        const T lv = ch.lam_v(lo + i), vv = ch.v(lo + i);
        const T* k = ch.k(lo + i);
        for (std::size_t j = 0; j < s.S; ++j) {
          T lam = sc.lam[i * s.S + j], eta = sc.eta[i * s.S + j];
          step(sc.sp[j], observation_precision(lv, k[j]), lv * vv * k[j], lam, eta);
          sc.lam[(i + 1) * s.S + j] = lam;
          sc.eta[(i + 1) * s.S + j] = eta;
        }
      }
      // Step the adjoints back through the chunk: readout at the token, then its update.
      T* lam_bar = &lam_bar_[ch.state(0)];
      T* eta_bar = &eta_bar_[ch.state(0)];
      T* a_sum = &a_part_[ch.state(0)];
      T* p_sum = &p_part_[ch.state(0)];
      for (std::size_t i = n; i-- > 0;) {
        const std::size_t t = lo + i;
        const T lv = ch.lam_v(t), vv = ch.v(t);
        const T* k = ch.k(t);
        const T* q = ch.q(t);
        const T gy = at_or_zero(cot_.y, ch.seq(t)), gyv = at_or_zero(cot_.y_var, ch.seq(t));
        T gv = 0, glv = 0;
        for (std::size_t j = 0; j < s.S; ++j) {
          sc.q[i * s.S + j] += readout_adjoint(q[j], sc.lam[(i + 1) * s.S + j], sc.eta[(i + 1) * s.S + j], gy, gyv,
                                               lam_bar[j], eta_bar[j]);
          T phi_bar, r_bar;
          step_adjoint(sc.sp[j], sc.lam[i * s.S + j], sc.eta[i * s.S + j], lam_bar[j], eta_bar[j], a_sum[j], p_sum[j],
                       phi_bar, r_bar);
          const TokenGrads<T> g = token_grads(vv, lv, k[j], phi_bar, r_bar);
          gv += g.v;
          glv += g.lam_v;
          sc.k[i * s.S + j] += g.k;
        }
        grad_.v[ch.seq(t)] = gv;
        grad_.lam_v[ch.seq(t)] = glv;
      }
    }
  }

  const Inputs<T>& in_;
  const Cotangents<T>& cot_;
  const Gradients<T>& grad_;
  const Plan& plan_;
  const Index ix_;
  const std::size_t K_, chunks_, tasks_;
  std::vector<T> ck_lam_, ck_eta_;    // [chunk][B·M·S] states before each chunk
  std::vector<T> lam_bar_, eta_bar_;  // [B·M·S] adjoints of the state after the current position
  std::vector<T> a_part_, p_part_;    // [B·M·S] ā, p̄ gradient of each (b, m, s), summed over b at the end
  std::vector<Scratch> scratch_;
};

}  // namespace
}  // namespace detail

template <class T>
void backward(const Inputs<T>& in, const Cotangents<T>& cot, const Gradients<T>& grad, const Options& options) {
  validate(in);
  const Shape& s = in.shape;
  validate(s, cot);
  validate(s, grad);
  for (std::span<T> g : {grad.v, grad.lam_v, grad.k, grad.q, grad.a_bar, grad.p_bar, grad.lam0, grad.eta0})
    std::fill(g.begin(), g.end(), T(0));
  const detail::Plan plan = detail::make_plan(s, options);
  if (plan.time_split) {
    const detail::Index ix{s};
    for (std::size_t b = 0; b < s.B; ++b)
      for (std::size_t m = 0; m < s.M; ++m)
        detail::backward_time_parallel(detail::Channel<T>{in, ix, b, m}, cot, grad, plan.threads);
    return;
  }
  detail::CheckpointedBackward<T>(in, cot, grad, plan, detail::checkpoint_interval(s, options)).run();
}

template void backward<float>(const Inputs<float>&, const Cotangents<float>&, const Gradients<float>&, const Options&);
template void backward<double>(const Inputs<double>&, const Cotangents<double>&, const Gradients<double>&,
                               const Options&);

}  // namespace kalmanscan::kla
