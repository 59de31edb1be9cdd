// `kalmanscan serve`: the live stream-filtering service (server.hpp) until SIGINT/SIGTERM.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "endpoint.hpp"
#include "kalmanscan/cli/cli.hpp"
#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/net/server.hpp"

namespace kalmanscan::cli {

Runner serve_command(CLI::App& sub) {
  struct State {
    std::string listen = "127.0.0.1:7878", model, record, token_file;
    double idle_s = 60;
    net::ServerOptions opt;
  };
  auto st = std::make_shared<State>();
  sub.description(
      "Serve live stream filtering over TCP (length-prefixed protobuf frames, proto/kalmanscan/stream.proto).\n"
      "Clients open streams (with their own model or --model), send measurements and receive filtered (and\n"
      "fixed-lag smoothed) estimates; others may subscribe. Listens on loopback unless told otherwise.\n"
      "A shared-secret token is read from $KALMANSCAN_TOKEN or --token-file. SIGINT/SIGTERM stop it\n"
      "gracefully, flushing recordings. Prints 'listening on HOST:PORT' on stderr once ready.");
  sub.add_option("--listen,-l", st->listen, "HOST:PORT to listen on (port 0: chosen by the OS)")->capture_default_str();
  sub.add_option("--model,-m", st->model, "default model spec for streams opened without one")->check(CLI::ExistingFile);
  sub.add_option("--record", st->record, "record every accepted measurement to DIR/<stream>.<id>.ksrec")
      ->check(CLI::ExistingDirectory);
  sub.add_option("--record-queue-bytes", st->opt.record_queue_bytes,
                 "recorded bytes the writer thread may be behind (also what a crash may lose)")
      ->capture_default_str();
  sub.add_option("--token-file", st->token_file, "file whose first line is the shared secret")->check(CLI::ExistingFile);
  sub.add_option("--max-frame-bytes", st->opt.max_frame_bytes, "largest frame accepted")->capture_default_str();
  sub.add_option("--max-connections", st->opt.max_connections, "connections at once")->capture_default_str();
  sub.add_option("--max-streams", st->opt.max_streams_total, "open streams in total")->capture_default_str();
  sub.add_option("--max-streams-per-connection", st->opt.max_streams_per_connection, "open streams per connection")
      ->capture_default_str();
  sub.add_option("--max-state-dim", st->opt.max_state_dim, "largest state dimension of a stream's model")
      ->capture_default_str();
  sub.add_option("--max-smoothing-lag", st->opt.max_smoothing_lag, "largest fixed lag a stream may ask for")
      ->capture_default_str();
  sub.add_option("--send-queue-bytes", st->opt.send_queue_bytes, "bound of each connection's send queue")
      ->capture_default_str();
  sub.add_option("--idle-timeout", st->idle_s, "seconds without a frame before a connection is closed")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  return [st]() {
    net::ServerOptions opt = st->opt;
    const auto endpoint = net::cli::parse_endpoint(st->listen);
    opt.host = endpoint.host;
    opt.port = endpoint.port;
    if (!st->model.empty())
      opt.default_model = std::make_shared<const formats::Model>(formats::read_model_spec(st->model), st->model);
    opt.record_dir = st->record;
    opt.token = net::cli::read_token(st->token_file);
    opt.idle_timeout = std::chrono::milliseconds(static_cast<long long>(st->idle_s * 1000));
    net::Server server(opt);
    std::cerr << "kalmanscan serve: listening on " << opt.host << ":" << server.port()
              << (opt.token.empty() ? "" : " (token required)")
              << (opt.record_dir.empty() ? "" : ", recording to " + opt.record_dir.string()) << std::endl;
    server.run(/*handle_signals=*/true);
    const net::ServerStats s = server.stats();
    std::cerr << "kalmanscan serve: stopped; " << s.connections_accepted << " connections, "
              << s.measurements_accepted << " measurements accepted, " << s.measurements_rejected << " rejected, "
              << s.batches << " batches, " << s.estimates_dropped << " subscription estimates dropped" << std::endl;
    return exit_ok;
  };
}

}  // namespace kalmanscan::cli
