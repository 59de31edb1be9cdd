#include "kalmanscan/kla/torch/export.hpp"

#include <torch/torch.h>

#include "kalmanscan/kla/error.hpp"
#include "kalmanscan/kla/torch/export_data.hpp"

namespace kalmanscan::kla::nn {

namespace {

template <class T>
std::vector<T> values(const at::Tensor& t, at::ScalarType dtype) {
  const at::Tensor c = t.to(at::kCPU, dtype).contiguous();
  return {c.data_ptr<T>(), c.data_ptr<T>() + c.numel()};
}

}  // namespace

void export_uncertainty(const std::string& path, Tagger& model, const Batch& batch, const ExportInfo& info) {
  torch::NoGradGuard no_grad;
  const auto& mo = model->options();
  if (mo.mixer.kind != MixerKind::kla && mo.mixer.kind != MixerKind::linear)
    throw Error("export: the model's mixer is " + mixer_name(mo.mixer.kind) + ", which has no posterior variance");
  const torch::Device device = model->parameters().front().device();
  const at::Tensor tokens =
      torch::from_blob(const_cast<std::int64_t*>(batch.tokens.data()), {batch.B, batch.L}, torch::kLong).to(device);
  const auto [confidence, prediction] = at::softmax(model->forward(tokens).to(at::kFloat), -1).max(-1);
  const auto traces = model->kla_traces(tokens);

  ExportData d{info.task,
               mixer_name(mo.mixer.kind),
               std::uint32_t(mo.blocks),
               std::uint32_t(mo.mixer.d_model),
               std::uint32_t(mo.mixer.expand * mo.mixer.d_model),
               std::uint32_t(mo.mixer.state_size),
               info.seed,
               info.step,
               {}};
  for (std::int64_t b = 0; b < batch.B; ++b) {
    const auto row = [&](const std::vector<std::int64_t>& v) {
      return std::vector<std::int64_t>(v.begin() + b * batch.L, v.begin() + (b + 1) * batch.L);
    };
    ExportSequence seq{row(batch.tokens), row(batch.targets), values<std::int64_t>(prediction[b], at::kLong),
                       values<float>(confidence[b], at::kFloat), {}};
    for (const auto& [block, trace] : traces) {
      const at::Tensor state = trace.state_variance[b];  // [L, M, S]
      seq.layers.push_back({std::uint32_t(block), values<float>(trace.y_var[b], at::kFloat),
                            info.state_variance ? values<float>(state, at::kFloat) : std::vector<float>{},
                            values<float>(state.mean({1, 2}), at::kFloat)});
    }
    d.sequences.push_back(std::move(seq));
  }
  write_export(path, d);
}

}  // namespace kalmanscan::kla::nn
