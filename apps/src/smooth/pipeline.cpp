// run_smooth: the chunked forward/backward pass (see kalmanscan/cli/smooth.hpp). This is the one
// file that calls into the filters (filter_chunk, smooth_chunk, first_smoothed).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "filters_bridge.hpp"
#include "kalmanscan/cli/smooth.hpp"
#include "kalmanscan/config.hpp"
#include "kalmanscan/filters/smooth.hpp"
#include "kalmanscan/formats/atomic_file.hpp"
#include "kalmanscan/formats/log_reader.hpp"
#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/scan/gpu.hpp"
#include "kalmanscan/scan/scan.hpp"
#include "progress.hpp"
#include "spill.hpp"

namespace kalmanscan::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

filters::Precision parse_precision(const std::string& p) {
  if (p == "f64") return filters::Precision::float64;
  if (p == "f32") return filters::Precision::float32;
  return filters::parse_precision(p);
}

const char* backend_name(filters::Backend b) {
  switch (b) {
    case filters::Backend::sequential: return "sequential";
    case filters::Backend::threaded: return "threaded";
    case filters::Backend::cuda: return "cuda";
    default: return "auto";
  }
}

/// The backend for a chunk of `steps`: automatic stays sequential below the engine's measured
/// crossover and goes threaded above it (the same rule the filters apply), so that the summary
/// can say which ran.
filters::Backend resolve_backend(filters::Backend requested, std::size_t steps) {
  if (requested != filters::Backend::automatic) return requested;
  return steps >= scan::threaded_crossover ? filters::Backend::threaded : filters::Backend::sequential;
}

/// Upper quantile of χ²(k) by the Wilson–Hilferty approximation, χ²_p(k) ≈ k (1 − 2/(9k) + z_p √(2/(9k)))³
/// (accurate to a few parts in a thousand for k ≥ 10, used here for the time-averaged NIS band).
double chi2_quantile(double k, double z) {
  const double a = 2.0 / (9.0 * k);
  return k * std::pow(1.0 - a + z * std::sqrt(a), 3);
}

struct NisTotals {
  double sum = 0, dof = 0;
  std::uint64_t steps = 0;
  void add(const filters::Trajectory& tr) {
    for (std::size_t t = 0; t < tr.steps; ++t)
      if (tr.nis_dof[t] > 0) sum += tr.nis[t], dof += tr.nis_dof[t], ++steps;
  }
  proto::SmoothSummary::Nis summary() const {
    proto::SmoothSummary::Nis s;
    s.set_steps_measured(steps);
    if (steps == 0) return s;
    s.set_mean(sum / double(steps));
    s.set_mean_dof(dof / double(steps));
    s.set_normalized(sum / dof);
    s.set_lower95(chi2_quantile(dof, -1.959964) / dof);
    s.set_upper95(chi2_quantile(dof, 1.959964) / dof);
    s.set_consistent(s.normalized() >= s.lower95() && s.normalized() <= s.upper95());
    return s;
  }
};

/// The process's peak resident set in bytes (VmHWM in /proc/self/status: per address space, so a
/// program started by a large parent reports its own peak), or 0 where the kernel does not say.
std::uint64_t peak_resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  unsigned long long kib = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmHWM: %llu kB", &kib) == 1) break;
  std::fclose(f);
  return kib * 1024;
}

std::size_t bytes_per_step(const formats::Model& m) {
  const std::size_t n = m.state_dim();
  // step block + measurements + filtered and smoothed means and covariances + diagnostics
  return 8 * (3 * (m.measurement_dim() + m.control_dim() + 2) + 2 * (n + n * n) + 2) + 64;
}

/// Writes the estimates of a chunk (smoothed, or filtered when filter_only; the filtered ones
/// are passed beside for a writer made with_filtered), calling `every_slice` after each 65536
/// steps (to move buffered text on, keeping memory small).
template <class Flush>
void write_chunk(formats::EstimateWriter& writer, const filters::Measurements& meas, const filters::Trajectory& tr,
                 bool smoothed, Flush&& every_slice) {
  const std::size_t n = static_cast<std::size_t>(tr.n);
  const auto& mean = smoothed ? tr.smoothed_mean : tr.filtered_mean;
  const auto& cov = smoothed ? tr.smoothed_cov : tr.filtered_cov;
  for (std::size_t t = 0; t < tr.steps; ++t) {
    writer.write({tr.first_step + t, meas.times.empty() ? double(tr.first_step + t) : meas.times[t], mean.data() + t * n,
                  cov.data() + t * n * n, tr.nis[t], tr.nis_dof[t], tr.filtered_mean.data() + t * n,
                  tr.filtered_cov.data() + t * n * n});
    if ((t + 1) % 65536 == 0) every_slice();
  }
}

}  // namespace

proto::SmoothSummary run_smooth(const SmoothJob& job) {
  const auto t_start = Clock::now();
  double read_s = 0, compute_s = 0, write_s = 0;
  proto::SmoothSummary summary;

  if (job.filter_only && job.with_filtered)
    throw std::invalid_argument("--with-filtered writes the filtered estimates beside the smoothed ones; "
                                "with --filter-only there are no smoothed ones (use one of the two)");
  const formats::Model model(formats::read_model_spec(job.model), job.model.string());
  const filters::Model fmodel = to_filters_model(model);
  const filters::Backend requested = filters::parse_backend(job.backend);
  if (requested == filters::Backend::cuda && scan::gpu::device_count() == 0)
    throw std::runtime_error(KALMANSCAN_HAS_CUDA ? "--backend cuda: no CUDA device found"
                                                 : "--backend cuda: this kalmanscan was built without CUDA");
  filters::SmoothOptions options;
  options.precision = parse_precision(job.precision);
  options.filter_only = job.filter_only;
  const std::size_t chunk_steps =
      job.chunk_steps ? job.chunk_steps : std::max<std::size_t>(4096, job.chunk_memory_bytes / bytes_per_step(model));

  auto t0 = Clock::now();
  auto reader = formats::open_log(job.input, model);
  read_s += seconds_since(t0);

  // Output: a file written under a temporary name, a stream, or nothing.
  std::optional<formats::AtomicFile> file;
  std::ostream* dest = job.output_stream;
  if (job.output) dest = &file.emplace(*job.output).stream();
  std::ostream sink(dest ? dest->rdbuf() : nullptr);
  std::unique_ptr<formats::EstimateWriter> writer;
  if (dest) {
    const auto kind = job.filter_only ? proto::EstimateRecord::FILTERED : proto::EstimateRecord::SMOOTHED;
    writer = job.format == OutputFormat::csv
                 ? formats::csv_estimate_writer(sink, model.state_names(), job.covariance, job.with_filtered)
                 : formats::record_estimate_writer(sink, model.state_dim(), job.covariance, kind, "kalmanscan smooth",
                                                   job.with_filtered);
  }

  Progress progress(job.progress && reader->total_bytes() > (std::uint64_t(8) << 20));  // long inputs only
  const double total_bytes = std::max<double>(1.0, double(reader->total_bytes()));
  struct Chunk {
    filters::Measurements meas;
    filters::Trajectory tr;
  };
  std::optional<Chunk> newest;  // the last chunk read stays in memory; earlier ones are spilled
  std::unique_ptr<SpillFile> spill;
  std::optional<filters::StepState> carry;
  formats::StepBlock block;
  NisTotals nis;
  double log_likelihood = 0;
  std::size_t step0 = 0, chunks = 0;
  filters::Backend used = requested;

  // Forward pass: filter chunk after chunk, each from the previous one's carry.
  for (;;) {
    t0 = Clock::now();
    const bool got = reader->read(block, chunk_steps);
    read_s += seconds_since(t0);
    if (!got) break;
    progress.update("filtering", double(reader->stats().bytes) / total_bytes, std::to_string(step0 + block.size()) + " steps");
    t0 = Clock::now();
    filters::Measurements meas = to_measurements(block, step0, model);
    options.backend = used = resolve_backend(requested, block.size());
    filters::FilteredChunk f;
    try {
      f = filters::filter_chunk(fmodel, meas, carry, options);
    } catch (const filters::Error& e) {
      throw std::runtime_error(job.input.string() + ": filtering the steps from line " + std::to_string(block.line.front()) +
                               " on (global steps " + std::to_string(step0) + " to " +
                               std::to_string(step0 + block.size() - 1) + "): " + e.what());
    }
    compute_s += seconds_since(t0);
    carry = f.carry_out;
    log_likelihood += f.trajectory.log_likelihood;
    nis.add(f.trajectory);
    step0 += block.size();
    ++chunks;
    t0 = Clock::now();
    if (job.filter_only) {
      if (job.observe) job.observe(meas, f.trajectory);
      if (writer) write_chunk(*writer, meas, f.trajectory, false, [] {});
    } else {
      if (newest) {
        if (!spill) spill = std::make_unique<SpillFile>(job.temp_dir);
        spill->append(newest->meas, newest->tr);
      }
      newest = Chunk{std::move(meas), std::move(f.trajectory)};
    }
    write_s += seconds_since(t0);
  }

  // Backward pass: smooth from the last chunk to the first, each from the smoothed state after
  // it. Outputs of several chunks come out last-first: each is written as one contiguous part
  // of an unnamed file, and the parts are copied to the output in time order at the end.
  if (!job.filter_only && newest) {
    std::FILE* parts = nullptr;
    std::vector<std::pair<long long, long long>> ranges(chunks);
    std::ostringstream part;
    auto flush_part = [&] {
      const std::string bytes = std::move(part).str();
      part.str({});
      if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), parts) != bytes.size())
        throw std::runtime_error("writing a temporary output part failed (disk full?)");
    };
    if (chunks > 1 && writer) {
      parts = open_unnamed_file(job.temp_dir);
      sink.rdbuf(part.rdbuf());
    }
    std::optional<filters::StepState> after;
    Chunk cur;
    try {
      for (std::size_t c = chunks; c-- > 0;) {
        t0 = Clock::now();
        if (c + 1 == chunks) cur = std::move(*newest);
        else spill->read(c, cur.meas, cur.tr);
        write_s += seconds_since(t0);
        progress.update("smoothing", double(chunks - c) / double(chunks), "chunk " + std::to_string(chunks - c) + "/" + std::to_string(chunks));
        t0 = Clock::now();
        options.backend = resolve_backend(requested, cur.tr.steps);
        filters::smooth_chunk(fmodel, cur.meas, cur.tr, after, options);
        after = filters::first_smoothed(cur.meas, cur.tr);
        compute_s += seconds_since(t0);
        if (job.observe) job.observe(cur.meas, cur.tr);
        if (!writer) continue;
        t0 = Clock::now();
        if (parts) {
          ranges[c].first = ::ftello(parts);
          write_chunk(*writer, cur.meas, cur.tr, true, flush_part);
          flush_part();
          ranges[c].second = ::ftello(parts) - ranges[c].first;
        } else {
          write_chunk(*writer, cur.meas, cur.tr, true, [] {});
        }
        write_s += seconds_since(t0);
      }
      if (parts) {
        t0 = Clock::now();
        sink.rdbuf(dest->rdbuf());
        std::vector<char> buf(std::size_t(1) << 20);
        for (const auto& [offset, length] : ranges) {
          if (::fseeko(parts, offset, SEEK_SET) != 0) throw std::runtime_error("seeking a temporary output part failed");
          for (long long left = length; left > 0;) {
            const std::size_t want = static_cast<std::size_t>(std::min<long long>(left, static_cast<long long>(buf.size())));
            if (std::fread(buf.data(), 1, want, parts) != want) throw std::runtime_error("reading a temporary output part failed");
            dest->write(buf.data(), static_cast<std::streamsize>(want));
            left -= static_cast<long long>(want);
          }
        }
        write_s += seconds_since(t0);
      }
    } catch (...) {
      if (parts) std::fclose(parts);
      throw;
    }
    if (parts) std::fclose(parts);
  }
  progress.finish();

  t0 = Clock::now();
  if (dest && !*dest) throw std::runtime_error("writing the output failed");
  if (file) file->commit();
  else if (dest) dest->flush();
  write_s += seconds_since(t0);

  const auto& st = reader->stats();
  summary.set_model(job.model.string());
  summary.set_input(job.input.string());
  summary.set_output(job.output ? job.output->string() : (dest ? "-" : ""));
  summary.set_backend(backend_name(used));
  summary.set_precision(options.precision == filters::Precision::float32 ? "float32" : "float64");
  summary.set_filter_only(job.filter_only);
  summary.set_rows(st.rows);
  summary.set_steps(st.steps);
  summary.set_chunks(chunks);
  summary.set_measured_values(st.values);
  summary.set_missing_values(st.missing_values);
  summary.set_log_likelihood(log_likelihood);
  *summary.mutable_nis() = nis.summary();
  auto& timing = *summary.mutable_timing();
  timing.set_read_s(read_s);
  timing.set_compute_s(compute_s);
  timing.set_write_s(write_s);
  timing.set_total_s(seconds_since(t_start));
  summary.set_input_bytes(st.bytes);
  summary.set_steps_per_second(timing.total_s() > 0 ? double(st.steps) / timing.total_s() : 0.0);
  summary.set_warning(reader->warning());
  summary.set_peak_resident_bytes(peak_resident_bytes());
  return summary;
}

}  // namespace kalmanscan::cli
