// The KLA uncertainty export (proto/kalmanscan/kla_export.proto): the posterior variances of every
// KLA layer of a trained Tagger on chosen sequences, written as one KlaUncertaintyExport message.
#pragma once

#include <cstdint>
#include <string>

#include "kalmanscan/kla/torch/model.hpp"
#include "kalmanscan/kla/torch/tasks.hpp"

namespace kalmanscan::kla::nn {

struct ExportInfo {
  std::string task;
  std::uint64_t seed = 0, step = 0;
  bool state_variance = true;  ///< include the [L, M, S] state variances, not only y_var
};

/// Runs `model` on `batch` (on the model's device) and writes the export to `path`. Throws
/// kla::Error when the model has no KLA layer, TrainError when the file cannot be written or
/// kalmanscan was built without Protobuf.
void export_uncertainty(const std::string& path, Tagger& model, const Batch& batch, const ExportInfo& info);

}  // namespace kalmanscan::kla::nn
