#include "kalmanscan/kla/torch/tasks.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "kalmanscan/kla/error.hpp"

namespace kalmanscan::kla::nn {

TaskKind parse_task(const std::string& name) {
  if (name == "a5") return TaskKind::a5;
  if (name == "s5") return TaskKind::s5;
  if (name == "z5") return TaskKind::z5;
  if (name == "parity") return TaskKind::parity;
  if (name == "mqar") return TaskKind::mqar;
  throw Error("task: unknown task '" + name + "' (expected a5, s5, z5, parity or mqar)");
}

std::string task_name(TaskKind kind) {
  switch (kind) {
    case TaskKind::a5: return "a5";
    case TaskKind::s5: return "s5";
    case TaskKind::z5: return "z5";
    case TaskKind::parity: return "parity";
    case TaskKind::mqar: return "mqar";
  }
  return "?";
}

Permutation compose(const Permutation& sigma, const Permutation& tau) {
  Permutation r{};
  for (std::size_t i = 0; i < 5; ++i) r[i] = sigma[tau[i]];
  return r;
}

namespace {

bool is_even(const Permutation& p) {
  int inversions = 0;
  for (std::size_t i = 0; i < 5; ++i)
    for (std::size_t j = i + 1; j < 5; ++j) inversions += p[i] > p[j];
  return inversions % 2 == 0;
}

}  // namespace

std::vector<Permutation> group_elements(TaskKind kind) {
  std::vector<Permutation> out;
  if (kind == TaskKind::z5) {
    Permutation p{0, 1, 2, 3, 4};
    const Permutation cycle{1, 2, 3, 4, 0};
    for (int i = 0; i < 5; ++i, p = compose(cycle, p)) out.push_back(p);
    return out;
  }
  if (kind != TaskKind::a5 && kind != TaskKind::s5) throw Error("task: " + task_name(kind) + " is not a word problem");
  Permutation p{0, 1, 2, 3, 4};  // lexicographic order starts with the identity
  do {
    if (kind == TaskKind::s5 || is_even(p)) out.push_back(p);
  } while (std::next_permutation(p.begin(), p.end()));
  return out;
}

std::uint64_t SplitMix64::next() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t SplitMix64::below(std::uint64_t n) {
  const std::uint64_t limit = n * (~std::uint64_t{0} / n);  // largest multiple of n representable
  for (;;) {
    const std::uint64_t x = next();
    if (x < limit) return x % n;
  }
}

double SplitMix64::uniform() { return double(next() >> 11) * 0x1.0p-53; }

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  SplitMix64 g(seed ^ (0x5851f42d4c957f2dULL * (stream + 1)));
  return g.next();
}

Task::Task(const TaskOptions& options) : options_(options) {
  switch (options.kind) {
    case TaskKind::a5:
    case TaskKind::s5:
    case TaskKind::z5: {
      elements_ = group_elements(options.kind);
      std::map<Permutation, std::int32_t> index;
      for (std::size_t i = 0; i < elements_.size(); ++i) index[elements_[i]] = std::int32_t(i);
      mul_.assign(elements_.size(), std::vector<std::int32_t>(elements_.size()));
      for (std::size_t i = 0; i < elements_.size(); ++i)
        for (std::size_t j = 0; j < elements_.size(); ++j) mul_[i][j] = index.at(compose(elements_[i], elements_[j]));
      break;
    }
    case TaskKind::parity: break;
    case TaskKind::mqar:
      if (options.vocab < 4) throw Error("task mqar: vocab = " + std::to_string(options.vocab) + " must be ≥ 4");
      if (options.pairs < 0 || options.pairs > options.vocab / 2 - 1)
        throw Error("task mqar: pairs = " + std::to_string(options.pairs) + " must be in 0 … vocab/2 − 1 = " +
                    std::to_string(options.vocab / 2 - 1) + " (distinct keys)");
      break;
  }
}

std::int64_t Task::vocab() const {
  switch (options_.kind) {
    case TaskKind::parity: return 2;
    case TaskKind::mqar: return options_.vocab;
    default: return std::int64_t(elements_.size());
  }
}

std::int64_t Task::classes() const { return vocab(); }

Batch Task::sample(std::int64_t B, std::int64_t L, std::uint64_t seed, std::uint64_t first) const {
  if (B < 0 || L < 0) throw Error("task: batch size and length must be ≥ 0");
  const std::int64_t pairs =
      options_.kind == TaskKind::mqar ? (options_.pairs > 0 ? options_.pairs : std::max<std::int64_t>(1, L / 16)) : 0;
  if (options_.kind == TaskKind::mqar && L < 4 * pairs)
    throw Error("task mqar: length " + std::to_string(L) + " is too short for " + std::to_string(pairs) +
                " key-value pairs (needs ≥ 4·pairs)");
  Batch out{B, L, std::vector<std::int64_t>(std::size_t(B * L)), std::vector<std::int64_t>(std::size_t(B * L)), {}};
  for (std::int64_t b = 0; b < B; ++b) {
    SplitMix64 g(derive_seed(seed, first + std::uint64_t(b)));
    std::int64_t* x = &out.tokens[std::size_t(b * L)];
    std::int64_t* y = &out.targets[std::size_t(b * L)];
    switch (options_.kind) {
      case TaskKind::a5:
      case TaskKind::s5:
      case TaskKind::z5: {
        std::int32_t prod = 0;  // the identity
        for (std::int64_t t = 0; t < L; ++t) {
          x[t] = std::int64_t(g.below(elements_.size()));
          prod = mul_[std::size_t(prod)][std::size_t(x[t])];  // running product · x_t
          y[t] = prod;
        }
        break;
      }
      case TaskKind::parity: {
        std::int64_t acc = 0;
        for (std::int64_t t = 0; t < L; ++t) {
          x[t] = std::int64_t(g.below(2));
          acc ^= x[t];
          y[t] = acc;
        }
        break;
      }
      case TaskKind::mqar: {
        const std::int64_t half = options_.vocab / 2;
        std::fill(x, x + L, 0);
        std::fill(y, y + L, ignore);
        // Distinct keys from 1 … half−1 (partial Fisher–Yates), values from half … vocab−1.
        std::vector<std::int64_t> keys(std::size_t(half - 1));
        std::iota(keys.begin(), keys.end(), 1);
        for (std::int64_t i = 0; i < pairs; ++i)
          std::swap(keys[std::size_t(i)], keys[std::size_t(i + std::int64_t(g.below(std::uint64_t(half - 1 - i))))]);
        std::vector<std::int64_t> values(static_cast<std::size_t>(pairs));
        for (std::int64_t i = 0; i < pairs; ++i) {
          values[std::size_t(i)] = half + std::int64_t(g.below(std::uint64_t(options_.vocab - half)));
          x[2 * i] = keys[std::size_t(i)];
          x[2 * i + 1] = values[std::size_t(i)];
        }
        // Query slots: n of (L − 2n)/2 without replacement, weight (slot + 1)^(α − 1), α = 0.01.
        const std::int64_t slots = (L - 2 * pairs) / 2;
        std::vector<double> w(static_cast<std::size_t>(slots));
        for (std::int64_t s = 0; s < slots; ++s) w[std::size_t(s)] = std::pow(double(s + 1), 0.01 - 1.0);
        std::vector<std::int64_t> order(static_cast<std::size_t>(pairs));  // a random order of the keys
        std::iota(order.begin(), order.end(), 0);
        for (std::int64_t i = pairs - 1; i > 0; --i)
          std::swap(order[std::size_t(i)], order[std::size_t(g.below(std::uint64_t(i + 1)))]);
        for (std::int64_t i = 0; i < pairs; ++i) {
          const double total = std::accumulate(w.begin(), w.end(), 0.0);
          double u = g.uniform() * total;
          std::int64_t s = 0;
          while (s + 1 < slots && (u -= w[std::size_t(s)]) >= 0) ++s;
          while (w[std::size_t(s)] == 0) --s;  // rounding at the end of the range
          w[std::size_t(s)] = 0;
          const std::int64_t pos = 2 * pairs + 2 * s, which = order[std::size_t(i)];
          x[pos] = keys[std::size_t(which)];
          x[pos + 1] = values[std::size_t(which)];
          y[pos] = values[std::size_t(which)];
        }
        for (std::int64_t t = 2 * pairs; t < L; ++t)
          if (y[t] != ignore) out.asked.push_back(t);
        break;
      }
    }
  }
  return out;
}

}  // namespace kalmanscan::kla::nn
