// `kalmanscan load`: N connections × M streams against a running service; throughput and latency.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "endpoint.hpp"
#include "kalmanscan/cli/cli.hpp"
#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/net/load.hpp"

namespace kalmanscan::cli {

Runner load_command(CLI::App& sub) {
  struct State {
    std::string connect = "127.0.0.1:7878", model, token_file;
    double duration_s = 5, warmup_s = 0.5;
    net::LoadOptions opt;
  };
  auto st = std::make_shared<State>();
  sub.description(
      "Load a running `kalmanscan serve`: CONNECTIONS × STREAMS streams of a simulated 2-D target (measurement 2)\n"
      "at a total --rate (0: closed loop, --window measurements in flight per connection). Reports throughput\n"
      "and the p50/p99 latency from a measurement's send to its estimate.");
  sub.add_option("--connect,-c", st->connect, "server HOST:PORT")->capture_default_str();
  sub.add_option("--connections,-n", st->opt.connections, "connections")->check(CLI::PositiveNumber)->capture_default_str();
  sub.add_option("--streams,-s", st->opt.streams_per_connection, "streams per connection")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_option("--rate,-r", st->opt.rate, "measurements per second in total (0: as fast as possible)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub.add_option("--window,-w", st->opt.window, "closed loop: measurements in flight per connection")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_option("--duration,-d", st->duration_s, "seconds measured")->check(CLI::PositiveNumber)->capture_default_str();
  sub.add_option("--warmup", st->warmup_s, "seconds sent before measuring")->check(CLI::NonNegativeNumber)->capture_default_str();
  sub.add_option("--model,-m", st->model, "model spec sent with each stream (default: the server's)")->check(CLI::ExistingFile);
  sub.add_option("--token-file", st->token_file, "file whose first line is the shared secret ($KALMANSCAN_TOKEN otherwise)");

  return [st]() {
    net::LoadOptions opt = st->opt;
    const auto endpoint = net::cli::parse_endpoint(st->connect);
    opt.host = endpoint.host;
    opt.port = endpoint.port;
    opt.token = net::cli::read_token(st->token_file);
    opt.duration = std::chrono::milliseconds(static_cast<long long>(st->duration_s * 1000));
    opt.warmup = std::chrono::milliseconds(static_cast<long long>(st->warmup_s * 1000));
    if (!st->model.empty()) opt.model = formats::Model(formats::read_model_spec(st->model), st->model).spec();
    const net::LoadResult r = net::run_load(opt);
    std::cout << "connections " << opt.connections << " streams " << opt.connections * opt.streams_per_connection
              << " rate " << (opt.rate > 0 ? std::to_string(static_cast<long long>(opt.rate)) : std::string("max"))
              << "\nsent " << r.sent << " answered " << r.answered << " errors " << r.errors << " in " << r.seconds
              << " s\nthroughput " << r.throughput << " updates/s\nlatency p50 " << r.p50_us << " us p99 " << r.p99_us
              << " us max " << r.max_us << " us" << std::endl;
    return r.errors ? exit_failure : exit_ok;
  };
}

}  // namespace kalmanscan::cli
