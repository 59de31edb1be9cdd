#include "kalmanscan/kla/torch/multi_tensor_step.hpp"

#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>

#include "host_copy.hpp"

namespace kalmanscan::kla::nn {

namespace {

// The key of a parameter in Optimizer::state_: LibTorch 1.x keys the state by the TensorImpl
// address printed as a string (c10::guts::to_string), later versions by the address itself.
template <class Key>
Key state_key(const at::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << static_cast<const void*>(p.unsafeGetTensorImpl());
    return s.str();
  } else {
    return Key(p.unsafeGetTensorImpl());
  }
}

const torch::optim::AdamWOptions& adamw_options(const torch::optim::OptimizerParamGroup& group) {
  return static_cast<const torch::optim::AdamWOptions&>(group.options());
}

}  // namespace

torch::Tensor MultiTensorAdamW::step(LossClosure closure) {
  for (const auto& group : param_groups_)
    if (adamw_options(group).amsgrad()) return AdamW::step(closure);
  torch::Tensor loss;
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  collect();
  advance();
  update();
  return loss;
}

void MultiTensorAdamW::collect() {
  torch::NoGradGuard no_grad;
  using Key = typename std::decay_t<decltype(state_)>::key_type;
  std::vector<List> lists;
  for (std::size_t g = 0; g < param_groups_.size(); ++g) {
    TORCH_CHECK(!adamw_options(param_groups_[g]).amsgrad(), "MultiTensorAdamW: amsgrad has no multi-tensor update");
    // One list per (step count, dtype) in the group: only those share coefficients.
    std::vector<std::tuple<std::int64_t, at::ScalarType, std::size_t>> index;  // → position in `lists`
    for (auto& p : param_groups_[g].params()) {
      if (!p.grad().defined()) continue;
      TORCH_CHECK(!p.grad().is_sparse(), "MultiTensorAdamW: sparse gradients are not supported");
      auto it = state_.find(state_key<Key>(p));
      if (it == state_.end()) {
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->step(0);
        s->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
        s->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
        it = state_.emplace(state_key<Key>(p), std::move(s)).first;
      }
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      std::size_t at_list = lists.size();
      for (const auto& [t, dtype, i] : index)
        if (t == s.step() && dtype == p.scalar_type()) at_list = i;
      if (at_list == lists.size()) {
        index.emplace_back(s.step(), p.scalar_type(), lists.size());
        lists.emplace_back();
        lists.back().group = g;
      }
      List& l = lists[at_list];
      l.params.push_back(p);
      l.grads.push_back(p.grad());
      l.exp_avgs.push_back(s.exp_avg());
      l.exp_avg_sqs.push_back(s.exp_avg_sq());
    }
  }
  // Keep the coefficient tensors of lists that are still there, in the same order.
  for (std::size_t i = 0; i < lists.size(); ++i) {
    const at::TensorOptions o = lists[i].params.front().options();
    if (i < lists_.size() && lists_[i].coefficients.defined() && lists_[i].coefficients.device() == o.device() &&
        lists_[i].coefficients.scalar_type() == lists[i].params.front().scalar_type())
      lists[i].coefficients = lists_[i].coefficients;
    else
      lists[i].coefficients = at::empty({3}, o.requires_grad(false));
  }
  lists_ = std::move(lists);
}

void MultiTensorAdamW::advance() {
  using Key = typename std::decay_t<decltype(state_)>::key_type;
  for (List& l : lists_) {
    const auto& o = adamw_options(param_groups_[l.group]);
    std::int64_t t = 0;
    for (const auto& p : l.params) {
      auto it = state_.find(state_key<Key>(p));
      TORCH_CHECK(it != state_.end(), "MultiTensorAdamW: advance() without collect() after the state was replaced");
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      s.step(s.step() + 1);
      t = s.step();
    }
    const double lr = o.lr(), beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    const double bias_correction1 = 1 - std::pow(beta1, double(t));
    const double bias_correction2 = 1 - std::pow(beta2, double(t));
    const at::Tensor host = at::tensor({1 - lr * o.weight_decay(), 1 / std::sqrt(bias_correction2), -lr / bias_correction1},
                                       at::TensorOptions(at::kDouble))
                                .to(l.coefficients.scalar_type());
    detail::copy_from_host(host, l.coefficients);
  }
}

void MultiTensorAdamW::update() {
  torch::NoGradGuard no_grad;
  for (List& l : lists_) {
    const auto& o = adamw_options(param_groups_[l.group]);
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    const at::Tensor decay = l.coefficients[0], inverse_bias_correction2_sqrt = l.coefficients[1],
                     step = l.coefficients[2];
    if (o.weight_decay() != 0) foreach_mul_by_tensor_(l.params, decay);  // p ← p(1 − lr·wd)
    at::_foreach_mul_(l.exp_avgs, beta1);                                  // m ← β1 m + (1 − β1) g
    at::_foreach_add_(l.exp_avgs, l.grads, 1 - beta1);
    at::_foreach_mul_(l.exp_avg_sqs, beta2);  // v ← β2 v + (1 − β2) g²
    at::_foreach_addcmul_(l.exp_avg_sqs, l.grads, l.grads, 1 - beta2);
    std::vector<at::Tensor> denom = at::_foreach_sqrt(l.exp_avg_sqs);  // √v / √(1 − β2ᵗ) + ε
    foreach_mul_by_tensor_(denom, inverse_bias_correction2_sqrt);
    at::_foreach_add_(denom, o.eps());
    std::vector<at::Tensor> delta = at::_foreach_div(l.exp_avgs, denom);  // p ← p − lr/(1 − β1ᵗ) · m / denom
    foreach_mul_by_tensor_(delta, step);
    at::_foreach_add_(l.params, delta);
  }
}

void foreach_mul_by_tensor_(const std::vector<at::Tensor>& tensors, const at::Tensor& factor) {
  if (tensors.empty()) return;
#if TORCH_VERSION_MAJOR >= 2
  at::_foreach_mul_(tensors, factor);
#else
  for (const auto& t : tensors) t.mul_(factor);
#endif
}

void clip_grad_norm_without_sync(const std::vector<at::Tensor>& parameters, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (const auto& p : parameters)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return;
  const at::Tensor total = at::stack(at::_foreach_norm(grads, 2)).norm(2);
  const at::Tensor coefficient = at::clamp_max(max_norm / (total + 1e-6), 1.0);
  foreach_mul_by_tensor_(grads, coefficient.to(grads.front().scalar_type()));
}

void clear_grads(const std::vector<at::Tensor>& parameters) {
  for (const auto& p : parameters)
    if (p.grad().defined()) p.mutable_grad().reset();
}

}  // namespace kalmanscan::kla::nn
