// The `kalmanscan` command-line program: one subcommand per job, each with its own options
// and --help. Subcommands are listed in ONE table (apps/src/commands.cpp); adding one is a
// line there plus a function that declares its options.
#pragma once

#include <functional>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace kalmanscan::cli {

/// Runs a parsed subcommand; returns the process exit status.
using Runner = std::function<int()>;

struct Command {
  std::string_view name;
  std::string_view summary;
  /// Declares the subcommand's options on `sub` (bound to state the Runner owns) and returns
  /// the function that runs it once the command line has been parsed.
  Runner (*setup)(CLI::App& sub);
};

/// Every subcommand, in the order `kalmanscan --help` lists them.
const std::vector<Command>& commands();

/// Exit statuses: 0 success, 1 the job failed (bad input, numerical breakdown, I/O), 2 the
/// command line was wrong.
inline constexpr int exit_ok = 0, exit_failure = 1, exit_usage = 2;

/// Parses argv, runs the chosen subcommand and reports errors on stderr as
/// "kalmanscan <command>: error: <message>". Never throws.
int run(int argc, const char* const* argv);

}  // namespace kalmanscan::cli
