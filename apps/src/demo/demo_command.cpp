// `kalmanscan demo`: the main job end to end on a synthetic vehicle log (vehicle_sim.hpp):
// generate the log and its model, write both, smooth them with the same code as
// `kalmanscan smooth`, and score raw, filtered and smoothed estimates against the truth.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <Eigen/Cholesky>

#include "kalmanscan/cli/cli.hpp"
#include "kalmanscan/cli/smooth.hpp"
#include "kalmanscan/cli/vehicle_sim.hpp"
#include "kalmanscan/formats/atomic_file.hpp"
#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/formats/record_file.hpp"

namespace kalmanscan::cli {
namespace {

/// Squared-error sums of position and velocity, and NEES, over steps.
struct Score {
  double pos = 0, vel = 0, nees = 0;
  std::size_t steps = 0;
  void add(const Eigen::Vector4d& truth, const double* mean, const double* cov) {
    const Eigen::Vector4d e = truth - Eigen::Map<const Eigen::Vector4d>(mean);
    pos += e.head<2>().squaredNorm();
    vel += e.tail<2>().squaredNorm();
    // NEES = eᵀ P⁻¹ e, solved with the Cholesky factor of P.
    const Eigen::Map<const Eigen::Matrix<double, 4, 4, Eigen::RowMajor>> P(cov);
    nees += e.dot(Eigen::Matrix4d(P).llt().solve(e));
    ++steps;
  }
  double pos_rmse() const { return std::sqrt(pos / double(steps)); }
  double vel_rmse() const { return std::sqrt(vel / double(steps)); }
  double mean_nees() const { return nees / double(steps); }
};

/// A scratch directory removed with its contents on destruction.
struct ScratchDir {
  std::filesystem::path path;
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "kalmanscan-demo-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("cannot create a temporary directory");
    path = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

Runner demo_command(CLI::App& sub) {
  struct State {
    VehicleSimOptions sim;
    SmoothJob job;
    std::string write_log, write_model, output;
    bool records = false;
  };
  auto st = std::make_shared<State>();
  sub.footer(
      "Generate a synthetic vehicle log (2-D constant velocity; 1 Hz GPS position fixes with dropouts and\n"
      "outages, 50 Hz odometry velocity), write it as CSV, smooth it exactly as `kalmanscan smooth` would, and\n"
      "report RMSE of the raw GPS fixes and the filtered and smoothed positions against the truth, NEES\n"
      "consistency, the backend used and the throughput.");
  sub.add_option("--steps", st->sim.steps, "steps at 50 Hz")->capture_default_str()->check(CLI::PositiveNumber);
  sub.add_option("--seed", st->sim.seed, "random seed")->capture_default_str();
  sub.add_option("--backend", st->job.backend, "auto | cpu | sequential | threaded | cuda")
      ->check(CLI::IsMember({"auto", "cpu", "sequential", "threaded", "cuda", "gpu"}))
      ->capture_default_str();
  sub.add_option("--precision", st->job.precision, "f64 | f32")->check(CLI::IsMember({"f64", "f32"}))->capture_default_str();
  sub.add_option("--chunk-steps", st->job.chunk_steps, "steps per chunk (0: automatic)")->capture_default_str();
  sub.add_option("--write-log", st->write_log, "keep the generated log in this file");
  sub.add_flag("--records", st->records, "write the log as a record file rather than CSV");
  sub.add_option("--write-model", st->write_model, "keep the model spec (JSON) in this file");
  sub.add_option("--output,-o", st->output, "write the smoothed estimates (CSV) to this file");

  return [st]() {
    const VehicleSimOptions& so = st->sim;
    ScratchDir scratch;
    SmoothJob job = st->job;
    job.model = st->write_model.empty() ? scratch.path / "vehicle.json" : std::filesystem::path(st->write_model);
    job.input = st->write_log.empty() ? scratch.path / (st->records ? "vehicle.kslog" : "vehicle.csv")
                                      : std::filesystem::path(st->write_log);
    if (!st->output.empty()) job.output = st->output;
    job.temp_dir = scratch.path;

    // Generate: model spec, log, and the truth at every step.
    const auto t0 = std::chrono::steady_clock::now();
    const proto::ModelSpec spec = VehicleSim::model_spec(so);
    {
      formats::AtomicFile model_file(job.model);
      model_file.stream() << formats::format_model_spec(spec, formats::SpecSyntax::json);
      model_file.commit();
    }
    const formats::Model model(spec, "demo model");
    VehicleSim sim(so);
    std::vector<Eigen::Vector4d> truth;
    truth.reserve(so.steps);
    double raw_pos = 0, raw_vel = 0;  // squared-error sums of the raw fixes and odometry
    std::size_t n_pos = 0, n_vel = 0;
    {
      formats::AtomicFile log_file(job.input);
      std::unique_ptr<formats::CsvLogWriter> csv;
      std::unique_ptr<formats::RecordWriter> rec;
      if (st->records) rec = std::make_unique<formats::RecordWriter>(log_file.stream(), proto::RecordFileHeader::LOG, "kalmanscan demo");
      else csv = std::make_unique<formats::CsvLogWriter>(log_file.stream(), model);
      std::vector<proto::LogRecord> rows;
      Eigen::Vector4d x;
      while (sim.next(rows, x)) {
        truth.push_back(x);
        for (const auto& r : rows) {
          if (csv) csv->write(r);
          else rec->write(r);
          const int o = r.sensor() == "gps" ? 0 : 2;
          if (std::isnan(r.values(0))) continue;
          (o == 0 ? raw_pos : raw_vel) += std::pow(r.values(0) - x[o], 2) + std::pow(r.values(1) - x[o + 1], 2);
          ++(o == 0 ? n_pos : n_vel);
        }
      }
      log_file.commit();
    }
    const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // Smooth, scoring filtered and smoothed estimates as chunks finish.
    Score filtered, smoothed;
    job.observe = [&](const filters::Measurements&, const filters::Trajectory& tr) {
      for (std::size_t t = 0; t < tr.steps; ++t) {
        const Eigen::Vector4d& x = truth[tr.first_step + t];
        filtered.add(x, tr.filtered_mean.data() + 4 * t, tr.filtered_cov.data() + 16 * t);
        smoothed.add(x, tr.smoothed_mean.data() + 4 * t, tr.smoothed_cov.data() + 16 * t);
      }
    };
    const proto::SmoothSummary summary = run_smooth(job);

    const auto bytes = std::filesystem::file_size(job.input);
    std::printf("kalmanscan demo: %zu steps (%.0f s of driving at %.0f Hz), seed %llu\n", so.steps, double(so.steps) / so.rate_hz,
                so.rate_hz, (unsigned long long)so.seed);
    std::printf("  log: %llu rows, %.1f MB %s; gps fixes %zu, lost %zu (dropouts and %.0f s outages every %.0f s)\n",
                (unsigned long long)summary.rows(), double(bytes) / 1e6, st->records ? "record file" : "CSV",
                sim.gps_fixes(), sim.gps_lost(), so.outage_s, so.outage_period_s);
    std::printf("  backend %s, %s; generated in %.2f s; read %.2f s (%.0f MB/s), compute %.2f s, total %.2f s: %.3g steps/s\n",
                summary.backend().c_str(), summary.precision().c_str(), gen_s, summary.timing().read_s(),
                summary.timing().read_s() > 0 ? double(bytes) / 1e6 / summary.timing().read_s() : 0.0,
                summary.timing().compute_s(), summary.timing().total_s(), summary.steps_per_second());
    std::printf("  position RMSE [m]:   raw gps %.3f   filtered %.3f   smoothed %.3f\n", std::sqrt(raw_pos / double(n_pos)),
                filtered.pos_rmse(), smoothed.pos_rmse());
    std::printf("  velocity RMSE [m/s]: raw odo %.3f   filtered %.3f   smoothed %.3f\n", std::sqrt(raw_vel / double(n_vel)),
                filtered.vel_rmse(), smoothed.vel_rmse());
    std::printf("  NEES (expected 4 when consistent): filtered %.3f   smoothed %.3f\n", filtered.mean_nees(), smoothed.mean_nees());
    std::printf("  NIS/dof %.4f, 95%% band [%.4f, %.4f]: %s; log-likelihood %.6g\n", summary.nis().normalized(),
                summary.nis().lower95(), summary.nis().upper95(), summary.nis().consistent() ? "consistent" : "NOT consistent",
                summary.log_likelihood());
    if (!st->write_log.empty()) std::printf("  log kept in %s\n", st->write_log.c_str());
    return exit_ok;
  };
}

}  // namespace kalmanscan::cli
