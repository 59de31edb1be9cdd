// Model specs (proto/kalmanscan/model.proto) read from JSON or text format, and validated into
// the numeric model that `kalmanscan smooth` runs:
//   x_{t+1} = F(dt) x_t + B u_t + c + w_t,  w_t ~ N(0, Q(dt))      (DESIGN.md §3)
//   z_t     = H x_t + d + v_t,              v_t ~ N(0, R)
//   x_0 ~ N(m0, P0)
// where z_t stacks the measurements of every sensor (sensor s owns rows [offset, offset + size))
// and R is block-diagonal over sensors (sensors are independent).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "kalmanscan/model.pb.h"

namespace kalmanscan::formats {

enum class SpecSyntax { json, text };

/// JSON when the file name ends in .json, text format for .txtpb/.textproto/.pbtxt/.txt; otherwise
/// JSON when the first non-blank character is '{', else text format.
SpecSyntax detect_spec_syntax(const std::filesystem::path& path, std::string_view content);

/// Parses a model spec (protobuf's JSON mapping, or protobuf text format). Throws FormatError
/// naming `source` and the parser's message. Does not validate the model (see Model).
proto::ModelSpec parse_model_spec(std::string_view content, SpecSyntax syntax, const std::string& source);

/// Reads and parses the model spec at `path`; the syntax is chosen by detect_spec_syntax.
proto::ModelSpec read_model_spec(const std::filesystem::path& path);

/// Writes `spec` as JSON (indented) or text format.
std::string format_model_spec(const proto::ModelSpec& spec, SpecSyntax syntax);

struct SensorLayout {
  std::string name;
  std::vector<std::string> columns;
  std::size_t offset = 0;  ///< first row of this sensor in the stacked z, H, R
  std::size_t size = 0;    ///< m_s
};

/// A validated model. Construction throws FormatError naming the offending field (e.g.
/// "sensors[1].R") with the expected and found shapes, or "not positive definite" for P0, R and
/// the motion model's noise density; Q of explicit dynamics must be positive semi-definite.
class Model {
 public:
  Model(const proto::ModelSpec& spec, const std::string& source);

  std::size_t state_dim() const { return static_cast<std::size_t>(m0_.size()); }
  std::size_t measurement_dim() const { return static_cast<std::size_t>(H_.rows()); }
  std::size_t control_dim() const { return static_cast<std::size_t>(B_.cols()); }
  const std::vector<std::string>& state_names() const { return state_names_; }
  const std::vector<SensorLayout>& sensors() const { return sensors_; }
  const proto::ModelSpec& spec() const { return spec_; }
  const std::string& time_column() const { return time_column_; }
  const std::string& sensor_column() const { return spec_.options().sensor_column(); }
  std::vector<std::string> control_columns() const;

  /// True for a built-in motion model, whose F(dt) and Q(dt) depend on the time between steps
  /// (kalmanscan/filters/motion.hpp); explicit dynamics apply once per step whatever the timestamps.
  bool uses_timestamps() const { return spec_.has_motion(); }

  /// Explicit dynamics (empty for a motion model, whose F(dt), Q(dt) the filters compute).
  const Eigen::MatrixXd& F() const { return F_; }
  const Eigen::MatrixXd& Q() const { return Q_; }
  const Eigen::MatrixXd& B() const { return B_; }
  const Eigen::VectorXd& c() const { return c_; }
  const Eigen::MatrixXd& H() const { return H_; }
  const Eigen::VectorXd& d() const { return d_; }
  const Eigen::MatrixXd& R() const { return R_; }
  const Eigen::VectorXd& m0() const { return m0_; }
  const Eigen::MatrixXd& P0() const { return P0_; }

 private:
  proto::ModelSpec spec_;
  std::string time_column_;
  std::vector<std::string> state_names_;
  std::vector<SensorLayout> sensors_;
  Eigen::MatrixXd F_, Q_, B_, H_, R_, P0_;
  Eigen::VectorXd c_, d_, m0_;
};

}  // namespace kalmanscan::formats
