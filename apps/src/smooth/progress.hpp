// A one-line progress bar on stderr, redrawn at most ten times a second; silent when disabled.
#pragma once

#include <chrono>
#include <string>

namespace kalmanscan::cli {

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled) {}
  ~Progress() { finish(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// Shows `phase` at `fraction` ∈ [0, 1] with a free-text `detail`.
  void update(const std::string& phase, double fraction, const std::string& detail);
  /// Clears the line.
  void finish();

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace kalmanscan::cli
