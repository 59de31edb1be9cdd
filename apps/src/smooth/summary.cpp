#include <cstdio>
#include <string>

#include <google/protobuf/util/json_util.h>

#include "kalmanscan/cli/smooth.hpp"

namespace kalmanscan::cli {
namespace {

std::string printf_string(const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

}  // namespace

std::string format_summary(const proto::SmoothSummary& s) {
  const auto& nis = s.nis();
  const auto& t = s.timing();
  std::string out = printf_string("%s: %llu steps (%llu rows, %llu chunk%s), %s backend, %s, %s\n", s.input().c_str(),
                                  (unsigned long long)s.steps(), (unsigned long long)s.rows(), (unsigned long long)s.chunks(),
                                  s.chunks() == 1 ? "" : "s", s.backend().c_str(), s.precision().c_str(),
                                  s.filter_only() ? "filtered only" : "filtered and smoothed");
  out += printf_string("  missing values: %llu of %llu (%.2f%%)\n", (unsigned long long)s.missing_values(),
                       (unsigned long long)s.measured_values(),
                       s.measured_values() ? 100.0 * double(s.missing_values()) / double(s.measured_values()) : 0.0);
  out += printf_string("  log-likelihood: %.6g\n", s.log_likelihood());
  if (nis.steps_measured())
    out += printf_string("  NIS: mean %.4g over %llu measured steps (mean dof %.3g); NIS/dof %.4f, 95%% band [%.4f, %.4f]: %s\n",
                         nis.mean(), (unsigned long long)nis.steps_measured(), nis.mean_dof(), nis.normalized(), nis.lower95(),
                         nis.upper95(), nis.consistent() ? "consistent" : "NOT consistent");
  out += printf_string("  time: read %.3f s, compute %.3f s, write %.3f s, total %.3f s (%.3g steps/s, %.1f MB/s read)\n",
                       t.read_s(), t.compute_s(), t.write_s(), t.total_s(), s.steps_per_second(),
                       t.read_s() > 0 ? double(s.input_bytes()) / 1e6 / t.read_s() : 0.0);
  if (s.peak_resident_bytes()) out += printf_string("  peak memory: %.1f MiB\n", double(s.peak_resident_bytes()) / 1048576.0);
  if (!s.warning().empty()) out += "  warning: " + s.warning() + "\n";
  return out;
}

std::string summary_json(const proto::SmoothSummary& s) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(s, &out, options);
  return out;
}

}  // namespace kalmanscan::cli
