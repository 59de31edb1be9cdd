// Should the service's micro-batches go through the scan engine? (issue 7, docs/BENCHMARKS.md)
//
//   batch_path_bench [--streams S] [--rounds R]
//
// A micro-batch holds, per stream, a short run of k pending updates (net_bench's "upd/batch"
// column divided by the stream count: about 1 at 1 000 streams). Both paths below take S streams
// (state 4, measurement 2: 2-D constant velocity, dt = 1/128 s, position measured) through R
// batches of k updates each, from and to each stream's filtered posterior:
//  - steps:  the per-stream sequential filter the service runs, the filters library's step
//            functions (kalman_steps.hpp) on inline capacity-6 matrices: predict, innovate,
//            Joseph update (NIS included);
//  - engine: one scan per batch of the Särkkä & García-Fernández filtering elements
//            (filters/parallel_elements.hpp) over all streams at once (Layout::uniform(S, k)),
//            each stream's posterior as its carry-in and its carry-out the new posterior; the
//            sequential and the threaded CPU backends. NIS is not computed on this path (it would
//            need the innovation of every step on top), which favours it.
// Reported: updates per second of each path, the ratio to the steps path, and the largest
// normwise difference of the final means and covariances between the paths (they compute the
// same posteriors).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <Eigen/Cholesky>

#include "kalmanscan/filters/kalman_steps.hpp"
#include "kalmanscan/filters/model.hpp"
#include "kalmanscan/filters/parallel_elements.hpp"
#include "kalmanscan/scan/scan.hpp"

using namespace kalmanscan;

namespace {

constexpr int N = 4, M = 2;
using Steps = filters::steps::Types<double, 6, 6>;  // the service's inline capacity
namespace el = filters::elements;

/// The measurement of stream s at its step j: a target circling at 1 rad/s with a wobble.
Eigen::Vector2d measurement(std::size_t s, std::size_t j) {
  const double t = static_cast<double>(j) / 128.0;
  return {std::cos(t) + 0.1 * std::sin(37.0 * t + double(s)), std::sin(t) + 0.1 * std::cos(53.0 * t + double(s))};
}

struct Problem {
  Eigen::Matrix4d F, Q, P0;
  Eigen::Matrix<double, 2, 4> H;
  Eigen::Matrix2d R;
  Eigen::Vector4d m0;
};

Problem cv_problem() {
  filters::Model model;
  model.motion = filters::MotionModel{filters::MotionKind::constant_velocity, 2, 0.5};
  const filters::Transition tr = model.transition_at(0, 1.0 / 128.0);
  Problem p;
  p.F = tr.F;
  p.Q = tr.Q;
  p.H.setZero();
  p.H(0, 0) = p.H(1, 1) = 1;
  p.R = Eigen::Matrix2d::Identity() * 0.1;
  p.m0.setZero();
  p.P0 = Eigen::Matrix4d::Identity() * 10;
  return p;
}

struct Result {
  double updates_per_s;
  std::vector<Eigen::Vector4d> m;
  std::vector<Eigen::Matrix4d> P;
};

Result run_steps(const Problem& p, std::size_t S, std::size_t k, std::size_t rounds) {
  std::vector<Steps::StateVec> m(S, Steps::StateVec(p.m0));
  std::vector<Steps::StateMat> P(S, Steps::StateMat(p.P0));
  const Steps::ObsMat H = p.H;
  const Steps::MeasMat R = p.R;
  const Eigen::MatrixXd B;
  const Eigen::VectorXd u, c;
  filters::steps::Workspace<double, 6, 6> ws;
  Steps::StateVec m_pred;
  Steps::StateMat P_pred;
  Steps::MeasVec y(M);
  double nis_sum = 0;  // kept live so the NIS is not optimised away
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t r = 0; r < rounds; ++r)
    for (std::size_t s = 0; s < S; ++s)
      for (std::size_t i = 0; i < k; ++i) {
        filters::steps::predict(p.F, p.Q, B, u, c, m[s], P[s], m_pred, P_pred, ws);
        y = measurement(s, r * k + i);
        if (filters::steps::innovate(m_pred, P_pred, H, y, R, ws) != filters::steps::InnovationStatus::ok) std::abort();
        nis_sum += ws.nis;
        filters::steps::joseph_update(m_pred, P_pred, H, R, ws, m[s], P[s]);
      }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!std::isfinite(nis_sum)) std::abort();
  Result out{double(S * k * rounds) / secs, {}, {}};
  for (std::size_t s = 0; s < S; ++s) out.m.push_back(m[s]), out.P.push_back(P[s]);
  return out;
}

template <class A, class B>
void to_small(const A& a, B& b) {
  for (int i = 0; i < int(a.rows()); ++i)
    for (int j = 0; j < int(a.cols()); ++j) b(i, j) = a(i, j);
}

Result run_engine(const Problem& p, std::size_t S, std::size_t k, std::size_t rounds, scan::Backend backend) {
  using Op = el::FilterOp<double, N>;
  using Element = Op::element;
  el::Mat<double, N, N> F, Q;
  to_small(p.F, F);
  to_small(p.Q, Q);
  // The measurement information Ψ = Hᵀ R⁻¹ H and the map z ↦ ψ = Hᵀ R⁻¹ z (constant H, R).
  const Eigen::Matrix<double, 4, 2> HtRinv = p.R.llt().solve(p.H).transpose();  // Hᵀ R⁻¹ (R symmetric), solved once
  el::StepInformation<double, N> info;
  to_small(Eigen::Matrix4d(HtRinv * p.H), info.Psi);
  const auto zero_c = el::Vec<double, N>::zero();
  el::Vec<double, N> m0;
  el::Mat<double, N, N> P0;
  to_small(p.m0, m0);
  to_small(p.P0, P0);
  std::vector<Element> carry_in(S, el::posterior_element(m0, P0)), carry_out(S);
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t r = 0; r < rounds; ++r) {
    scan::scan<Op>(
        scan::Layout::uniform(S, k),
        [&](std::size_t s, std::size_t i) {
          el::StepInformation<double, N> z = info;
          to_small(Eigen::Vector4d(HtRinv * measurement(s, r * k + i)), z.psi);
          return el::filter_element(F, Q, zero_c, z);
        },
        [](std::size_t, std::size_t, const Element&) {},  // the posteriors of the batch's last steps are the carries
        {.backend = backend, .threads = 2}, {carry_in, carry_out});
    for (std::size_t s = 0; s < S; ++s) {
      if (carry_out[s].failed) std::abort();
      carry_in[s] = el::posterior_element(carry_out[s].b, carry_out[s].C);
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Result out{double(S * k * rounds) / secs, {}, {}};
  for (std::size_t s = 0; s < S; ++s) {
    Eigen::Vector4d m;
    Eigen::Matrix4d P;
    for (int i = 0; i < N; ++i) {
      m[i] = carry_in[s].b[i];
      for (int j = 0; j < N; ++j) P(i, j) = carry_in[s].C(i, j);
    }
    out.m.push_back(m);
    out.P.push_back(P);
  }
  return out;
}

double max_rel_diff(const Result& a, const Result& b) {
  double worst = 0;
  for (std::size_t s = 0; s < a.m.size(); ++s) {
    worst = std::max(worst, (a.m[s] - b.m[s]).norm() / std::max(b.m[s].norm(), 1e-300));
    worst = std::max(worst, (a.P[s] - b.P[s]).norm() / std::max(b.P[s].norm(), 1e-300));
  }
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t S = 1000, rounds = 200;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--streams" && i + 1 < argc) S = std::strtoul(argv[++i], nullptr, 10);
    else if (a == "--rounds" && i + 1 < argc) rounds = std::strtoul(argv[++i], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: batch_path_bench [--streams S] [--rounds R]\n");
      return 2;
    }
  }
  if (S == 0 || rounds == 0) {
    std::fprintf(stderr, "batch_path_bench: --streams and --rounds must be positive\n");
    return 2;
  }
  const Problem p = cv_problem();
  std::printf("%zu streams, %zu batches; state 4, measurement 2\n", S, rounds);
  std::printf("%-4s %-22s %14s %10s %14s\n", "k", "path", "updates/s", "vs steps", "max rel diff");
  for (std::size_t k : {1, 2, 4, 16}) {
    const Result steps = run_steps(p, S, k, rounds);
    std::printf("%-4zu %-22s %14.0f %9.2fx %14s\n", k, "steps (service)", steps.updates_per_s, 1.0, "-");
    for (auto [backend, name] : {std::pair{scan::Backend::sequential, "engine sequential"},
                                 std::pair{scan::Backend::threaded, "engine threaded (2)"}}) {
      const Result e = run_engine(p, S, k, rounds, backend);
      std::printf("%-4zu %-22s %14.0f %9.2fx %14.2e\n", k, name, e.updates_per_s, e.updates_per_s / steps.updates_per_s,
                  max_rel_diff(e, steps));
    }
    std::fflush(stdout);
  }
  return 0;
}
