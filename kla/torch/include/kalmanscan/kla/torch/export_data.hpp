// The contents of a KLA uncertainty export (proto/kalmanscan/kla_export.proto) as plain C++ data,
// and its reading and writing. Kept apart from LibTorch: PyTorch's LibTorch ships its own, older
// protobuf headers on its include path, so no translation unit sees both LibTorch and protobuf.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kalmanscan::kla::nn {

/// The variances of one KLA layer on one sequence of length L (M channels, S slots).
struct ExportLayer {
  std::uint32_t block = 0;
  std::vector<float> y_var;                ///< L·M, [t][m]
  std::vector<float> state_variance;       ///< L·M·S, [t][m][s] (1/λ_t), or empty
  std::vector<float> mean_state_variance;  ///< L
};

struct ExportSequence {
  std::vector<std::int64_t> tokens, targets, predictions;
  std::vector<float> confidence;
  std::vector<ExportLayer> layers;
};

struct ExportData {
  std::string task, mixer;
  std::uint32_t blocks = 0, d_model = 0, channels = 0, state_size = 0;
  std::uint64_t seed = 0, step = 0;
  std::vector<ExportSequence> sequences;
};

/// The format version written (KlaUncertaintyExport.version) and the only major version read.
inline constexpr std::uint32_t export_major = 1, export_minor = 0;

/// Writes one KlaUncertaintyExport message to `path` (through a temporary file and a rename).
/// Throws TrainError when the file cannot be written or kalmanscan was built without Protobuf.
void write_export(const std::string& path, const ExportData& data);

/// Reads a file written by write_export. Throws TrainError when it cannot be read or parsed, or
/// its major version is not export_major.
ExportData read_export(const std::string& path);

}  // namespace kalmanscan::kla::nn
