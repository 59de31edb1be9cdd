// `kalmanscan train …`: runs the separate `kalmanscan-train` program (DESIGN.md §1), found next to
// this executable, with every argument after `train` unchanged, so that LibTorch never loads into
// the other commands. The process is replaced (execv): the exit status and output are
// kalmanscan-train's. `kalmanscan train --help` lists its options.
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include "kalmanscan/cli/cli.hpp"

namespace kalmanscan::cli {

Runner train_command(CLI::App& sub) {
  sub.prefix_command();  // everything after `train` is kalmanscan-train's
  sub.set_help_flag();   // including --help
  return [&sub]() -> int {
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) throw std::runtime_error("cannot locate this executable (/proc/self/exe): " + ec.message());
    const std::filesystem::path program = self.parent_path() / "kalmanscan-train";
    if (!std::filesystem::exists(program))
      throw std::runtime_error(program.string() +
                               " does not exist: kalmanscan-train is built only with LibTorch (KALMANSCAN_WITH_TORCH)");
    std::vector<std::string> args = sub.remaining();
    args.insert(args.begin(), program.string());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(program.c_str(), argv.data());
    throw std::runtime_error("cannot run " + program.string() + ": " + std::strerror(errno));
  };
}

}  // namespace kalmanscan::cli
