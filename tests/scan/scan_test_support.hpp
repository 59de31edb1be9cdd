// Shared pieces of the scan-engine tests: deterministic random elements for every operator,
// the order-trap operator, the reference scan (a plain loop, independent of the engine's
// detail::scan_range) and the comparison of prefix tensors (bit for bit for exact operators,
// normwise for floating ones, DESIGN.md §6).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "kalmanscan/scan/gpu_instantiations.hpp"
#include "kalmanscan/scan/operator.hpp"
#include "kalmanscan/scan/scan.hpp"

namespace kalmanscan::scan::test {

// ---------------------------------------------------------------------------------------------
// Deterministic randomness: every element is a pure function of (seed, sequence, index), so
// functor leaves can be re-evaluated (the threaded backend reads chunks twice) and array and
// functor runs see the same data.

/// splitmix64 finaliser.
inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
/// A stream of hashes for element (b, i) under `seed`; draw k is hash(seed, b, i, k).
struct Draws {
  std::uint64_t state;
  Draws(std::uint64_t seed, std::size_t b, std::size_t i) : state(mix(mix(mix(seed) ^ b) ^ i)) {}
  std::uint64_t bits() { return state = mix(state); }
  /// Uniform in [0, 1).
  double unit() { return double(bits() >> 11) * 0x1.0p-53; }
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * unit(); }
};

// ---------------------------------------------------------------------------------------------
// The order trap: an element is the time interval [first, last] of sequence `seq` that it
// aggregates. Combining is only legal for neighbours in time order (earlier.last + 1 ==
// later.first, same sequence); anything else poisons the result (ok = false), so a backend
// that swaps arguments, skips or repeats an element, or mixes sequences is caught.

struct OrderTrap {
  std::int64_t seq, first, last;
  bool ok, empty;  ///< empty: the identity (no interval)
};

struct OrderTrapOp {
  using element = OrderTrap;
  KS_HD static element identity() { return {0, 0, -1, true, true}; }
  KS_HD static element combine(const element& earlier, const element& later) {
    if (earlier.empty) return later;
    if (later.empty) return earlier;
    const bool adjacent = earlier.seq == later.seq && earlier.last + 1 == later.first;
    return {earlier.seq, earlier.first, later.last, earlier.ok && later.ok && adjacent, false};
  }
};

// ---------------------------------------------------------------------------------------------
// Per-operator test traits:
//   make(seed, b, i)          the leaf x_i of sequence b (pure)
//   carry(seed, b, n, dir)    a carry-in for sequence b of length n scanned in `dir`
//   flatten(e, out)           the `numbers` numbers compared (Möbius: scale-normalised, it is
//                             projective); exact operators' numbers are exact in a double
//   exact                     compare bit for bit (else normwise with tolerance())
//   long_run                  also run at length 10^6

/// Normwise relative error allowed between two groupings of the same combines of the
/// contractive operators below: a few hundred ulps, float and double apart. Measured worst
/// cases are noted at each operator (its tolerance keeps a margin of about 10).
template <class T>
constexpr double tolerance_for(double float_tol, double double_tol) {
  return std::is_same_v<T, float> ? float_tol : double_tol;
}

template <class Op>
struct OpTraits;

template <class T>
struct OpTraits<AffineOp<T>> {
  static constexpr const char* name = std::is_same_v<T, float> ? "AffineOp<float>" : "AffineOp<double>";
  static constexpr bool exact = false;
  static constexpr bool long_run = std::is_same_v<T, float>;
  static double tolerance() { return tolerance_for<T>(1e-4, 1e-13); }  // measured 1.5e-5, 1.3e-14
  /// |f| in [0.999, 1) with a random sign, b in [-1, 1): contractive, with cancellation, and a
  /// memory of about 2000 steps, so a chunk's carry still weighs on its last elements and
  /// regrouped products differ by rounding rather than agreeing trivially.
  static Affine<T> make(std::uint64_t seed, std::size_t b, std::size_t i) {
    Draws d(seed, b, i);
    const double f = d.uniform(0.999, 1.0) * (d.unit() < 0.5 ? -1.0 : 1.0);
    return {T(f), T(d.uniform(-1, 1))};
  }
  static Affine<T> carry(std::uint64_t seed, std::size_t b, std::size_t, Direction) { return make(~seed, b, 0); }
  static constexpr int numbers = 2;
  static void flatten(const Affine<T>& e, double* out) {
    out[0] = e.f;
    out[1] = e.b;
  }
};

template <class T>
struct OpTraits<Mobius2Op<T>> {
  static constexpr const char* name = std::is_same_v<T, float> ? "Mobius2Op<float>" : "Mobius2Op<double>";
  static constexpr bool exact = false;
  static constexpr bool long_run = std::is_same_v<T, double>;
  static double tolerance() { return tolerance_for<T>(2e-5, 1e-12); }  // measured 2.3e-6, 1.0e-13
  /// The KLA precision step [[1 + p̄φ, ā²φ], [p̄, ā²]] (DESIGN.md §4) with ā in [0.5, 1],
  /// p̄ in [0.01, 1], φ in [0, 2]: positive matrices, as in the filter.
  static Mobius2<T> make(std::uint64_t seed, std::size_t b, std::size_t i) {
    Draws d(seed, b, i);
    const double a2 = std::pow(d.uniform(0.5, 1.0), 2), p = d.uniform(0.01, 1.0), phi = d.uniform(0.0, 2.0);
    return {T(1 + p * phi), T(a2 * phi), T(p), T(a2)};
  }
  static Mobius2<T> carry(std::uint64_t seed, std::size_t b, std::size_t, Direction) { return make(~seed, b, 0); }
  /// A Möbius map is its matrix up to scale: compare m / max|entry|.
  static constexpr int numbers = 4;
  static void flatten(const Mobius2<T>& e, double* out) {
    const double big = std::max({std::abs(double(e.a)), std::abs(double(e.b)), std::abs(double(e.c)),
                                 std::abs(double(e.d))});
    const double s = big > 0 ? 1.0 / big : 1.0;
    out[0] = e.a * s;
    out[1] = e.b * s;
    out[2] = e.c * s;
    out[3] = e.d * s;
  }
};

template <class T, int N>
struct OpTraits<AffineMapOp<T, N>> {
  static constexpr const char* name = N == 2   ? (std::is_same_v<T, float> ? "AffineMapOp<float,2>" : "AffineMapOp<double,2>")
                                      : N == 4 ? (std::is_same_v<T, float> ? "AffineMapOp<float,4>" : "AffineMapOp<double,4>")
                                               : "AffineMapOp<T,N>";
  static constexpr bool exact = false;
  static constexpr bool long_run = false;
  static double tolerance() { return tolerance_for<T>(3e-5, 1e-13); }  // measured 2.6e-6, 7.7e-15
  /// A = c (I + S), S skew-symmetric with entries in ±0.02/N and c in [0.998, 0.9995]:
  /// a slowly decaying rotation (‖A‖₂ < 1, a memory of about 1000 steps, mixed signs);
  /// b in [-1, 1)^N.
  static AffineMap<T, N> make(std::uint64_t seed, std::size_t b, std::size_t i) {
    Draws d(seed, b, i);
    const double c = d.uniform(0.998, 0.9995);
    AffineMap<T, N> e;
    for (int r = 0; r < N; ++r) {
      e.A(r, r) = T(c);
      for (int k = r + 1; k < N; ++k) {
        const double s = d.uniform(-0.02, 0.02) / N;
        e.A(r, k) = T(c * s);
        e.A(k, r) = T(-c * s);
      }
    }
    for (int k = 0; k < N; ++k) e.b[k] = T(d.uniform(-1, 1));
    return e;
  }
  static AffineMap<T, N> carry(std::uint64_t seed, std::size_t b, std::size_t, Direction) { return make(~seed, b, 0); }
  static constexpr int numbers = N * N + N;
  static void flatten(const AffineMap<T, N>& e, double* out) {
    for (int k = 0; k < N * N; ++k) out[k] = e.A[k];
    for (int k = 0; k < N; ++k) out[N * N + k] = e.b[k];
  }
};

template <>
struct OpTraits<ModMatrix2M31Op> {
  static constexpr const char* name = "ModMatrix2M31Op";
  static constexpr bool exact = true;
  static constexpr bool long_run = true;
  static double tolerance() { return 0; }
  static ModMatrix2M31Op::element make(std::uint64_t seed, std::size_t b, std::size_t i) {
    Draws d(seed, b, i);
    auto r = [&] { return std::uint32_t(d.bits() % mersenne31); };
    return {r(), r(), r(), r()};
  }
  static ModMatrix2M31Op::element carry(std::uint64_t seed, std::size_t b, std::size_t, Direction) {
    return make(~seed, b, 0);
  }
  static constexpr int numbers = 4;
  static void flatten(const ModMatrix2M31Op::element& e, double* out) {
    out[0] = e.a;
    out[1] = e.b;
    out[2] = e.c;
    out[3] = e.d;
  }
};

template <>
struct OpTraits<AffineMod32Op> {
  static constexpr const char* name = "AffineMod32Op";
  static constexpr bool exact = true;
  static constexpr bool long_run = false;
  static double tolerance() { return 0; }
  /// `a` odd: a unit modulo 2^32, so long products never collapse to 0 (which would hide
  /// ordering errors in the prefix of a long sequence).
  static AffineMod32Op::element make(std::uint64_t seed, std::size_t b, std::size_t i) {
    Draws d(seed, b, i);
    return {std::uint32_t(d.bits()) | 1u, std::uint32_t(d.bits())};
  }
  static AffineMod32Op::element carry(std::uint64_t seed, std::size_t b, std::size_t, Direction) {
    return make(~seed, b, 0);
  }
  static constexpr int numbers = 2;
  static void flatten(const AffineMod32Op::element& e, double* out) {
    out[0] = e.a;
    out[1] = e.b;
  }
};

template <>
struct OpTraits<OrderTrapOp> {
  static constexpr const char* name = "OrderTrapOp";
  static constexpr bool exact = true;
  static constexpr bool long_run = true;
  static double tolerance() { return 0; }
  static OrderTrap make(std::uint64_t, std::size_t b, std::size_t i) {
    return {std::int64_t(b), std::int64_t(i), std::int64_t(i), true, false};
  }
  /// The aggregate of three imaginary elements before x_0 (forward) or after x_{n-1} (reverse).
  static OrderTrap carry(std::uint64_t, std::size_t b, std::size_t n, Direction dir) {
    const std::int64_t first = dir == Direction::forward ? -3 : std::int64_t(n);
    return {std::int64_t(b), first, first + 2, true, false};
  }
  static constexpr int numbers = 5;
  static void flatten(const OrderTrap& e, double* out) {
    out[0] = double(e.seq);
    out[1] = double(e.first);
    out[2] = double(e.last);
    out[3] = e.ok;
    out[4] = e.empty;
  }
};

/// Typed-test names from OpTraits<Op>::name ("AffineMapOp<float,2>" → "AffineMapOp_float_2_").
struct OperatorNames {
  template <class Op>
  static std::string GetName(int) {
    std::string s = OpTraits<Op>::name;
    for (char& c : s)
      if (c == '<' || c == '>' || c == ',') c = '_';
    return s;
  }
};

// ---------------------------------------------------------------------------------------------
// The reference: a plain loop over each sequence, written here and not taken from the engine.
// `offsets` has batch + 1 ascending entries (sequence b is in[offsets[b] - offsets[0], …)).
// `carry_in` is empty or has one element per sequence; `carry_out` receives one per sequence.

template <class Op>
void reference_loop(const std::vector<std::size_t>& offsets, const std::vector<element_t<Op>>& in, Direction dir,
                    const std::vector<element_t<Op>>& carry_in, std::vector<element_t<Op>>& out,
                    std::vector<element_t<Op>>& carry_out) {
  using E = element_t<Op>;
  out.assign(in.size(), Op::identity());
  carry_out.assign(offsets.size() - 1, Op::identity());
  for (std::size_t b = 0; b + 1 < offsets.size(); ++b) {
    const std::size_t lo = offsets[b] - offsets[0], hi = offsets[b + 1] - offsets[0];
    bool started = !carry_in.empty();
    E acc = started ? carry_in[b] : Op::identity();
    if (dir == Direction::forward) {
      for (std::size_t i = lo; i < hi; ++i) {
        acc = started ? Op::combine(acc, in[i]) : in[i];  // prefix: history on the left
        started = true;
        out[i] = acc;
      }
    } else {
      for (std::size_t i = hi; i > lo; --i) {
        acc = started ? Op::combine(in[i - 1], acc) : in[i - 1];  // suffix: future on the right
        started = true;
        out[i - 1] = acc;
      }
    }
    carry_out[b] = acc;
  }
}

/// The reference runs float operators in double and rounds the result: a float loop's own
/// rounding can exceed a regrouped scan's by far (the product of 2²⁰ float Möbius matrices from a
/// sequential loop is 70× further from the double result than one grouped in tiles of 2048), so
/// float results are judged against the more accurate value.
template <class Op>
struct Widened {
  using type = Op;
};
template <>
struct Widened<AffineOp<float>> {
  using type = AffineOp<double>;
};
template <>
struct Widened<Mobius2Op<float>> {
  using type = Mobius2Op<double>;
};
template <int N>
struct Widened<AffineMapOp<float, N>> {
  using type = AffineMapOp<double, N>;
};

template <class T, class U>
void convert(const Affine<U>& in, Affine<T>& out) {
  out = {T(in.f), T(in.b)};
}
template <class T, class U>
void convert(const Mobius2<U>& in, Mobius2<T>& out) {
  out = {T(in.a), T(in.b), T(in.c), T(in.d)};
}
template <class T, class U, int N>
void convert(const AffineMap<U, N>& in, AffineMap<T, N>& out) {
  for (int k = 0; k < N * N; ++k) out.A.v[k] = T(in.A.v[k]);
  for (int k = 0; k < N; ++k) out.b.v[k] = T(in.b.v[k]);
}
template <class To, class From>
std::vector<To> converted(const std::vector<From>& in) {
  std::vector<To> out(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) convert(in[i], out[i]);
  return out;
}

template <class Op>
void reference_scan(const std::vector<std::size_t>& offsets, const std::vector<element_t<Op>>& in, Direction dir,
                    const std::vector<element_t<Op>>& carry_in, std::vector<element_t<Op>>& out,
                    std::vector<element_t<Op>>& carry_out) {
  using Wide = typename Widened<Op>::type;
  if constexpr (std::is_same_v<Wide, Op>) {
    reference_loop<Op>(offsets, in, dir, carry_in, out, carry_out);
  } else {
    using W = element_t<Wide>;
    std::vector<W> wide_out, wide_carry_out;
    reference_loop<Wide>(offsets, converted<W>(in), dir, converted<W>(carry_in), wide_out, wide_carry_out);
    out = converted<element_t<Op>>(wide_out);
    carry_out = converted<element_t<Op>>(wide_carry_out);
  }
}

// ---------------------------------------------------------------------------------------------
// Comparisons.

template <class Op>
std::string describe(const element_t<Op>& e) {
  double v[OpTraits<Op>::numbers];
  OpTraits<Op>::flatten(e, v);
  std::ostringstream s;
  s.precision(17);
  s << "(";
  for (int k = 0; k < OpTraits<Op>::numbers; ++k) s << (k ? ", " : "") << v[k];
  s << ")";
  return s.str();
}

/// Exact operators: equal bit for bit (first difference reported). Floating operators:
/// ‖actual − expected‖₂ / ‖expected‖₂ ≤ tolerance over the whole tensor (worst index reported).
template <class Op>
::testing::AssertionResult tensors_match(const char* what, const std::vector<element_t<Op>>& expected,
                                         const std::vector<element_t<Op>>& actual) {
  using Traits = OpTraits<Op>;
  if (expected.size() != actual.size())
    return ::testing::AssertionFailure() << what << ": " << actual.size() << " elements, expected "
                                         << expected.size();
  double e[Traits::numbers], a[Traits::numbers];
  double diff2 = 0, ref2 = 0, worst = -1;
  std::size_t worst_i = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    Traits::flatten(expected[i], e);
    Traits::flatten(actual[i], a);
    double d2 = 0;
    for (int k = 0; k < Traits::numbers; ++k) {
      const double d = a[k] - e[k];
      d2 += std::isnan(d) ? INFINITY : d * d;
      ref2 += e[k] * e[k];
    }
    if (Traits::exact && d2 != 0)
      return ::testing::AssertionFailure() << what << "[" << i << "]: expected " << describe<Op>(expected[i])
                                           << ", actual " << describe<Op>(actual[i]) << " (exact operator "
                                           << Traits::name << ": must match bit for bit)";
    diff2 += d2;
    if (d2 > worst) worst = d2, worst_i = i;
  }
  if (Traits::exact || expected.empty()) return ::testing::AssertionSuccess();
  const double err = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  if (err <= Traits::tolerance()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": normwise error " << err << " > tolerance "
                                       << Traits::tolerance() << " for " << Traits::name << "; worst at [" << worst_i
                                       << "]: expected " << describe<Op>(expected[worst_i]) << ", actual "
                                       << describe<Op>(actual[worst_i]);
}

// ---------------------------------------------------------------------------------------------
// Problems: a batch of sequences with their inputs and optional carries.

template <class Op>
struct Problem {
  using E = element_t<Op>;
  std::vector<std::size_t> offsets;  ///< batch + 1 entries; may start above 0
  bool uniform = true;               ///< pass Layout::uniform (all lengths equal) or Layout::ragged
  std::vector<E> input;
  std::vector<E> carry_in;  ///< empty or one per sequence

  Layout layout() const {
    if (!uniform) return Layout::ragged(offsets);
    const std::size_t batch = offsets.size() - 1;
    return Layout::uniform(batch, batch ? offsets[1] - offsets[0] : 0);
  }
  std::size_t batch() const { return offsets.size() - 1; }
};

/// A problem of sequences with the given lengths; `base` shifts the offsets (ragged only).
template <class Op>
Problem<Op> make_problem(std::uint64_t seed, const std::vector<std::size_t>& lengths, bool uniform, bool with_carry,
                         Direction dir, std::size_t base = 0) {
  Problem<Op> p;
  p.uniform = uniform;
  p.offsets.push_back(base);
  for (std::size_t n : lengths) p.offsets.push_back(p.offsets.back() + n);
  p.input.reserve(p.offsets.back() - base);
  for (std::size_t b = 0; b < lengths.size(); ++b)
    for (std::size_t i = 0; i < lengths[b]; ++i) p.input.push_back(OpTraits<Op>::make(seed, b, i));
  if (with_carry)
    for (std::size_t b = 0; b < lengths.size(); ++b) p.carry_in.push_back(OpTraits<Op>::carry(seed, b, lengths[b], dir));
  return p;
}

/// The backends under test: the reference, the threaded one at 2 and 3 threads (3 threads
/// on 2 cores also exercises oversubscription) and the automatic choice.
struct BackendCase {
  Backend backend;
  unsigned threads;
  const char* name;
};
inline const std::vector<BackendCase>& backend_cases() {
  static const std::vector<BackendCase> cases = {{Backend::sequential, 0, "sequential"},
                                                 {Backend::threaded, 2, "threaded(2)"},
                                                 {Backend::threaded, 3, "threaded(3)"},
                                                 {Backend::automatic, 0, "automatic"}};
  return cases;
}
inline Options options_for(const BackendCase& c, Direction dir) {
  return {.backend = c.backend, .direction = dir, .threads = c.threads};
}
inline const char* direction_name(Direction d) { return d == Direction::forward ? "forward" : "reverse"; }

}  // namespace kalmanscan::scan::test
