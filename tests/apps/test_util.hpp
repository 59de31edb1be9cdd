// Helpers for the apps tests: scratch directories, files, running the CLI in-process, and
// reading CSV output back.
#pragma once

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kalmanscan/cli/cli.hpp"

namespace kalmanscan::testing {

/// A fresh directory, removed with its contents at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "kalmanscan-apps-test-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::filesystem::path operator/(const std::string& name) const { return path / name; }
  /// Names of the files in the directory.
  std::vector<std::string> files() const {
    std::vector<std::string> v;
    for (const auto& e : std::filesystem::directory_iterator(path)) v.push_back(e.path().filename().string());
    return v;
  }
};

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct CliResult {
  int status = 0;
  std::string err;  ///< stderr
  std::string out;  ///< stdout
};

/// Runs `kalmanscan <args…>` in-process, capturing stdout and stderr.
inline CliResult run_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "kalmanscan");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  ::testing::internal::CaptureStderr();
  ::testing::internal::CaptureStdout();
  CliResult r;
  r.status = cli::run(static_cast<int>(argv.size()), argv.data());
  r.out = ::testing::internal::GetCapturedStdout();
  r.err = ::testing::internal::GetCapturedStderr();
  return r;
}

/// A CSV file as named columns of numbers (empty and text cells read as NaN).
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<double>> rows;
  std::size_t col(const std::string& name) const {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return i;
    throw std::runtime_error("no column " + name);
  }
  double at(std::size_t row, const std::string& name) const { return rows.at(row).at(col(name)); }
};

inline Table parse_table(const std::string& text) {
  Table t;
  std::istringstream in(text);
  std::string line;
  auto split = [](const std::string& l) {
    std::vector<std::string> cells;
    std::stringstream ss(l);
    std::string c;
    while (std::getline(ss, c, ',')) cells.push_back(c);
    if (!l.empty() && l.back() == ',') cells.emplace_back();
    return cells;
  };
  std::getline(in, line);
  t.header = split(line);
  while (std::getline(in, line)) {
    std::vector<double> row;
    for (const auto& c : split(line)) {
      char* end = nullptr;
      const double v = std::strtod(c.c_str(), &end);
      row.push_back(c.empty() || *end != '\0' ? std::nan("") : v);  // text cells (a sensor name) read as NaN
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

}  // namespace kalmanscan::testing
