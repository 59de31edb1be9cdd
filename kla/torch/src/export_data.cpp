// KlaUncertaintyExport ↔ ExportData. Compiled without LibTorch's include path (export_data.hpp).
#include "kalmanscan/kla/torch/export_data.hpp"

#include <filesystem>
#include <fstream>

#include "kalmanscan/kla/torch/trainer.hpp"
#include "kalmanscan/kla_export.pb.h"

namespace kalmanscan::kla::nn {

void write_export(const std::string& path, const ExportData& d) {
  proto::KlaUncertaintyExport msg;
  msg.mutable_version()->set_major(export_major);
  msg.mutable_version()->set_minor(export_minor);
  msg.set_task(d.task);
  msg.set_mixer(d.mixer);
  msg.set_blocks(d.blocks);
  msg.set_d_model(d.d_model);
  msg.set_channels(d.channels);
  msg.set_state_size(d.state_size);
  msg.set_seed(d.seed);
  msg.set_step(d.step);
  for (const ExportSequence& s : d.sequences) {
    auto* seq = msg.add_sequences();
    seq->mutable_tokens()->Add(s.tokens.begin(), s.tokens.end());
    seq->mutable_targets()->Add(s.targets.begin(), s.targets.end());
    seq->mutable_predictions()->Add(s.predictions.begin(), s.predictions.end());
    seq->mutable_confidence()->Add(s.confidence.begin(), s.confidence.end());
    for (const ExportLayer& l : s.layers) {
      auto* layer = seq->add_layers();
      layer->set_block(l.block);
      layer->mutable_y_var()->Add(l.y_var.begin(), l.y_var.end());
      layer->mutable_state_variance()->Add(l.state_variance.begin(), l.state_variance.end());
      layer->mutable_mean_state_variance()->Add(l.mean_state_variance.begin(), l.mean_state_variance.end());
    }
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out || !msg.SerializeToOstream(&out) || !out.flush()) throw TrainError("export: cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw TrainError("export: cannot rename " + tmp + " to " + path + ": " + ec.message());
}

ExportData read_export(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  proto::KlaUncertaintyExport msg;
  if (!in || !msg.ParseFromIstream(&in)) throw TrainError("export: cannot read " + path + " as a KlaUncertaintyExport");
  if (msg.version().major() != export_major)
    throw TrainError("export: " + path + " has format version " + std::to_string(msg.version().major()) + "." +
                     std::to_string(msg.version().minor()) + "; this reader knows " + std::to_string(export_major) +
                     ".x");
  ExportData d{msg.task(), msg.mixer(), msg.blocks(), msg.d_model(), msg.channels(), msg.state_size(),
               msg.seed(), msg.step(), {}};
  for (const auto& seq : msg.sequences()) {
    ExportSequence s{{seq.tokens().begin(), seq.tokens().end()},
                     {seq.targets().begin(), seq.targets().end()},
                     {seq.predictions().begin(), seq.predictions().end()},
                     {seq.confidence().begin(), seq.confidence().end()},
                     {}};
    for (const auto& l : seq.layers())
      s.layers.push_back({l.block(),
                          {l.y_var().begin(), l.y_var().end()},
                          {l.state_variance().begin(), l.state_variance().end()},
                          {l.mean_state_variance().begin(), l.mean_state_variance().end()}});
    d.sequences.push_back(std::move(s));
  }
  return d;
}

}  // namespace kalmanscan::kla::nn
