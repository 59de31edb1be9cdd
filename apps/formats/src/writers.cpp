#include "kalmanscan/formats/writers.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

#include "kalmanscan/formats/record_file.hpp"

namespace kalmanscan::formats {
namespace {

void append(std::string& s, double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  s.append(buf, r.ptr);
}

void flush_line(std::ostream& out, std::string& line) {
  line += '\n';
  out.write(line.data(), static_cast<std::streamsize>(line.size()));
  if (!out) throw std::runtime_error("writing CSV output failed");
  line.clear();
}

class CsvEstimateWriter final : public EstimateWriter {
 public:
  CsvEstimateWriter(std::ostream& out, const std::vector<std::string>& names, CovarianceOutput cov, bool with_filtered)
      : out_(out), n_(names.size()), cov_(cov), with_filtered_(with_filtered) {
    line_ = "step,t";
    append_header(names, "");
    if (with_filtered_) append_header(names, "filt_");
    line_ += ",nis,nis_dof";
    flush_line(out_, line_);
  }

  void write(const Estimate& e) override {
    line_ += std::to_string(e.step);
    line_ += ',';
    append(line_, e.time);
    append_values(e.mean, e.cov);
    if (with_filtered_) append_values(e.filtered_mean, e.filtered_cov);
    line_ += ',';
    append(line_, e.nis);
    line_ += ',' + std::to_string(e.nis_dof);
    flush_line(out_, line_);
  }

 private:
  /// <prefix><names>[,<prefix>std_<name>…][,<prefix>cov_<a>_<b>… (upper triangle)]
  void append_header(const std::vector<std::string>& names, const std::string& prefix) {
    for (const auto& s : names) line_ += "," + prefix + s;
    if (cov_ != CovarianceOutput::none)
      for (const auto& s : names) line_ += "," + prefix + "std_" + s;
    if (cov_ == CovarianceOutput::full)
      for (std::size_t i = 0; i < n_; ++i)
        for (std::size_t j = i; j < n_; ++j) line_ += "," + prefix + "cov_" + names[i] + "_" + names[j];
  }
  /// The cells of one append_header block: mean, standard deviations, upper triangle of cov.
  void append_values(const double* mean, const double* cov) {
    for (std::size_t i = 0; i < n_; ++i) line_ += ',', append(line_, mean[i]);
    if (cov_ != CovarianceOutput::none)
      for (std::size_t i = 0; i < n_; ++i) line_ += ',', append(line_, std::sqrt(cov[i * n_ + i]));
    if (cov_ == CovarianceOutput::full)
      for (std::size_t i = 0; i < n_; ++i)
        for (std::size_t j = i; j < n_; ++j) line_ += ',', append(line_, cov[i * n_ + j]);
  }

  std::ostream& out_;
  std::size_t n_;
  CovarianceOutput cov_;
  bool with_filtered_;
  std::string line_;
};

class RecordEstimateWriter final : public EstimateWriter {
 public:
  RecordEstimateWriter(std::ostream& out, std::size_t n, CovarianceOutput cov, proto::EstimateRecord::Kind kind,
                       const std::string& source, bool with_filtered)
      : writer_(out, proto::RecordFileHeader::ESTIMATES, source), n_(n), cov_(cov), with_filtered_(with_filtered) {
    record_.set_kind(kind);
  }

  void write(const Estimate& e) override {
    record_.set_step(e.step);
    record_.set_timestamp(e.time);
    set(e.mean, e.cov, *record_.mutable_mean(), *record_.mutable_covariance(), *record_.mutable_std_dev());
    if (with_filtered_)
      set(e.filtered_mean, e.filtered_cov, *record_.mutable_filtered_mean(), *record_.mutable_filtered_covariance(),
          *record_.mutable_filtered_std_dev());
    record_.set_nis(e.nis);
    record_.set_nis_dof(static_cast<std::uint32_t>(e.nis_dof));
    writer_.write(record_);
  }

 private:
  using Doubles = google::protobuf::RepeatedField<double>;
  /// One estimate's fields: the mean, the full covariance ("full") and the standard deviations
  /// ("full" or "diagonal").
  void set(const double* mean, const double* cov, Doubles& mean_out, Doubles& cov_out, Doubles& std_out) const {
    mean_out.Assign(mean, mean + n_);
    cov_out.Clear();
    std_out.Clear();
    if (cov_ == CovarianceOutput::full) cov_out.Assign(cov, cov + n_ * n_);
    if (cov_ != CovarianceOutput::none)
      for (std::size_t i = 0; i < n_; ++i) std_out.Add(std::sqrt(cov[i * n_ + i]));
  }

  RecordWriter writer_;
  std::size_t n_;
  CovarianceOutput cov_;
  bool with_filtered_;
  proto::EstimateRecord record_;
};

}  // namespace

CovarianceOutput parse_covariance_output(const std::string& text) {
  if (text == "full") return CovarianceOutput::full;
  if (text == "diagonal") return CovarianceOutput::diagonal;
  if (text == "none") return CovarianceOutput::none;
  throw std::invalid_argument("covariance output: expected full, diagonal or none, found '" + text + "'");
}

std::unique_ptr<EstimateWriter> csv_estimate_writer(std::ostream& out, const std::vector<std::string>& state_names,
                                                    CovarianceOutput covariance, bool with_filtered) {
  return std::make_unique<CsvEstimateWriter>(out, state_names, covariance, with_filtered);
}

std::unique_ptr<EstimateWriter> record_estimate_writer(std::ostream& out, std::size_t state_dim, CovarianceOutput covariance,
                                                       proto::EstimateRecord::Kind kind, const std::string& source,
                                                       bool with_filtered) {
  return std::make_unique<RecordEstimateWriter>(out, state_dim, covariance, kind, source, with_filtered);
}

CsvLogWriter::CsvLogWriter(std::ostream& out, const Model& model) : out_(out), model_(model) {
  for (const auto& s : model.sensors()) {
    std::vector<std::size_t> at;
    for (const auto& c : s.columns) {
      std::size_t i = 0;
      while (i < columns_.size() && columns_[i] != c) ++i;
      if (i == columns_.size()) columns_.push_back(c);
      at.push_back(i);
    }
    where_.push_back(std::move(at));
  }
  line_ = model.time_column();
  if (!model.sensor_column().empty()) line_ += "," + model.sensor_column();
  for (const auto& c : columns_) line_ += "," + c;
  for (const auto& c : model.control_columns()) line_ += "," + c;
  flush_line(out_, line_);
}

void CsvLogWriter::write(const proto::LogRecord& r) {
  const auto& sensors = model_.sensors();
  std::size_t s = 0;
  while (s < sensors.size() && sensors[s].name != r.sensor()) ++s;
  if (s == sensors.size() && !(r.sensor().empty() && sensors.size() == 1))
    throw std::invalid_argument("CSV log writer: unknown sensor '" + r.sensor() + "'");
  if (s == sensors.size()) s = 0;
  if (static_cast<std::size_t>(r.values_size()) != sensors[s].size)
    throw std::invalid_argument("CSV log writer: sensor '" + sensors[s].name + "' has " + std::to_string(sensors[s].size) +
                                " columns, the record " + std::to_string(r.values_size()) + " values");
  std::vector<double> row(columns_.size(), std::nan(""));
  for (std::size_t j = 0; j < sensors[s].size; ++j) row[where_[s][j]] = r.values(static_cast<int>(j));
  append(line_, r.timestamp());
  if (!model_.sensor_column().empty()) line_ += "," + sensors[s].name;
  for (double v : row) {
    line_ += ',';
    if (!std::isnan(v)) append(line_, v);
  }
  for (std::size_t j = 0; j < model_.control_dim(); ++j) {
    line_ += ',';
    if (static_cast<std::size_t>(r.controls_size()) == model_.control_dim() && !std::isnan(r.controls(int(j))))
      append(line_, r.controls(static_cast<int>(j)));
  }
  flush_line(out_, line_);
}

}  // namespace kalmanscan::formats
