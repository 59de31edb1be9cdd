#include "kalmanscan/kla/torch/ou.hpp"

#include <torch/torch.h>

namespace kalmanscan::kla::nn {

Discretised ou_discretise(const at::Tensor& a, const at::Tensor& p, const at::Tensor& delta) {
  const at::Tensor x = 2 * a * delta;  // 2aΔ ≥ 0
  const at::Tensor small = x < 1e-3;
  // g(x) = (1 − e^{−x})/x; the unselected branch sees a safe argument so its gradient stays finite.
  const at::Tensor x_safe = at::where(small, at::ones_like(x), x);
  const at::Tensor g_exact = -at::expm1(-x_safe) / x_safe;
  // 1 − x/2 + x²/6 − x³/24 + x⁴/120, truncation x⁵/720 < 1.4e-18 below the switch.
  const at::Tensor g_series = 1 - x / 2 * (1 - x / 3 * (1 - x / 4 * (1 - x / 5)));
  const at::Tensor g = at::where(small, g_series, g_exact);
  return {at::exp(-a * delta), p * p * delta * g};
}

}  // namespace kalmanscan::kla::nn
