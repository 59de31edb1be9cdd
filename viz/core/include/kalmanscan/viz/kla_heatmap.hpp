// The KLA uncertainty export (proto/kalmanscan/kla_export.proto) as heatmaps: for one sequence
// and one KLA layer, the readout variance y_var_t[m] = Σ_s q_t[s]² / λ_t[m, s] over tokens t
// (columns) × channels m (rows), and per token the mean state variance (mean over m, s of 1/λ_t)
// as a line under it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "kalmanscan/kla_export.pb.h"

namespace kalmanscan::viz {

struct KlaHeatmap {
  std::string title;        ///< task, mixer, sequence, block
  std::size_t tokens = 0;   ///< L
  std::size_t channels = 0; ///< M
  std::vector<float> y_var; ///< L·M, row-major [t][m]
  std::vector<double> per_token;  ///< L: mean state variance (or, when not exported, the mean of y_var over m)
  std::vector<std::int64_t> input_tokens;  ///< L (may be empty)
};

/// Reads and checks an export: version.major must be 1. Throws Error naming the file.
proto::KlaUncertaintyExport read_kla_export(const std::filesystem::path& path);

/// The heatmap of sequence `sequence`, layer `layer` of `e`. Throws Error naming the sequence,
/// layer and field when an index is out of range or a size disagrees with L·M, or a variance is
/// negative or not finite.
KlaHeatmap kla_heatmap(const proto::KlaUncertaintyExport& e, std::size_t sequence, std::size_t layer);

}  // namespace kalmanscan::viz
