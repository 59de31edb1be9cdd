// The uncertainty export in a build without Protobuf: says so.
#include "kalmanscan/kla/torch/export_data.hpp"
#include "kalmanscan/kla/torch/trainer.hpp"

namespace kalmanscan::kla::nn {

void write_export(const std::string&, const ExportData&) {
  throw TrainError("export: kalmanscan was built without Protobuf, so the uncertainty export is unavailable");
}

ExportData read_export(const std::string&) {
  throw TrainError("export: kalmanscan was built without Protobuf, so the uncertainty export is unavailable");
}

}  // namespace kalmanscan::kla::nn
