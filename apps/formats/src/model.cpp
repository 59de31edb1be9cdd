#include "kalmanscan/formats/model.hpp"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include "kalmanscan/formats/error.hpp"

namespace kalmanscan::formats {
namespace {

std::string shape(std::size_t r, std::size_t c) { return std::to_string(r) + "x" + std::to_string(c); }

struct Checker {
  const std::string& source;

  [[noreturn]] void fail(const std::string& field, const std::string& expected, const std::string& found) const {
    throw FormatError({source, 0, field}, expected, found);
  }

  void finite(const std::string& field, const google::protobuf::RepeatedField<double>& v) const {
    for (int i = 0; i < v.size(); ++i)
      if (!std::isfinite(v[i]))
        fail(field + "[" + std::to_string(i) + "]", "a finite number", std::to_string(v[i]));
  }

  Eigen::VectorXd vector(const std::string& field, const google::protobuf::RepeatedField<double>& v,
                         std::size_t n) const {
    if (static_cast<std::size_t>(v.size()) != n)
      fail(field, std::to_string(n) + " entries", std::to_string(v.size()));
    finite(field, v);
    return Eigen::Map<const Eigen::VectorXd>(v.data(), v.size());
  }

  Eigen::MatrixXd matrix(const std::string& field, const proto::Matrix& m, std::size_t rows, std::size_t cols,
                         const std::string& why) const {
    if (m.rows() != rows || m.cols() != cols) fail(field, shape(rows, cols) + " (" + why + ")", shape(m.rows(), m.cols()));
    if (static_cast<std::size_t>(m.data_size()) != rows * cols)
      fail(field + ".data", std::to_string(rows * cols) + " numbers (rows x cols)", std::to_string(m.data_size()));
    finite(field + ".data", m.data());
    return Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(m.data().data(),
                                                                                                     rows, cols);
  }

  void symmetric(const std::string& field, const Eigen::MatrixXd& A) const {
    const double tol = 1e-9 * std::max(1.0, A.cwiseAbs().maxCoeff());
    for (Eigen::Index i = 0; i < A.rows(); ++i)
      for (Eigen::Index j = i + 1; j < A.cols(); ++j)
        if (std::abs(A(i, j) - A(j, i)) > tol)
          fail(field, "a symmetric matrix", "entry (" + std::to_string(i) + "," + std::to_string(j) + ") = " +
                                                std::to_string(A(i, j)) + " but (" + std::to_string(j) + "," +
                                                std::to_string(i) + ") = " + std::to_string(A(j, i)));
  }

  void positive_definite(const std::string& field, const Eigen::MatrixXd& A) const {
    symmetric(field, A);
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(A, Eigen::EigenvaluesOnly);
    const double lo = eig.eigenvalues().minCoeff();
    if (!(lo > 1e-14 * std::max(1.0, eig.eigenvalues().maxCoeff())))
      fail(field, "a positive definite matrix", "smallest eigenvalue " + std::to_string(lo));
  }

  void positive_semidefinite(const std::string& field, const Eigen::MatrixXd& A) const {
    symmetric(field, A);
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(A, Eigen::EigenvaluesOnly);
    const double lo = eig.eigenvalues().minCoeff();
    if (lo < -1e-12 * std::max(1.0, eig.eigenvalues().cwiseAbs().maxCoeff()))
      fail(field, "a positive semi-definite matrix", "smallest eigenvalue " + std::to_string(lo));
  }
};

std::size_t motion_order(proto::MotionModel::Kind kind) {
  switch (kind) {
    case proto::MotionModel::RANDOM_WALK: return 1;
    case proto::MotionModel::CONSTANT_VELOCITY: return 2;
    case proto::MotionModel::CONSTANT_ACCELERATION: return 3;
    default: return 0;
  }
}

}  // namespace

SpecSyntax detect_spec_syntax(const std::filesystem::path& path, std::string_view content) {
  const std::string ext = path.extension().string();
  if (ext == ".json") return SpecSyntax::json;
  if (ext == ".txtpb" || ext == ".textproto" || ext == ".pbtxt" || ext == ".txt") return SpecSyntax::text;
  const auto first = content.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && content[first] == '{' ? SpecSyntax::json : SpecSyntax::text;
}

proto::ModelSpec parse_model_spec(std::string_view content, SpecSyntax syntax, const std::string& source) {
  proto::ModelSpec spec;
  if (syntax == SpecSyntax::json) {
    const auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(content.data(), content.size()), &spec);
    if (!status.ok()) throw FormatError({source, 0, ""}, "a ModelSpec in JSON", std::string(status.message()));
    return spec;
  }
  // TextFormat reports "line:column: message" through its error collector.
  struct Collector : google::protobuf::io::ErrorCollector {
    std::string first;
    void AddError(int line, int column, const std::string& message) override {
      if (first.empty()) first = "line " + std::to_string(line + 1) + " column " + std::to_string(column + 1) + ": " + message;
    }
  } collector;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&collector);
  if (!parser.ParseFromString(std::string(content), &spec))
    throw FormatError({source, 0, ""}, "a ModelSpec in protobuf text format", collector.first);
  return spec;
}

proto::ModelSpec read_model_spec(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError({path.string(), 0, ""}, "a readable model file", "it cannot be opened");
  std::ostringstream text;
  text << in.rdbuf();
  const std::string content = std::move(text).str();
  return parse_model_spec(content, detect_spec_syntax(path, content), path.string());
}

std::string format_model_spec(const proto::ModelSpec& spec, SpecSyntax syntax) {
  std::string out;
  if (syntax == SpecSyntax::json) {
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    options.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(spec, &out, options);
  } else {
    google::protobuf::TextFormat::PrintToString(spec, &out);
  }
  return out;
}

Model::Model(const proto::ModelSpec& spec, const std::string& source) : spec_(spec) {
  const Checker check{source};
  std::size_t n = 0, k = 0;
  if (spec.has_motion()) {
    const auto& mm = spec.motion();
    const std::size_t order = motion_order(mm.kind());
    if (order == 0) check.fail("motion.kind", "RANDOM_WALK, CONSTANT_VELOCITY or CONSTANT_ACCELERATION", "KIND_UNSPECIFIED");
    if (mm.dimensions() < 1 || mm.dimensions() > 3) check.fail("motion.dimensions", "1, 2 or 3", std::to_string(mm.dimensions()));
    if (!(mm.noise_density() > 0) || !std::isfinite(mm.noise_density()))
      check.fail("motion.noise_density", "a finite number > 0", std::to_string(mm.noise_density()));
    n = order * mm.dimensions();
    static const char* const axes[] = {"x", "y", "z"};
    static const char* const derivative[] = {"", "v", "a"};
    for (std::size_t o = 0; o < order; ++o)
      for (std::size_t a = 0; a < mm.dimensions(); ++a) state_names_.push_back(std::string(derivative[o]) + axes[a]);
  } else if (spec.has_explicit_dynamics()) {
    const auto& ed = spec.explicit_dynamics();
    n = ed.f().rows();
    if (n == 0) check.fail("explicit_dynamics.F", "a square matrix with at least one row", shape(ed.f().rows(), ed.f().cols()));
    F_ = check.matrix("explicit_dynamics.F", ed.f(), n, n, "n x n");
    Q_ = check.matrix("explicit_dynamics.Q", ed.q(), n, n, "n x n, n from F");
    check.positive_semidefinite("explicit_dynamics.Q", Q_);
    if (ed.has_b()) {
      k = ed.b().cols();
      B_ = check.matrix("explicit_dynamics.B", ed.b(), n, k, "n x k, n from F");
    }
    c_ = ed.c().empty() ? Eigen::VectorXd::Zero(n) : check.vector("explicit_dynamics.c", ed.c(), n);
    if (!ed.state_names().empty() && static_cast<std::size_t>(ed.state_names_size()) != n)
      check.fail("explicit_dynamics.state_names", std::to_string(n) + " names (or none)", std::to_string(ed.state_names_size()));
    for (std::size_t i = 0; i < n; ++i) {
      std::string name = "x";  // (built in two steps: GCC 12 warns falsely on "x" + to_string(i))
      name += std::to_string(i);
      state_names_.push_back(ed.state_names().empty() ? name : ed.state_names(int(i)));
    }
  } else {
    check.fail("dynamics", "'motion' or 'explicit_dynamics'", "neither");
  }
  if (B_.size() == 0) B_.setZero(n, 0);
  if (c_.size() == 0) c_.setZero(n);

  // Prior.
  m0_ = check.vector("prior.mean", spec.prior().mean(), n);
  P0_ = check.matrix("prior.covariance", spec.prior().covariance(), n, n, "n x n");
  check.positive_definite("prior.covariance", P0_);

  // Sensors, stacked.
  if (spec.sensors().empty()) check.fail("sensors", "at least one sensor", "none");
  std::size_t m = 0;
  std::set<std::string> names;
  for (int s = 0; s < spec.sensors_size(); ++s) {
    const auto& sp = spec.sensors(s);
    const std::string field = "sensors[" + std::to_string(s) + "]";
    if (sp.name().empty()) check.fail(field + ".name", "a non-empty name", "''");
    if (!names.insert(sp.name()).second) check.fail(field + ".name", "a name used once", "'" + sp.name() + "' again");
    if (sp.columns().empty()) check.fail(field + ".columns", "at least one column", "none");
    SensorLayout layout{sp.name(), {sp.columns().begin(), sp.columns().end()}, m, std::size_t(sp.columns_size())};
    m += layout.size;
    sensors_.push_back(std::move(layout));
  }
  H_.setZero(m, n);
  d_.setZero(m);
  R_.setZero(m, m);
  for (int s = 0; s < spec.sensors_size(); ++s) {
    const auto& sp = spec.sensors(s);
    const auto& L = sensors_[s];
    const std::string field = "sensors[" + std::to_string(s) + "]";
    const std::string why = std::to_string(L.size) + " columns";
    H_.middleRows(L.offset, L.size) = check.matrix(field + ".H", sp.h(), L.size, n, why + " x state dimension " + std::to_string(n));
    if (!sp.d().empty()) d_.segment(L.offset, L.size) = check.vector(field + ".d", sp.d(), L.size);
    const Eigen::MatrixXd Rs = check.matrix(field + ".R", sp.r(), L.size, L.size, why);
    check.positive_definite(field + ".R", Rs);
    R_.block(L.offset, L.offset, L.size, L.size) = Rs;
  }

  // Columns: every name read once (sensor columns may be shared only when a sensor column
  // says which sensor a row belongs to).
  const auto& opt = spec.options();
  time_column_ = opt.time_column().empty() ? "t" : opt.time_column();
  if (static_cast<std::size_t>(opt.control_columns_size()) != k)
    check.fail("options.control_columns", std::to_string(k) + " columns (the columns of explicit_dynamics.B)",
               std::to_string(opt.control_columns_size()));
  std::set<std::string> used{time_column_};
  auto claim = [&](const std::string& column, const std::string& field) {
    if (!used.insert(column).second) check.fail(field, "a column not already read as another quantity", "'" + column + "'");
  };
  if (!opt.sensor_column().empty()) claim(opt.sensor_column(), "options.sensor_column");
  for (int i = 0; i < opt.control_columns_size(); ++i)
    claim(opt.control_columns(i), "options.control_columns[" + std::to_string(i) + "]");
  std::set<std::string> measured;
  for (std::size_t s = 0; s < sensors_.size(); ++s) {
    std::set<std::string> own;
    for (std::size_t j = 0; j < sensors_[s].size; ++j) {
      const std::string& col = sensors_[s].columns[j];
      const std::string field = "sensors[" + std::to_string(s) + "].columns[" + std::to_string(j) + "]";
      if (used.count(col)) claim(col, field);
      if (!own.insert(col).second) check.fail(field, "a column read once by this sensor", "'" + col + "' again");
      if (!measured.insert(col).second && opt.sensor_column().empty())
        check.fail(field, "a column read by one sensor (or options.sensor_column to pick the sensor per row)", "'" + col + "' shared");
    }
  }
}

std::vector<std::string> Model::control_columns() const {
  const auto& c = spec_.options().control_columns();
  return {c.begin(), c.end()};
}

}  // namespace kalmanscan::formats
