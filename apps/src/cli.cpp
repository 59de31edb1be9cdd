#include "kalmanscan/cli/cli.hpp"

#include <exception>
#include <iostream>
#include <map>
#include <string>

#include <CLI/CLI.hpp>

#include "kalmanscan/config.hpp"

namespace kalmanscan::cli {

int run(int argc, const char* const* argv) {
  CLI::App app{"kalmanscan " KALMANSCAN_VERSION
               ": Kalman filtering and smoothing of long sensor logs on an associative-scan engine",
               "kalmanscan"};
  app.require_subcommand(1, 1);
  app.set_version_flag("--version", KALMANSCAN_VERSION);
  std::map<const CLI::App*, std::pair<std::string_view, Runner>> runners;
  for (const Command& c : commands()) {
    CLI::App* sub = app.add_subcommand(std::string(c.name), std::string(c.summary));
    runners[sub] = {c.name, c.setup(*sub)};
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? exit_ok : exit_usage;
  }
  const CLI::App* chosen = app.get_subcommands().front();
  const auto& [name, runner] = runners.at(chosen);
  try {
    return runner();
  } catch (const std::exception& e) {
    std::cerr << "kalmanscan " << name << ": error: " << e.what() << "\n";
    return exit_failure;
  }
}

}  // namespace kalmanscan::cli
