// Writing estimates (CSV or EstimateRecord files) and logs (CSV or LogRecord files).
// Numbers are written with std::to_chars (shortest text that reads back to the same double).
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "kalmanscan/estimate.pb.h"
#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/log.pb.h"

namespace kalmanscan::formats {

enum class CovarianceOutput { full, diagonal, none };
/// "full" | "diagonal" | "none"; throws std::invalid_argument naming the value otherwise.
CovarianceOutput parse_covariance_output(const std::string& text);

/// One step's estimate: `mean` holds n numbers, `cov` n·n row-major (read only as the output asks).
/// `filtered_mean`/`filtered_cov` (same shapes) are read only by a writer made with_filtered.
struct Estimate {
  std::uint64_t step = 0;
  double time = 0;
  const double* mean = nullptr;
  const double* cov = nullptr;
  double nis = 0;
  int nis_dof = 0;
  const double* filtered_mean = nullptr;
  const double* filtered_cov = nullptr;
};

class EstimateWriter {
 public:
  virtual ~EstimateWriter() = default;
  virtual void write(const Estimate& e) = 0;
};

/// CSV with the header  step,t,<state names>[,std_<name>…][,cov_<a>_<b>… (upper triangle)],nis,nis_dof
/// (std_ columns for "diagonal" and "full", cov_ columns for "full"). `with_filtered` adds the
/// same block for the filtered estimate, every column prefixed filt_, before nis.
std::unique_ptr<EstimateWriter> csv_estimate_writer(std::ostream& out, const std::vector<std::string>& state_names,
                                                    CovarianceOutput covariance, bool with_filtered = false);
/// A record file of EstimateRecord messages of the given kind; `with_filtered` also fills the
/// filtered_* fields.
std::unique_ptr<EstimateWriter> record_estimate_writer(std::ostream& out, std::size_t state_dim, CovarianceOutput covariance,
                                                       proto::EstimateRecord::Kind kind, const std::string& source,
                                                       bool with_filtered = false);

/// Writes LogRecords as the CSV that CsvReader reads for `model`: one line per record, with the
/// time column, the sensor column (when the model has one), every sensor column (empty unless
/// the record's sensor reads it; NaN written as an empty cell) and the control columns.
class CsvLogWriter {
 public:
  CsvLogWriter(std::ostream& out, const Model& model);
  void write(const proto::LogRecord& record);

 private:
  std::ostream& out_;
  const Model& model_;
  std::vector<std::string> columns_;             // sensor columns, first use order
  std::vector<std::vector<std::size_t>> where_;  // per sensor: position of each of its columns
  std::vector<const std::string*> cells_;
  std::string line_;
};

}  // namespace kalmanscan::formats
