// The training run behind `kalmanscan-train` (issue 6): a Tagger (model.hpp) on a task (tasks.hpp)
// trained with AdamW, gradient clipping and a warmup + cosine or step schedule; held-out evaluation
// at the training length and at longer lengths; checkpoints; CSV and JSON-lines logs written as
// they come; the per-token posterior variance export. No LibTorch types here, so the command-line
// program stays a light translation unit.
//
// Files in out_dir (when set):
//   config.json     the configuration of the run
//   metrics.csv     one row per logged training window and per evaluation:
//                   step,split,length,loss,token_accuracy,sequence_accuracy,lr,elapsed_s
//   metrics.jsonl   the same rows as JSON objects, one per line
//   checkpoint.pt   model, optimizer and step (written every checkpoint_every steps and at the end)
//   summary.json    the final evaluations, step count and wall-clock time
//   kla_stats.csv   KLA models only: the layers' process-noise statistics (kla_stats.hpp) on 64
//                   sequences of the training length, before training and at every evaluation:
//                   step,block,share_mean,share_p90,share_above_10pct,p_bar_median,a_bar_sq_median,lam_median,
//                   logit_change,prediction_change
#pragma once

#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace kalmanscan::kla::nn {

/// A failed run: non-finite loss, unreadable checkpoint, mismatched model, unwritable output.
class TrainError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TrainConfig {
  std::string task = "parity";  ///< a5 | s5 | z5 | parity | mqar
  std::string mixer = "kla";    ///< kla | gla | linear | attention
  std::int64_t blocks = 1, d_model = 64, heads = 1, state_size = 16, expand = 1;
  double p_init = 1.0;  ///< KLA: initial OU diffusion p (mixers.hpp, MixerOptions::p_init)
  bool tie_embeddings = false;  ///< head = embedding matrix (model.hpp; tasks whose classes are their tokens)
  std::int64_t seq_len = 16, steps = 1000, batch = 64;
  double lr = 1e-3, weight_decay = 0.1, grad_clip = 1.0;
  std::int64_t warmup = 100;
  std::string schedule = "cosine";  ///< cosine (to 0 at `steps`) | step (×gamma every step_size steps)
  std::int64_t step_size = 1000;
  double gamma = 0.5;
  std::uint64_t seed = 0;
  std::string device = "cpu";  ///< cpu | cuda | cuda:N
  std::string scan = "auto";   ///< KLA scan: auto | op | recurrent (mixers.hpp, ScanImpl)
  /// auto | on | off: capture the training step in a CUDA graph after a few eager steps and replay
  /// it (auto: on with a CUDA device where the build has CUDA, and where the capture fails the run
  /// goes on eagerly, TrainSummary::graph_fallback saying why; on: a failed capture is a
  /// TrainError; on with --device cpu is refused). The same arithmetic as off: evaluation,
  /// logging and checkpoints stay eager.
  std::string cuda_graph = "auto";
  std::string out_dir;         ///< empty: write no files
  std::int64_t log_every = 50, eval_every = 500, eval_sequences = 512;
  std::vector<std::int64_t> eval_lengths;  ///< held-out lengths besides seq_len
  double target_accuracy = 0;  ///< stop once held-out token accuracy at seq_len reaches it; 0 = never
  std::int64_t checkpoint_every = 0;  ///< 0: only at the end
  std::string resume;                 ///< checkpoint to continue from (same model and optimizer)
  std::string export_path;            ///< write the KLA uncertainty export here after training
  std::int64_t export_sequences = 4, export_length = 0;  ///< export_length 0 = seq_len
  std::int64_t vocab = 8192, pairs = 0;                  ///< mqar (tasks.hpp)
  std::int64_t threads = 0;                              ///< CPU threads; 0 = LibTorch's default
  bool progress = true;                                  ///< a progress line on stderr
};

struct EvalResult {
  std::int64_t step = 0, length = 0;
  double loss = 0, token_accuracy = 0, sequence_accuracy = 0;
};

struct TrainSummary {
  std::int64_t first_step = 0, steps = 0;  ///< steps run: first_step … steps−1
  std::vector<double> losses;              ///< training loss of every step run
  std::vector<EvalResult> evals;           ///< every evaluation, in order
  double seconds = 0;
  double loop_seconds = 0;          ///< the training loop alone (steps, logs, evaluations, checkpoints)
  std::int64_t graph_replays = 0;  ///< steps run by replaying the CUDA graph
  std::string graph_fallback;       ///< --cuda-graph auto: why the capture failed (empty: it did not)
  bool reached_target = false;
  std::int64_t parameters = 0;
};

/// Trains as configured; throws kla::Error for a bad configuration and TrainError for a failed
/// run. Same configuration and seed → the same losses on the same device and thread count.
TrainSummary train(const TrainConfig& config, std::ostream* progress_stream = nullptr);

}  // namespace kalmanscan::kla::nn
