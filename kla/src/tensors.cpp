#include "kalmanscan/kla/tensors.hpp"

#include <cmath>
#include <sstream>

namespace kalmanscan::kla {

std::string Shape::to_string() const {
  std::ostringstream s;
  s << "B=" << B << " L=" << L << " M=" << M << " S=" << S;
  return s.str();
}

namespace {

// Throws unless `t` has `expected` elements (or, when optional, none).
template <class Span>
void check_size(const char* what, const Span& t, std::size_t expected, const char* dims, const Shape& shape,
                bool optional) {
  if (t.size() == expected || (optional && t.empty())) return;
  throw Error(std::string("kla: ") + what + " has " + std::to_string(t.size()) + " elements, expected " + dims +
              " = " + std::to_string(expected) + " (" + shape.to_string() + ")" + (optional ? " or none" : ""));
}

// Throws at the first element of `t` for which ok(x) fails, naming its flat index.
template <class T, class Ok>
void check_values(const char* what, std::span<const T> t, const char* domain, Ok ok) {
  for (std::size_t i = 0; i < t.size(); ++i)
    if (!ok(double(t[i])))
      throw Error(std::string("kla: ") + what + "[" + std::to_string(i) + "] = " + std::to_string(double(t[i])) +
                  " is outside its domain " + domain);
}

}  // namespace

template <class T>
void validate_sizes(const Inputs<T>& in) {
  const Shape& s = in.shape;
  check_size("v", in.v, s.sequence_size(), "B*L*M", s, false);
  check_size("lam_v", in.lam_v, s.sequence_size(), "B*L*M", s, false);
  check_size("k", in.k, s.key_size(), "B*L*S", s, false);
  check_size("q", in.q, s.key_size(), "B*L*S", s, false);
  check_size("a_bar", in.a_bar, s.param_size(), "M*S", s, false);
  check_size("p_bar", in.p_bar, s.param_size(), "M*S", s, false);
  check_size("lam0", in.lam0, s.state_size(), "B*M*S", s, true);
  check_size("eta0", in.eta0, s.state_size(), "B*M*S", s, true);
}

template <class T>
void validate(const Inputs<T>& in) {
  validate_sizes(in);
  check_values("lam_v", in.lam_v, "[0, inf)", [](double x) { return x >= 0 && std::isfinite(x); });
  check_values("a_bar", in.a_bar, "(0, 1]", [](double x) { return x > 0 && x <= 1; });
  check_values("p_bar", in.p_bar, "[0, inf)", [](double x) { return x >= 0 && std::isfinite(x); });
  check_values("lam0", in.lam0, "(0, inf)", [](double x) { return x > 0 && std::isfinite(x); });
}

template <class T>
void validate(const Shape& s, const Outputs<T>& out) {
  check_size("y", out.y, s.sequence_size(), "B*L*M", s, false);
  check_size("y_var", out.y_var, s.sequence_size(), "B*L*M", s, false);
  check_size("lam_T", out.lam_T, s.state_size(), "B*M*S", s, true);
  check_size("eta_T", out.eta_T, s.state_size(), "B*M*S", s, true);
}

template <class T>
void validate(const Shape& s, const Cotangents<T>& cot) {
  check_size("cotangent of y", cot.y, s.sequence_size(), "B*L*M", s, true);
  check_size("cotangent of y_var", cot.y_var, s.sequence_size(), "B*L*M", s, true);
  check_size("cotangent of lam_T", cot.lam_T, s.state_size(), "B*M*S", s, true);
  check_size("cotangent of eta_T", cot.eta_T, s.state_size(), "B*M*S", s, true);
}

template <class T>
void validate(const Shape& s, const Gradients<T>& g) {
  check_size("gradient of v", g.v, s.sequence_size(), "B*L*M", s, false);
  check_size("gradient of lam_v", g.lam_v, s.sequence_size(), "B*L*M", s, false);
  check_size("gradient of k", g.k, s.key_size(), "B*L*S", s, false);
  check_size("gradient of q", g.q, s.key_size(), "B*L*S", s, false);
  check_size("gradient of a_bar", g.a_bar, s.param_size(), "M*S", s, false);
  check_size("gradient of p_bar", g.p_bar, s.param_size(), "M*S", s, false);
  check_size("gradient of lam0", g.lam0, s.state_size(), "B*M*S", s, true);
  check_size("gradient of eta0", g.eta0, s.state_size(), "B*M*S", s, true);
}

#define KALMANSCAN_KLA_INSTANTIATE(T)                                 \
  template void validate<T>(const Inputs<T>&);                        \
  template void validate_sizes<T>(const Inputs<T>&);                  \
  template void validate<T>(const Shape&, const Outputs<T>&);         \
  template void validate<T>(const Shape&, const Cotangents<T>&);      \
  template void validate<T>(const Shape&, const Gradients<T>&);
KALMANSCAN_KLA_INSTANTIATE(float)
KALMANSCAN_KLA_INSTANTIATE(double)
#undef KALMANSCAN_KLA_INSTANTIATE

}  // namespace kalmanscan::kla
