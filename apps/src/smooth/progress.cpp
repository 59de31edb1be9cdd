#include "progress.hpp"

#include <algorithm>
#include <cstdio>

namespace kalmanscan::cli {

void Progress::update(const std::string& phase, double fraction, const std::string& detail) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  constexpr int width = 30;
  const int filled = static_cast<int>(std::clamp(fraction, 0.0, 1.0) * width);
  std::fprintf(stderr, "\r%-9s [%.*s%*s] %3d%%  %-32s", phase.c_str(), filled, "==============================",
               width - filled, "", static_cast<int>(std::clamp(fraction, 0.0, 1.0) * 100), detail.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (!enabled_ || !drawn_) return;
  std::fprintf(stderr, "\r%*s\r", 90, "");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace kalmanscan::cli
