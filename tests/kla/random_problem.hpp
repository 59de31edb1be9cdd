// Random KLA problems for the tests, with every input of order one (so that the normwise
// errors of every output and gradient are meaningful), and helpers to build the fixture's.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>

#include "fixture.hpp"
#include "tensors_owned.hpp"

namespace kalmanscan::kla::testing {

/// Ranges of the random inputs; the defaults keep every tensor and gradient of order one.
struct InputRanges {
  double lam_v_lo = 0.5, lam_v_hi = 1.5;
  double a_lo = 0.6, a_hi = 0.99;
  double p_lo = 0.02, p_hi = 0.2;
  double key_scale = 1.0;  ///< k, q ~ N(0, key_scale²/S)
};

inline OwnedInputs<double> random_inputs(const Shape& s, std::uint64_t seed, bool carried_state,
                                         const InputRanges& r = {}) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto gauss = [&](std::size_t n, double scale) {
    std::vector<double> x(n);
    for (double& e : x) e = scale * normal(gen);
    return x;
  };
  auto uniform = [&](std::size_t n, double lo, double hi) {
    std::uniform_real_distribution<double> u(lo, hi);
    std::vector<double> x(n);
    for (double& e : x) e = u(gen);
    return x;
  };
  const double ks = r.key_scale / std::sqrt(double(s.S > 0 ? s.S : 1));
  OwnedInputs<double> in{s,
                         gauss(s.sequence_size(), 1.0),
                         uniform(s.sequence_size(), r.lam_v_lo, r.lam_v_hi),
                         gauss(s.key_size(), ks),
                         gauss(s.key_size(), ks),
                         uniform(s.param_size(), r.a_lo, r.a_hi),
                         uniform(s.param_size(), r.p_lo, r.p_hi),
                         {},
                         {}};
  if (carried_state) {
    in.lam0 = uniform(s.state_size(), 0.5, 3.0);
    in.eta0 = gauss(s.state_size(), 1.0);
  }
  return in;
}

inline OwnedCotangents<double> random_cotangents(const Shape& s, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto gauss = [&](std::size_t n) {
    std::vector<double> x(n);
    for (double& e : x) e = normal(gen);
    return x;
  };
  return {gauss(s.sequence_size()), gauss(s.sequence_size()), gauss(s.state_size()), gauss(s.state_size())};
}

/// The tensors of one fixture file (fixture.hpp) as a problem: inputs, cotangents, expected
/// outputs and gradients (lam0/eta0 gradients only when the fixture carries a state).
struct FixtureProblem {
  OwnedInputs<double> in;
  OwnedCotangents<double> cot;
  std::map<std::string, std::vector<double>> expected;  ///< "out_y", …, "grad_v", …
};

inline FixtureProblem fixture_problem(const std::string& file) {
  auto t = load_fixture(kla_data_path(file));
  auto get = [&](const std::string& name) { return t.at(name).values; };
  const auto& dv = t.at("in_v").dims;
  const Shape s{dv.at(0), dv.at(1), dv.at(2), t.at("in_k").dims.at(2)};
  FixtureProblem p{{s, get("in_v"), get("in_lam_v"), get("in_k"), get("in_q"), get("in_a_bar"), get("in_p_bar"), {}, {}},
                   {get("cot_y"), get("cot_y_var"), get("cot_lam_T"), get("cot_eta_T")},
                   {}};
  if (t.count("in_lam0")) {
    p.in.lam0 = get("in_lam0");
    p.in.eta0 = get("in_eta0");
  }
  for (const auto& [name, tensor] : t)
    if (name.rfind("out_", 0) == 0 || name.rfind("grad_", 0) == 0) p.expected[name] = tensor.values;
  return p;
}

}  // namespace kalmanscan::kla::testing
