#include "kalmanscan/viz/export_csv.hpp"

#include <charconv>
#include <string>

#include "kalmanscan/viz/error.hpp"

namespace kalmanscan::viz {

namespace {

void put(std::string& line, double x) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  line.append(buf, r.ptr);
}

}  // namespace

void write_visible_csv(std::ostream& out, const SeriesSet::Lock& lock, double t0, double t1,
                       const std::function<bool(const std::string& panel)>& shown) {
  out << "panel,role,t,value,sigma,count,t_last,value_min,value_max,lower2_min,upper2_max\n";
  std::string line;
  for (std::size_t id = 0; id < lock.count(); ++id) {
    if (shown && !shown(lock.info(id).panel)) continue;
    const Series& s = lock.series(id);
    const bool band = s.kind() == SeriesKind::band;
    const std::string prefix = lock.info(id).panel + "," + to_string(lock.info(id).role) + ",";
    s.visit(
        t0, t1,
        [&](double t, double value, double sigma) {
          line = prefix;
          put(line, t);
          line += ',';
          put(line, value);
          line += ',';
          if (band) put(line, sigma);
          line += ",1,";
          put(line, t);
          for (int k = 0; k < 2; ++k) {
            line += ',';
            put(line, value);
          }
          line += ',';
          if (band) put(line, value - 2 * sigma);
          line += ',';
          if (band) put(line, value + 2 * sigma);
          out << line << '\n';
        },
        [&](const Aggregate& a) {
          line = prefix;
          put(line, a.t_first);
          line += ",,," + std::to_string(a.count) + ",";
          put(line, a.t_last);
          line += ',';
          put(line, a.min[mean]);
          line += ',';
          put(line, a.max[mean]);
          line += ',';
          if (band) put(line, a.min[lower2]);
          line += ',';
          if (band) put(line, a.max[upper2]);
          out << line << '\n';
        });
  }
  if (!out) throw Error("export CSV: writing failed");
}

}  // namespace kalmanscan::viz
