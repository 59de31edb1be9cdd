// `kalmanscan smooth`: options → SmoothJob → run_smooth → summary on stderr (and as JSON).
#include <fstream>
#include <iostream>
#include <memory>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "kalmanscan/cli/cli.hpp"
#include "kalmanscan/cli/smooth.hpp"
#include "kalmanscan/formats/atomic_file.hpp"

namespace kalmanscan::cli {

Runner smooth_command(CLI::App& sub) {
  struct State {
    SmoothJob job;
    std::string output, covariance = "diagonal", format = "csv", summary_json;
    bool quiet = false;
  };
  auto st = std::make_shared<State>();
  sub.footer(
      "Filter and smooth a sensor log with a linear-Gaussian model.\n"
      "The log is CSV (a header names the columns; an empty cell or nan is missing) or a kalmanscan record\n"
      "file; logs longer than --chunk-steps are processed in chunks, spilling filtered results to a\n"
      "temporary file, so memory stays bounded. Estimates go to --output (or stdout), a summary to stderr:\n"
      "one row (or record) per step with the smoothed mean and uncertainty (filtered with --filter-only;\n"
      "both with --with-filtered).");
  sub.add_option("--model,-m", st->job.model, "model spec (.json, or protobuf text format)")->required()->check(CLI::ExistingFile);
  sub.add_option("--input,-i", st->job.input, "log: CSV or record file")->required()->check(CLI::ExistingFile);
  sub.add_option("--output,-o", st->output, "estimates file (written under a temporary name, renamed when complete); default stdout");
  auto* filter_only = sub.add_flag("--filter-only", st->job.filter_only, "write filtered estimates; skip the smoother");
  sub.add_flag("--with-filtered", st->job.with_filtered,
               "also write each step's filtered estimate beside the smoothed one (CSV columns prefixed filt_, "
               "record fields filtered_*)")
      ->excludes(filter_only);
  sub.add_option("--backend", st->job.backend, "auto | cpu | sequential | threaded | cuda")
      ->check(CLI::IsMember({"auto", "cpu", "sequential", "threaded", "cuda", "gpu"}))
      ->capture_default_str();
  sub.add_option("--precision", st->job.precision, "arithmetic of the filter: f64 | f32")
      ->check(CLI::IsMember({"f64", "f32"}))
      ->capture_default_str();
  sub.add_option("--covariance", st->covariance, "uncertainty in the output: full | diagonal | none")
      ->check(CLI::IsMember({"full", "diagonal", "none"}))
      ->capture_default_str();
  sub.add_option("--format", st->format, "output format: csv | records")->check(CLI::IsMember({"csv", "records"}))->capture_default_str();
  sub.add_option("--summary-json", st->summary_json, "also write the summary as JSON to this file");
  sub.add_option("--chunk-steps", st->job.chunk_steps, "steps per chunk (default: as many as fit in 256 MiB)")
      ->check(CLI::NonNegativeNumber);
  sub.add_option("--temp-dir", st->job.temp_dir, "directory for spill files (default: the system's temporary directory)");
  sub.add_flag("--quiet,-q", st->quiet, "no summary or progress on stderr");

  return [st]() {
    SmoothJob job = st->job;
    job.covariance = formats::parse_covariance_output(st->covariance);
    job.format = st->format == "records" ? OutputFormat::records : OutputFormat::csv;
    if (!st->output.empty() && st->output != "-") job.output = st->output;
    else {
      if (job.format == OutputFormat::records && ::isatty(STDOUT_FILENO))
        throw std::runtime_error("refusing to write a binary record file to a terminal: give --output FILE");
      job.output_stream = &std::cout;
    }
    job.progress = !st->quiet && ::isatty(STDERR_FILENO);
    const proto::SmoothSummary summary = run_smooth(job);
    if (!st->quiet) std::cerr << format_summary(summary);
    if (!st->summary_json.empty()) {
      formats::AtomicFile json(st->summary_json);
      json.stream() << summary_json(summary);
      json.commit();
    }
    return exit_ok;
  };
}

}  // namespace kalmanscan::cli
