#include <vector>

#include "channel.hpp"
#include "kalmanscan/kla/kla.hpp"
#include "kalmanscan/scan/parallel.hpp"
#include "plan.hpp"
#include "time_split.hpp"

namespace kalmanscan::kla {

namespace detail {
namespace {

// One channel, all S slots side by side: the sequential scan of its operators applied to the
// carried state, i.e. the step loop of kla.hpp; writes y, y_var and the final state.
template <class T>
void forward_steps(const Channel<T>& ch, const Outputs<T>& out, std::vector<SlotParams<T>>& sp, std::vector<T>& lam,
                   std::vector<T>& eta) {
  const std::size_t S = ch.ix.s.S;
  for (std::size_t j = 0; j < S; ++j) {
    sp[j] = ch.params(j);
    lam[j] = ch.lam0(j);
    eta[j] = ch.eta0(j);
  }
  for (std::size_t t = 0; t < ch.ix.s.L; ++t) {
    const T lv = ch.lam_v(t), vv = ch.v(t);
    const T* k = ch.k(t);
    const T* q = ch.q(t);
    T y = 0, y_var = 0;
    for (std::size_t j = 0; j < S; ++j) {
      step(sp[j], observation_precision(lv, k[j]), lv * vv * k[j], lam[j], eta[j]);
      readout(q[j], lam[j], eta[j], y, y_var);
    }
    out.y[ch.seq(t)] = y;
    out.y_var[ch.seq(t)] = y_var;
  }
  for (std::size_t j = 0; j < S; ++j) {
    if (!out.lam_T.empty()) out.lam_T[ch.state(j)] = lam[j];
    if (!out.eta_T.empty()) out.eta_T[ch.state(j)] = eta[j];
  }
}

}  // namespace
}  // namespace detail

template <class T>
void forward(const Inputs<T>& in, const Outputs<T>& out, const Options& options) {
  validate(in);
  const Shape& s = in.shape;
  validate(s, out);
  const detail::Plan plan = detail::make_plan(s, options);
  const detail::Index ix{s};
  if (plan.time_split) {
    for (std::size_t b = 0; b < s.B; ++b)
      for (std::size_t m = 0; m < s.M; ++m) detail::forward_time_parallel(detail::Channel<T>{in, ix, b, m}, out, plan.threads);
    return;
  }
  scan::parallel_tasks(s.B * plan.blocks, plan.threads, [&](std::size_t task) {
    const std::size_t b = task / plan.blocks, m0 = (task % plan.blocks) * plan.channel_block;
    std::vector<detail::SlotParams<T>> sp(s.S);
    std::vector<T> lam(s.S), eta(s.S);
    for (std::size_t m = m0; m < std::min(s.M, m0 + plan.channel_block); ++m)
      detail::forward_steps(detail::Channel<T>{in, ix, b, m}, out, sp, lam, eta);
  });
}

template void forward<float>(const Inputs<float>&, const Outputs<float>&, const Options&);
template void forward<double>(const Inputs<double>&, const Outputs<double>&, const Options&);

}  // namespace kalmanscan::kla
