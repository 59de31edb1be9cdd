#include "kalmanscan/viz/loaders.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <string_view>

#include "kalmanscan/estimate.pb.h"
#include "kalmanscan/formats/log_reader.hpp"
#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/formats/record_file.hpp"
#include "kalmanscan/viz/error.hpp"
#include "measurement_map.hpp"

namespace kalmanscan::viz {

namespace {

// Series ids of one state component's estimates, found once per file.
struct Sink {
  SeriesSet& set;
  std::vector<std::string> names;
  std::vector<std::size_t> ids;  // by component
  std::optional<std::size_t> nis;

  void bind(SeriesSet::Lock& lock, Role role, std::size_t n) {
    if (ids.size() == n) return;
    while (names.size() < n) names.push_back(default_state_name(names.size()));
    ids.clear();
    for (std::size_t j = 0; j < n; ++j) ids.push_back(lock.get_or_add(names[j], role));
    if (role == Role::filtered) nis = lock.get_or_add("NIS", Role::nis);
  }
};

std::string at(const std::filesystem::path& path, std::uint64_t line, const char* unit) {
  return path.string() + ":" + unit + std::to_string(line) + ": ";
}

bool starts_with_magic(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open for reading");
  std::string head(formats::record_magic.size(), '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  return in.gcount() == static_cast<std::streamsize>(head.size()) && head == formats::record_magic;
}

Role role_of(const proto::EstimateRecord& r, const std::string& where) {
  switch (r.kind()) {
    case proto::EstimateRecord::FILTERED: return Role::filtered;
    case proto::EstimateRecord::SMOOTHED: return Role::smoothed;
    default: throw Error(where + "field 'kind': expected FILTERED or SMOOTHED, found KIND_UNSPECIFIED");
  }
}

LoadReport load_estimate_records(const std::filesystem::path& path, SeriesSet& set, const EstimateLoadOptions& o) {
  formats::RecordReader reader(formats::open_file_source(path), proto::RecordFileHeader::ESTIMATES);
  LoadReport report;
  Sink sink{set, o.state_names, {}, {}};
  proto::EstimateRecord r;
  bool more = true;
  std::optional<Role> role;
  while (more) {
    auto lock = set.lock();
    for (std::size_t i = 0; i < o.batch && (more = reader.next(r)); ++i) {
      const std::string where = at(path, reader.records(), "record ");
      const Role this_role = role_of(r, where);
      if (role && *role != this_role) throw Error(where + "field 'kind': changes within the file");
      role = this_role;
      const std::size_t n = static_cast<std::size_t>(r.mean_size());
      if (!sink.ids.empty() && n != sink.ids.size())
        throw Error(where + "field 'mean': expected " + std::to_string(sink.ids.size()) + " values, found " +
                    std::to_string(n));
      if (r.std_dev_size() != 0 && static_cast<std::size_t>(r.std_dev_size()) != n)
        throw Error(where + "field 'std_dev': expected " + std::to_string(n) + " values (or none), found " +
                    std::to_string(r.std_dev_size()));
      if (r.std_dev_size() == 0 && r.covariance_size() != 0 && static_cast<std::size_t>(r.covariance_size()) != n * n)
        throw Error(where + "field 'covariance': expected " + std::to_string(n * n) + " values (or none), found " +
                    std::to_string(r.covariance_size()));
      sink.bind(lock, this_role, n);
      for (std::size_t j = 0; j < n; ++j) {
        double sd = 0;
        if (r.std_dev_size() != 0)
          sd = r.std_dev(int(j));
        else if (r.covariance_size() != 0)
          sd = std::sqrt(r.covariance(int(j * n + j)));
        try {
          lock.series(sink.ids[j]).append(r.timestamp(), r.mean(int(j)), sd);
        } catch (const Error& e) {
          throw Error(where + e.what());
        }
      }
      report.points += n;
      if (sink.nis && r.nis_dof() > 0) {
        lock.series(*sink.nis).append(r.timestamp(), r.nis());
        ++report.points;
      }
      ++report.records;
      lock.changed();
    }
  }
  if (reader.truncated())
    report.warning = path.string() + ": the file ends inside a record; read " + std::to_string(report.records) +
                     " whole records";
  return report;
}

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> cells;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    cells.push_back(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) return cells;
    start = comma + 1;
  }
}

double number(std::string_view cell, const std::string& where, std::string_view column) {
  double v = 0;
  const auto r = std::from_chars(cell.data(), cell.data() + cell.size(), v);
  if (r.ec != std::errc() || r.ptr != cell.data() + cell.size())
    throw Error(where + "field '" + std::string(column) + "': expected a number, found '" + std::string(cell) + "'");
  return v;
}

LoadReport load_estimate_csv(const std::filesystem::path& path, SeriesSet& set, const EstimateLoadOptions& o) {
  if (!o.csv_role)
    throw Error(path.string() + ": a CSV of estimates does not say whether they are filtered or smoothed; choose one");
  std::ifstream in(path);
  if (!in) throw Error(path.string() + ": cannot open for reading");
  std::string line;
  if (!std::getline(in, line)) throw Error(path.string() + ": empty file, expected the header step,t,…");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const std::vector<std::string_view> header_views = split(line);
  const std::vector<std::string> header(header_views.begin(), header_views.end());
  // step,t,<names>[,std_<name>…][,cov_…],nis,nis_dof
  if (header.size() < 4 || header[0] != "step" || header[1] != "t" || header[header.size() - 2] != "nis" ||
      header.back() != "nis_dof")
    throw Error(at(path, 1, "") + "header: expected step,t,<state names>…,nis,nis_dof, found '" + line + "'");
  std::vector<std::string> names;
  std::size_t c = 2;
  for (; c < header.size() - 2 && header[c].rfind("std_", 0) != 0 && header[c].rfind("cov_", 0) != 0; ++c)
    names.push_back(header[c]);
  const std::size_t n = names.size();
  const bool has_std = c < header.size() - 2 && header[c].rfind("std_", 0) == 0;
  if (has_std)
    for (std::size_t j = 0; j < n; ++j)
      if (header[2 + n + j] != "std_" + names[j])
        throw Error(at(path, 1, "") + "header: expected column 'std_" + names[j] + "', found '" + header[2 + n + j] + "'");
  Sink sink{set, o.state_names.empty() ? names : o.state_names, {}, {}};
  LoadReport report;
  std::uint64_t line_no = 1;
  bool more = true;
  while (more) {
    auto lock = set.lock();
    sink.bind(lock, *o.csv_role, n);
    for (std::size_t i = 0; i < o.batch && (more = static_cast<bool>(std::getline(in, line))); ++i) {
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      const std::string where = at(path, line_no, "");
      const auto cells = split(line);
      if (cells.size() != header.size())
        throw Error(where + "expected " + std::to_string(header.size()) + " cells, found " + std::to_string(cells.size()));
      const double t = number(cells[1], where, "t");
      for (std::size_t j = 0; j < n; ++j) {
        const double sd = has_std ? number(cells[2 + n + j], where, header[2 + n + j]) : 0.0;
        try {
          lock.series(sink.ids[j]).append(t, number(cells[2 + j], where, header[2 + j]), sd);
        } catch (const Error& e) {
          if (std::string_view(e.what()).rfind(where, 0) == 0) throw;
          throw Error(where + e.what());
        }
      }
      report.points += n;
      const double dof = number(cells.back(), where, "nis_dof");
      if (sink.nis && dof > 0) {
        lock.series(*sink.nis).append(t, number(cells[cells.size() - 2], where, "nis"));
        ++report.points;
      }
      ++report.records;
      lock.changed();
    }
  }
  return report;
}

}  // namespace

std::string default_state_name(std::size_t j) {
  std::string name = "x";  // (built in two steps: GCC 12 warns falsely on "x" + to_string(j))
  name += std::to_string(j);
  return name;
}

LoadReport load_estimates(const std::filesystem::path& path, SeriesSet& set, const EstimateLoadOptions& options) {
  if (options.batch == 0) throw Error("load_estimates: batch must be at least 1");
  return starts_with_magic(path) ? load_estimate_records(path, set, options) : load_estimate_csv(path, set, options);
}

std::vector<std::string> model_state_names(const std::filesystem::path& model) {
  const formats::Model m(formats::read_model_spec(model), model.string());
  return m.state_names();
}

LoadReport load_measurements(const std::filesystem::path& log, const std::filesystem::path& model_path, SeriesSet& set,
                             std::size_t batch) {
  if (batch == 0) throw Error("load_measurements: batch must be at least 1");
  const formats::Model model(formats::read_model_spec(model_path), model_path.string());
  const MeasurementMap map(model);
  const auto reader = formats::open_log(log, model);
  formats::StepBlock block;
  LoadReport report;
  std::vector<std::optional<std::size_t>> ids(map.rows());
  for (;;) {
    if (!reader->read(block, batch)) break;
    auto lock = set.lock();
    for (std::size_t r = 0; r < map.rows(); ++r)
      if (const auto j = map.component(r); j && !ids[r]) ids[r] = lock.get_or_add(model.state_names()[*j], Role::measured);
    for (std::size_t i = 0; i < block.size(); ++i) {
      for (std::size_t r = 0; r < map.rows(); ++r) {
        if (const auto p = map.point(r, block.z[i * block.m + r])) {
          lock.series(*ids[r]).append(block.time[i], p->value);
          ++report.points;
        } else {
          ++report.skipped;
        }
      }
      ++report.records;
    }
    lock.changed();
  }
  report.warning = reader->warning();
  return report;
}

}  // namespace kalmanscan::viz
