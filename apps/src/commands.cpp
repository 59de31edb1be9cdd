// The one list of subcommands. To add one: declare `Runner <name>_command(CLI::App&)` and add
// a line below (apps/net adds serve, send and load here).
#include "kalmanscan/cli/cli.hpp"

namespace kalmanscan::cli {

Runner smooth_command(CLI::App& sub);
Runner demo_command(CLI::App& sub);
Runner serve_command(CLI::App& sub);  // apps/net/cli
Runner send_command(CLI::App& sub);   // apps/net/cli
Runner load_command(CLI::App& sub);   // apps/net/cli
Runner train_command(CLI::App& sub);  // execs kalmanscan-train (apps/train)

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"smooth", "Filter and smooth a sensor log (CSV or record file) with a model spec", smooth_command},
      {"demo", "Generate a synthetic vehicle log, smooth it and report accuracy and throughput", demo_command},
      {"serve", "Serve live stream filtering over TCP (protobuf frames), with recording", serve_command},
      {"send", "Stream a log to a running server and print its estimates", send_command},
      {"load", "Load a running server with N connections x M streams; throughput and latency", load_command},
      {"train", "Train KLA and baseline mixers on state-tracking tasks (runs kalmanscan-train)", train_command},
  };
  return list;
}

}  // namespace kalmanscan::cli
