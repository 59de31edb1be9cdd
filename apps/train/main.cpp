// kalmanscan-train: trains a token-tagging model with a KLA or baseline mixer on a state-tracking
// task (issue 6; kla/torch/include/kalmanscan/kla/torch/trainer.hpp), e.g.
//   kalmanscan-train --task a5 --mixer kla --blocks 1 --d-model 128 --seq-len 8 --steps 10000
//                    --batch 256 --lr 1e-3 --seed 0 --device cuda --out runs/a5-kla-1
// Exit status: 0 success, 1 the run failed, 2 bad command line.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <exception>
#include <iostream>

#include "kalmanscan/config.hpp"
#include "kalmanscan/kla/torch/trainer.hpp"

int main(int argc, char** argv) {
  using kalmanscan::kla::nn::TrainConfig;
  TrainConfig c;
  bool quiet = false;
  CLI::App app{"kalmanscan-train " KALMANSCAN_VERSION
               ": train KLA and baseline sequence mixers on state-tracking tasks (A5/S5 word problems, parity, MQAR)",
               "kalmanscan-train"};
  app.set_version_flag("--version", KALMANSCAN_VERSION);
  app.add_option("--task", c.task, "a5 | s5 | z5 | parity | mqar")
      ->check(CLI::IsMember({"a5", "s5", "z5", "parity", "mqar"}))
      ->capture_default_str();
  app.add_option("--mixer", c.mixer, "kla | gla | linear (KLA with p̄ at its floor) | attention")
      ->check(CLI::IsMember({"kla", "gla", "linear", "attention"}))
      ->capture_default_str();
  app.add_option("--blocks", c.blocks, "residual blocks (mixer + MLP)")->capture_default_str();
  app.add_option("--d-model", c.d_model, "model width")->capture_default_str();
  app.add_option("--heads", c.heads, "heads (KLA: channel groups sharing k, q)")->capture_default_str();
  app.add_option("--state-size", c.state_size, "KLA slots per channel / GLA key size per head")->capture_default_str();
  app.add_option("--expand", c.expand, "KLA inner width = expand · d-model")->capture_default_str();
  app.add_option("--p-init", c.p_init, "KLA: initial OU diffusion p (p̄ ≈ p²Δ at init)")->capture_default_str();
  app.add_option("--seq-len", c.seq_len, "training sequence length")->capture_default_str();
  app.add_option("--steps", c.steps, "optimizer steps")->capture_default_str();
  app.add_option("--batch", c.batch, "sequences per step")->capture_default_str();
  app.add_option("--lr", c.lr, "peak learning rate (AdamW)")->capture_default_str();
  app.add_option("--weight-decay", c.weight_decay, "AdamW weight decay (matrices only)")->capture_default_str();
  app.add_option("--grad-clip", c.grad_clip, "clip the gradient norm to this (0: off)")->capture_default_str();
  app.add_option("--warmup", c.warmup, "linear warmup steps")->capture_default_str();
  app.add_option("--schedule", c.schedule, "after warmup: cosine (to 0) | step (×gamma every step-size)")
      ->check(CLI::IsMember({"cosine", "step"}))
      ->capture_default_str();
  app.add_option("--step-size", c.step_size, "step schedule: steps between decays")->capture_default_str();
  app.add_option("--gamma", c.gamma, "step schedule: decay factor")->capture_default_str();
  app.add_option("--seed", c.seed, "seed of the data, the initialisation and the held-out sets")->capture_default_str();
  app.add_option("--device", c.device, "cpu | cuda | cuda:N")->capture_default_str();
  app.add_option("--scan", c.scan, "KLA scan: auto (op where it has a kernel) | op | recurrent (torch ops)")
      ->check(CLI::IsMember({"auto", "op", "recurrent"}))
      ->capture_default_str();
  app.add_option("--cuda-graph", c.cuda_graph,
                 "auto | on | off: replay the training step as one CUDA graph, captured after 3 eager steps (auto: on "
                 "with --device cuda; same arithmetic, far fewer launches for small models)")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  app.add_option("--out", c.out_dir,
                 "directory for config.json, metrics.csv/.jsonl, checkpoint.pt, summary.json (KLA: kla_stats.csv)");
  app.add_option("--log-every", c.log_every, "steps per training log row")->capture_default_str();
  app.add_option("--eval-every", c.eval_every, "steps between held-out evaluations")->capture_default_str();
  app.add_option("--eval-sequences", c.eval_sequences, "held-out sequences per evaluated length")->capture_default_str();
  app.add_option("--eval-lengths", c.eval_lengths, "further held-out lengths (e.g. longer than --seq-len)")
      ->delimiter(',');
  app.add_option("--target-accuracy", c.target_accuracy,
                 "stop once held-out token accuracy at --seq-len reaches this (0: never)")
      ->capture_default_str();
  app.add_option("--checkpoint-every", c.checkpoint_every, "steps between checkpoints (0: only at the end)")
      ->capture_default_str();
  app.add_option("--resume", c.resume, "continue from this checkpoint");
  app.add_option("--export-uncertainty", c.export_path,
                 "after training, write the KLA posterior variances on held-out sequences (kla_export.proto)");
  app.add_option("--export-sequences", c.export_sequences, "sequences in the export")->capture_default_str();
  app.add_option("--export-length", c.export_length, "length of the exported sequences (0: --seq-len)")
      ->capture_default_str();
  app.add_flag("--tie-embeddings", c.tie_embeddings,
               "head = embedding matrix, no bias (mqar, as Zoology's models; needs classes = vocab)");
  app.add_option("--vocab", c.vocab, "mqar: vocabulary size")->capture_default_str();
  app.add_option("--pairs", c.pairs, "mqar: key-value pairs (0: seq-len/16)")->capture_default_str();
  app.add_option("--threads", c.threads, "CPU threads (0: LibTorch's default)")->capture_default_str();
  app.add_flag("--quiet", quiet, "no progress line");
  app.footer("Exit status: 0 success, 1 a bad configuration (the message names the option) or a failed run, 2 a\n"
             "command-line error. The tasks, schedules and files: docs/TORCH.md.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  c.progress = !quiet;
  try {
    const auto s = kalmanscan::kla::nn::train(c, c.progress ? &std::cerr : nullptr);
    const std::int64_t run = s.steps - s.first_step;
    std::cout << "trained " << s.steps << " steps (" << s.parameters << " parameters) in " << s.seconds << " s"
              << (s.reached_target ? ", target accuracy reached" : "") << "\n";
    if (run > 0)
      std::cout << "  training loop: " << run << " steps in " << s.loop_seconds << " s = "
                << double(run) / std::max(s.loop_seconds, 1e-9) << " steps/s (" << s.graph_replays
                << " of them CUDA graph replays)\n";
    if (!s.graph_fallback.empty()) std::cout << "  CUDA graph given up, the steps ran eagerly: " << s.graph_fallback << "\n";
    for (const auto& r : s.evals)
      if (r.step == s.steps)
        std::cout << "  held-out length " << r.length << ": token accuracy " << r.token_accuracy
                  << ", sequence accuracy " << r.sequence_accuracy << ", loss " << r.loss << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "kalmanscan-train: error: " << e.what() << "\n";
    return 1;
  }
}
