#include "kalmanscan/kla/torch/export.hpp"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "kalmanscan/kla/error.hpp"
#include "kalmanscan/kla/torch/trainer.hpp"
#if defined(KALMANSCAN_TORCH_EXPORT)
#include "kalmanscan/kla_export.pb.h"
#endif

namespace kalmanscan::kla::nn {

#if !defined(KALMANSCAN_TORCH_EXPORT)

void export_uncertainty(const std::string&, Tagger&, const Batch&, const ExportInfo&) {
  throw TrainError("export: kalmanscan was built without Protobuf, so the uncertainty export is unavailable");
}

#else

void export_uncertainty(const std::string& path, Tagger& model, const Batch& batch, const ExportInfo& info) {
  torch::NoGradGuard no_grad;
  const auto& mo = model->options();
  if (mo.mixer.kind != MixerKind::kla && mo.mixer.kind != MixerKind::linear)
    throw Error("export: the model's mixer is " + mixer_name(mo.mixer.kind) + ", which has no posterior variance");
  const torch::Device device = model->parameters().front().device();
  const at::Tensor tokens =
      torch::from_blob(const_cast<std::int64_t*>(batch.tokens.data()), {batch.B, batch.L}, torch::kLong).to(device);
  const at::Tensor logits = model->forward(tokens);
  const auto [confidence, prediction] = at::softmax(logits.to(at::kFloat), -1).max(-1);
  const auto traces = model->kla_traces(tokens);

  proto::KlaUncertaintyExport msg;
  msg.mutable_version()->set_major(1);
  msg.mutable_version()->set_minor(0);
  msg.set_task(info.task);
  msg.set_mixer(mixer_name(mo.mixer.kind));
  msg.set_blocks(std::uint32_t(mo.blocks));
  msg.set_d_model(std::uint32_t(mo.mixer.d_model));
  msg.set_channels(std::uint32_t(mo.mixer.expand * mo.mixer.d_model));
  msg.set_state_size(std::uint32_t(mo.mixer.state_size));
  msg.set_seed(info.seed);
  msg.set_step(info.step);
  const at::Tensor pred = prediction.cpu(), conf = confidence.cpu().contiguous();
  for (std::int64_t b = 0; b < batch.B; ++b) {
    auto* seq = msg.add_sequences();
    for (std::int64_t t = 0; t < batch.L; ++t) {
      seq->add_tokens(batch.tokens[std::size_t(b * batch.L + t)]);
      seq->add_targets(batch.targets[std::size_t(b * batch.L + t)]);
      seq->add_predictions(pred[b][t].item<std::int64_t>());
      seq->add_confidence(conf[b][t].item<float>());
    }
    for (const auto& [block, trace] : traces) {
      auto* layer = seq->add_layers();
      layer->set_block(std::uint32_t(block));
      const at::Tensor y_var = trace.y_var[b].to(at::kFloat).cpu().contiguous();           // [L, M]
      const at::Tensor state = trace.state_variance[b].to(at::kFloat).cpu().contiguous();  // [L, M, S]
      layer->mutable_y_var()->Add(y_var.data_ptr<float>(), y_var.data_ptr<float>() + y_var.numel());
      if (info.state_variance)
        layer->mutable_state_variance()->Add(state.data_ptr<float>(), state.data_ptr<float>() + state.numel());
      const at::Tensor mean = state.mean({1, 2}).contiguous();  // [L]
      layer->mutable_mean_state_variance()->Add(mean.data_ptr<float>(), mean.data_ptr<float>() + mean.numel());
    }
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out || !msg.SerializeToOstream(&out) || !out.flush())
      throw TrainError("export: cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw TrainError("export: cannot rename " + tmp + " to " + path + ": " + ec.message());
}

#endif

}  // namespace kalmanscan::kla::nn
