#include "kalmanscan/formats/steps.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

namespace kalmanscan::formats {

namespace {
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
}  // namespace

StepAssembler::StepAssembler(std::size_t m, std::size_t k)
    : m_(m), k_(k), z_(m), u_(k, 0.0), u_given_(k, 0) {}

void StepAssembler::begin_row(double t, const Location& where, StepBlock& out) {
  ++stats_.rows;
  if (!std::isfinite(t)) throw FormatError(where, "a finite timestamp", number(t));
  if (pending_) {
    if (t < t_)
      throw FormatError(where, "timestamps that never decrease (previous step at " + number(t_) + ")", number(t));
    if (t == t_) return;
    flush(out);
  }
  pending_ = true;
  t_ = t;
  line_ = where.line;
  std::fill(z_.begin(), z_.end(), std::numeric_limits<double>::quiet_NaN());
  std::fill(u_given_.begin(), u_given_.end(), 0);
}

void StepAssembler::measure(std::size_t slot, double value, const Location& where) {
  ++stats_.values;
  if (std::isnan(value)) {
    ++stats_.missing_values;
    return;
  }
  if (!std::isnan(z_[slot]))
    throw FormatError(where, "one value per timestamp (" + number(t_) + ") for this component",
                      "a second value " + number(value) + " after " + number(z_[slot]));
  z_[slot] = value;
}

void StepAssembler::control(std::size_t j, double value, const Location& where) {
  if (std::isnan(value)) return;  // missing control: the last value holds
  if (u_given_[j] && u_[j] != value)
    throw FormatError(where, "one control value per timestamp (" + number(t_) + ")",
                      "a second value " + number(value) + " after " + number(u_[j]));
  u_[j] = value;
  u_given_[j] = 1;
}

void StepAssembler::finish(StepBlock& out) {
  if (pending_) flush(out);
  pending_ = false;
}

void StepAssembler::flush(StepBlock& out) {
  out.m = m_;
  out.k = k_;
  out.time.push_back(t_);
  out.z.insert(out.z.end(), z_.begin(), z_.end());
  out.u.insert(out.u.end(), u_.begin(), u_.end());
  out.line.push_back(line_);
  ++stats_.steps;
}

}  // namespace kalmanscan::formats
