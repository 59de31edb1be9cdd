// `kalmanscan send`: streams a log to a running service and prints the estimates it returns.
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include <CLI/CLI.hpp>

#include "endpoint.hpp"
#include "kalmanscan/cli/cli.hpp"
#include "kalmanscan/formats/log_reader.hpp"
#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/formats/writers.hpp"
#include "kalmanscan/net/client.hpp"
#include "kalmanscan/net/error.hpp"

namespace kalmanscan::cli {

namespace {

/// Prints one row per step: the last estimate of the wanted kind received for it (a step of
/// several records gets one estimate per record; the last is the step's final value).
class StepPrinter {
 public:
  StepPrinter(formats::EstimateWriter* writer, proto::EstimateRecord::Kind kind, std::size_t n)
      : writer_(writer), kind_(kind), n_(n) {}

  void add(const proto::EstimateRecord& e) {
    if (e.kind() != kind_) return;
    if (have_ && e.step() != pending_.step()) flush();
    pending_ = e;
    have_ = true;
  }
  void flush() {
    if (!have_) return;
    have_ = false;
    ++rows_;
    if (!writer_) return;
    cov_.assign(n_ * n_, 0.0);
    if (pending_.covariance_size() == static_cast<int>(n_ * n_))
      std::copy(pending_.covariance().begin(), pending_.covariance().end(), cov_.begin());
    else
      for (std::size_t i = 0; i < n_ && i < static_cast<std::size_t>(pending_.std_dev_size()); ++i)
        cov_[i * n_ + i] = pending_.std_dev(static_cast<int>(i)) * pending_.std_dev(static_cast<int>(i));
    writer_->write({pending_.step(), pending_.timestamp(), pending_.mean().data(), cov_.data(), pending_.nis(),
                    static_cast<int>(pending_.nis_dof())});
  }
  std::uint64_t rows() const { return rows_; }

 private:
  formats::EstimateWriter* writer_;
  proto::EstimateRecord::Kind kind_;
  std::size_t n_;
  proto::EstimateRecord pending_;
  bool have_ = false;
  std::vector<double> cov_;
  std::uint64_t rows_ = 0;
};

}  // namespace

Runner send_command(CLI::App& sub) {
  struct State {
    std::string connect = "127.0.0.1:7878", model, input, stream = "send", output, covariance = "diagonal", token_file;
    bool realtime = false, server_model = false, quiet = false;
    double speed = 1.0;
    unsigned lag = 0, window = 1024;
  };
  auto st = std::make_shared<State>();
  sub.description(
      "Stream a log (CSV or record file) to a running `kalmanscan serve` and print the estimates as CSV, one row\n"
      "per step (the step's final estimate). As fast as the window allows, or in real time with --realtime.");
  sub.add_option("--connect,-c", st->connect, "server HOST:PORT")->capture_default_str();
  sub.add_option("--model,-m", st->model, "model spec of the log (sent as the stream's model)")
      ->required()
      ->check(CLI::ExistingFile);
  sub.add_option("--input,-i", st->input, "log: CSV or record file")->required()->check(CLI::ExistingFile);
  sub.add_option("--stream,-s", st->stream, "stream name")->capture_default_str();
  sub.add_flag("--server-model", st->server_model, "use the server's default model instead of sending --model");
  sub.add_flag("--realtime", st->realtime, "pace records by their timestamps");
  sub.add_option("--speed", st->speed, "with --realtime: time-lapse factor")->check(CLI::PositiveNumber)->capture_default_str();
  sub.add_option("--lag", st->lag, "print fixed-lag smoothed estimates with this lag (steps) instead of filtered ones");
  sub.add_option("--window", st->window, "measurements in flight at most")->check(CLI::PositiveNumber)->capture_default_str();
  sub.add_option("--covariance", st->covariance, "uncertainty in the output: full | diagonal | none")
      ->check(CLI::IsMember({"full", "diagonal", "none"}))
      ->capture_default_str();
  sub.add_option("--output,-o", st->output, "estimates CSV file; default stdout ('none': do not print)");
  sub.add_option("--token-file", st->token_file, "file whose first line is the shared secret ($KALMANSCAN_TOKEN otherwise)");
  sub.add_flag("--quiet,-q", st->quiet, "no summary on stderr");

  return [st]() {
    using Clock = std::chrono::steady_clock;
    const formats::Model model(formats::read_model_spec(st->model), st->model);
    const auto endpoint = net::cli::parse_endpoint(st->connect);
    net::ClientOptions co;
    co.host = endpoint.host;
    co.port = endpoint.port;
    co.token = net::cli::read_token(st->token_file);
    co.client_name = "kalmanscan send";
    net::Client client(co);
    const auto covariance = formats::parse_covariance_output(st->covariance);
    const auto info = client.open(st->stream, st->server_model ? nullptr : &model.spec(), st->lag,
                                  covariance != formats::CovarianceOutput::full);

    std::ofstream file;
    std::ostream* out = &std::cout;
    if (!st->output.empty() && st->output != "-") {
      file.open(st->output, std::ios::binary | std::ios::trunc);
      if (!file) throw std::runtime_error("cannot write " + st->output);
      out = &file;
    }
    const std::vector<std::string> names(info.state_names().begin(), info.state_names().end());
    std::unique_ptr<formats::EstimateWriter> writer;
    if (st->output != "none") writer = formats::csv_estimate_writer(*out, names, covariance);
    StepPrinter printer(writer.get(), st->lag ? proto::EstimateRecord::SMOOTHED : proto::EstimateRecord::FILTERED,
                        info.state_dim());

    std::uint64_t sent = 0, answered = 0, errors = 0;
    auto take = [&](const proto::ServerFrame& f) {
      if (f.has_estimate()) {
        if (f.estimate().record().kind() == proto::EstimateRecord::FILTERED) ++answered;
        printer.add(f.estimate().record());
      } else if (f.has_error()) {
        ++answered;
        ++errors;
        std::cerr << "kalmanscan send: seq " << f.error().seq() << ": " << f.error().message() << "\n";
        if (f.error().fatal()) throw net::Error("server closed the connection: " + f.error().message(), f.error().code());
      }
    };

    const auto reader = formats::open_log(st->input, model);
    formats::StepBlock block;
    const auto wall0 = Clock::now();
    double t0 = 0;
    bool first = true;
    proto::LogRecord rec;
    while (reader->read(block, 4096)) {
      for (std::size_t i = 0; i < block.size(); ++i) {
        const double t = block.time[i];
        if (first) t0 = t, first = false;
        if (st->realtime) {
          client.flush();
          std::this_thread::sleep_until(wall0 + std::chrono::duration_cast<Clock::duration>(
                                                    std::chrono::duration<double>((t - t0) / st->speed)));
        }
        // One record per sensor measured at this step, as a log file holds them.
        for (const auto& s : model.sensors()) {
          const double* z = block.z.data() + i * block.m + s.offset;
          bool any = false;
          for (std::size_t j = 0; j < s.size; ++j) any |= !std::isnan(z[j]);
          if (!any) continue;
          rec.Clear();
          rec.set_timestamp(t);
          rec.set_sensor(s.name);
          for (std::size_t j = 0; j < s.size; ++j) rec.add_values(z[j]);
          for (std::size_t j = 0; j < block.k; ++j) rec.add_controls(block.u[i * block.k + j]);
          client.send(info.stream_id(), sent++, rec);
          while (sent - answered > st->window) take(client.receive());
        }
        if (st->realtime)
          while (auto f = client.poll(std::chrono::milliseconds(0))) take(*f);
      }
    }
    while (answered < sent) take(client.receive());
    printer.flush();
    client.close(info.stream_id());
    const double secs = std::chrono::duration<double>(Clock::now() - wall0).count();
    if (!st->quiet)
      std::cerr << "kalmanscan send: " << sent << " measurements, " << printer.rows() << " estimates printed, "
                << errors << " rejected, " << secs << " s (" << static_cast<double>(sent) / secs << " /s)\n";
    return errors ? exit_failure : exit_ok;
  };
}

}  // namespace kalmanscan::cli
