#include "kalmanscan/viz/kla_heatmap.hpp"

#include <cmath>
#include <fstream>

#include "kalmanscan/viz/error.hpp"

namespace kalmanscan::viz {

proto::KlaUncertaintyExport read_kla_export(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open for reading");
  proto::KlaUncertaintyExport e;
  if (!e.ParseFromIstream(&in)) throw Error(path.string() + ": not a KlaUncertaintyExport message");
  if (e.version().major() != 1)
    throw Error(path.string() + ": field 'version.major': expected 1, found " + std::to_string(e.version().major()));
  return e;
}

KlaHeatmap kla_heatmap(const proto::KlaUncertaintyExport& e, std::size_t sequence, std::size_t layer) {
  const std::string where = "KLA export, sequence " + std::to_string(sequence) + ", layer " + std::to_string(layer);
  if (sequence >= static_cast<std::size_t>(e.sequences_size()))
    throw Error(where + ": the export has " + std::to_string(e.sequences_size()) + " sequences");
  const proto::KlaSequence& seq = e.sequences(int(sequence));
  if (layer >= static_cast<std::size_t>(seq.layers_size()))
    throw Error(where + ": the sequence has " + std::to_string(seq.layers_size()) + " KLA layers");
  const proto::KlaLayerVariance& lv = seq.layers(int(layer));
  KlaHeatmap h;
  h.channels = e.channels();
  if (h.channels == 0) throw Error(where + ": field 'channels' is 0");
  if (lv.y_var_size() % h.channels != 0)
    throw Error(where + ": field 'y_var': expected L·" + std::to_string(h.channels) + " values, found " +
                std::to_string(lv.y_var_size()));
  h.tokens = static_cast<std::size_t>(lv.y_var_size()) / h.channels;
  if (seq.tokens_size() != 0 && static_cast<std::size_t>(seq.tokens_size()) != h.tokens)
    throw Error(where + ": field 'tokens': expected L = " + std::to_string(h.tokens) + " values, found " +
                std::to_string(seq.tokens_size()));
  if (lv.mean_state_variance_size() != 0 && static_cast<std::size_t>(lv.mean_state_variance_size()) != h.tokens)
    throw Error(where + ": field 'mean_state_variance': expected L = " + std::to_string(h.tokens) + " values, found " +
                std::to_string(lv.mean_state_variance_size()));
  h.y_var.assign(lv.y_var().begin(), lv.y_var().end());
  for (std::size_t i = 0; i < h.y_var.size(); ++i)
    if (!(h.y_var[i] >= 0) || !std::isfinite(h.y_var[i]))
      throw Error(where + ": field 'y_var' [t=" + std::to_string(i / h.channels) + ", m=" + std::to_string(i % h.channels) +
                  "]: expected a finite variance >= 0, found " + std::to_string(h.y_var[i]));
  h.per_token.resize(h.tokens);
  for (std::size_t t = 0; t < h.tokens; ++t) {
    if (lv.mean_state_variance_size() != 0) {
      h.per_token[t] = lv.mean_state_variance(int(t));
    } else {
      double sum = 0;
      for (std::size_t m = 0; m < h.channels; ++m) sum += h.y_var[t * h.channels + m];
      h.per_token[t] = sum / static_cast<double>(h.channels);
    }
  }
  h.input_tokens.assign(seq.tokens().begin(), seq.tokens().end());
  h.title = e.task() + " / " + e.mixer() + " — sequence " + std::to_string(sequence) + ", block " +
            std::to_string(lv.block()) + " (L = " + std::to_string(h.tokens) + ", M = " + std::to_string(h.channels) + ")";
  return h;
}

}  // namespace kalmanscan::viz
