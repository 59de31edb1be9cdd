#include "kalmanscan/kla/torch/trainer.hpp"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "kalmanscan/kla/error.hpp"
#include "kalmanscan/kla/torch/checkpoint.hpp"
#include "kalmanscan/kla/torch/export.hpp"
#include "kalmanscan/kla/torch/kla_stats.hpp"
#include "kalmanscan/kla/torch/model.hpp"
#include "kalmanscan/kla/torch/multi_tensor_step.hpp"
#include "kalmanscan/kla/torch/tasks.hpp"
#include "kalmanscan/kla/torch/step_graph.hpp"
#include "training_step.hpp"

namespace kalmanscan::kla::nn {

using at::Tensor;

// ---------------------------------------------------------------- checkpoints

ModelOptions model_options(const TrainConfig& c) {
  const Task task(TaskOptions{parse_task(c.task), c.vocab, c.pairs});
  MixerOptions mo;
  mo.kind = parse_mixer(c.mixer);
  mo.d_model = c.d_model;
  mo.heads = c.heads;
  mo.state_size = c.state_size;
  mo.expand = c.expand;
  mo.p_init = c.p_init;
  mo.scan = c.scan == "op" ? ScanImpl::op : c.scan == "recurrent" ? ScanImpl::recurrent : ScanImpl::automatic;
  return ModelOptions{task.vocab(), task.classes(), c.blocks, mo, c.tie_embeddings};
}

void save_checkpoint(const std::string& path, Tagger& model, torch::optim::Optimizer* optimizer, std::int64_t step) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive;
  model->save(model_archive);
  archive.write("model", model_archive);
  if (optimizer) {
    torch::serialize::OutputArchive opt_archive;
    optimizer->save(opt_archive);
    archive.write("optimizer", opt_archive);
  }
  archive.write("step", c10::IValue(step));
  archive.write("model_options", c10::IValue(model->options().to_string()));
  const std::string tmp = path + ".tmp";
  try {
    archive.save_to(tmp);
  } catch (const c10::Error& e) {
    throw TrainError("checkpoint: cannot write " + tmp + ": " + e.what_without_backtrace());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw TrainError("checkpoint: cannot rename " + tmp + " to " + path + ": " + ec.message());
}

std::int64_t load_checkpoint(const std::string& path, Tagger& model, torch::optim::Optimizer* optimizer) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    c10::IValue spec, step;
    archive.read("model_options", spec);
    if (spec.toStringRef() != model->options().to_string())
      throw TrainError("checkpoint " + path + " holds the model '" + spec.toStringRef() + "', not '" +
                       model->options().to_string() + "'");
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    model->load(model_archive);
    if (optimizer) {
      torch::serialize::InputArchive opt_archive;
      archive.read("optimizer", opt_archive);
      optimizer->load(opt_archive);
    }
    archive.read("step", step);
    return step.toInt();
  } catch (const c10::Error& e) {
    throw TrainError("checkpoint: cannot read " + path + ": " + e.what_without_backtrace());
  }
}

// ---------------------------------------------------------------- the run

namespace {

// Streams of the run's seed (tasks.hpp, derive_seed).
constexpr std::uint64_t train_stream = 0, export_stream = 1, stats_stream = 2, eval_stream_base = 1000;

// A JSON string's contents: quotes and backslashes escaped, control characters (an error
// message's line breaks) as \u00XX.
std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(static_cast<unsigned char>(c)));
      out += buf;
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string config_json(const TrainConfig& c) {
  std::ostringstream s;
  s << "{\"task\": \"" << json_escape(c.task) << "\", \"mixer\": \"" << json_escape(c.mixer) << "\", \"blocks\": " << c.blocks
    << ", \"d_model\": " << c.d_model << ", \"heads\": " << c.heads << ", \"state_size\": " << c.state_size
    << ", \"expand\": " << c.expand << ", \"p_init\": " << c.p_init
    << ", \"tie_embeddings\": " << (c.tie_embeddings ? "true" : "false") << ", \"seq_len\": " << c.seq_len
    << ", \"steps\": " << c.steps
    << ", \"batch\": " << c.batch << ", \"lr\": " << c.lr << ", \"weight_decay\": " << c.weight_decay
    << ", \"grad_clip\": " << c.grad_clip << ", \"warmup\": " << c.warmup << ", \"schedule\": \""
    << json_escape(c.schedule) << "\", \"step_size\": " << c.step_size << ", \"gamma\": " << c.gamma
    << ", \"seed\": " << c.seed << ", \"device\": \"" << json_escape(c.device) << "\", \"scan\": \""
    << json_escape(c.scan) << "\", \"cuda_graph\": \"" << json_escape(c.cuda_graph) << "\", \"eval_every\": "
    << c.eval_every << ", \"eval_sequences\": " << c.eval_sequences
    << ", \"eval_lengths\": [";
  for (std::size_t i = 0; i < c.eval_lengths.size(); ++i) s << (i ? ", " : "") << c.eval_lengths[i];
  s << "], \"target_accuracy\": " << c.target_accuracy << ", \"vocab\": " << c.vocab << ", \"pairs\": " << c.pairs
    << "}\n";
  return s.str();
}

// metrics.csv and metrics.jsonl, one row per record, flushed as written.
class MetricsLog {
 public:
  MetricsLog(const std::string& dir, bool append) {
    if (dir.empty()) return;
    const auto mode = append ? std::ios::app : std::ios::trunc;
    const std::string csv_path = dir + "/metrics.csv";
    const bool header = !append || !std::filesystem::exists(csv_path);
    csv_.open(csv_path, std::ios::out | mode);
    jsonl_.open(dir + "/metrics.jsonl", std::ios::out | mode);
    if (!csv_ || !jsonl_) throw TrainError("train: cannot write the logs in " + dir);
    if (header) csv_ << "step,split,length,loss,token_accuracy,sequence_accuracy,lr,elapsed_s\n" << std::flush;
  }
  void row(std::int64_t step, const char* split, std::int64_t length, double loss, double token_acc, double seq_acc,
           double lr, double elapsed) {
    if (!csv_.is_open()) return;
    csv_ << step << ',' << split << ',' << length << ',' << loss << ',' << token_acc << ',' << seq_acc << ',' << lr
         << ',' << elapsed << '\n'
         << std::flush;
    jsonl_ << "{\"step\": " << step << ", \"split\": \"" << split << "\", \"length\": " << length
           << ", \"loss\": " << json_number(loss) << ", \"token_accuracy\": " << token_acc
           << ", \"sequence_accuracy\": " << seq_acc << ", \"lr\": " << lr << ", \"elapsed_s\": " << elapsed << "}\n"
           << std::flush;
  }
  static std::string json_number(double x) {
    if (!std::isfinite(x)) return "null";
    std::ostringstream s;
    s << std::setprecision(9) << x;
    return s.str();
  }

 private:
  std::ofstream csv_, jsonl_;
};

// kla_stats.csv (trainer.hpp): the KLA layers' statistics on fixed sequences, one row per layer.
class KlaStatsLog {
 public:
  KlaStatsLog(const std::string& dir, bool append, bool has_kla, const Tensor& tokens) : tokens_(tokens) {
    if (dir.empty() || !has_kla) return;
    const std::string path = dir + "/kla_stats.csv";
    const bool header = !append || !std::filesystem::exists(path);
    csv_.open(path, std::ios::out | (append ? std::ios::app : std::ios::trunc));
    if (!csv_) throw TrainError("train: cannot write " + path);
    if (header)
      csv_ << "step,block,share_mean,share_p90,share_above_10pct,p_bar_median,a_bar_sq_median,lam_median,logit_change,"
              "prediction_change\n"
           << std::flush;
  }
  void row(std::int64_t step, Tagger& model) {
    if (!csv_.is_open()) return;
    for (const KlaStats& s : kla_stats(model, tokens_))
      csv_ << step << ',' << s.block << ',' << s.share_mean << ',' << s.share_p90 << ',' << s.share_above_10pct << ','
           << s.p_bar_median << ',' << s.a_bar_sq_median << ',' << s.lam_median << ',' << s.logit_change << ','
           << s.prediction_change << '\n';
    csv_ << std::flush;
  }

 private:
  Tensor tokens_;
  std::ofstream csv_;
};

EvalResult evaluate(Tagger& model, const Task& task, const TrainConfig& c, std::int64_t length, std::int64_t step,
                    const torch::Device& device) {
  torch::NoGradGuard no_grad;
  model->eval();
  Accuracy acc;
  double loss_sum = 0;
  std::int64_t batches = 0;
  const std::uint64_t seed = derive_seed(c.seed, eval_stream_base + std::uint64_t(length));
  for (std::int64_t first = 0; first < c.eval_sequences; first += c.batch, ++batches) {
    const std::int64_t n = std::min(c.batch, c.eval_sequences - first);
    const Tensors b = to_tensors(task.sample(n, length, seed, std::uint64_t(first)), device);
    const Tensor logits = model->forward(b.tokens, b.positions);
    loss_sum += token_loss(logits, b.targets).item<double>();
    acc.add(logits, b.targets);
  }
  model->train();
  const Accuracy::Values a = acc.read();
  return {step, length, batches ? loss_sum / double(batches) : 0.0, a.token, a.sequence};
}

double learning_rate(const TrainConfig& c, std::int64_t step) {
  if (step < c.warmup) return c.lr * double(step + 1) / double(c.warmup);
  if (c.schedule == "step") return c.lr * std::pow(c.gamma, double((step - c.warmup) / std::max<std::int64_t>(1, c.step_size)));
  const double progress = double(step - c.warmup) / double(std::max<std::int64_t>(1, c.steps - c.warmup));
  return 0.5 * c.lr * (1.0 + std::cos(M_PI * std::min(progress, 1.0)));
}

void validate(const TrainConfig& c) {
  auto positive = [](const char* name, std::int64_t v) {
    if (v <= 0) throw Error(std::string("train: --") + name + " must be positive, got " + std::to_string(v));
  };
  positive("blocks", c.blocks);
  positive("d-model", c.d_model);
  positive("heads", c.heads);
  positive("state-size", c.state_size);
  positive("expand", c.expand);
  positive("seq-len", c.seq_len);
  positive("batch", c.batch);
  positive("eval-every", c.eval_every);
  positive("log-every", c.log_every);
  positive("eval-sequences", c.eval_sequences);
  if (c.steps < 0) throw Error("train: --steps must be ≥ 0");
  if (!(c.lr > 0)) throw Error("train: --lr must be positive");
  if (c.schedule != "cosine" && c.schedule != "step")
    throw Error("train: --schedule must be cosine or step, got '" + c.schedule + "'");
  if (c.scan != "auto" && c.scan != "op" && c.scan != "recurrent")
    throw Error("train: --scan must be auto, op or recurrent, got '" + c.scan + "'");
  for (std::int64_t l : c.eval_lengths) positive("eval-lengths", l);
  // Non-negative finite reals; !(v >= 0) also refuses NaN.
  auto non_negative = [](const char* name, double v) {
    if (!(v >= 0) || !std::isfinite(v))
      throw Error(std::string("train: --") + name + " must be finite and ≥ 0, got " + std::to_string(v));
  };
  non_negative("weight-decay", c.weight_decay);
  non_negative("grad-clip", c.grad_clip);
  non_negative("warmup", double(c.warmup));
  non_negative("checkpoint-every", double(c.checkpoint_every));
  non_negative("export-length", double(c.export_length));
  non_negative("threads", double(c.threads));
  if (!(c.target_accuracy >= 0 && c.target_accuracy <= 1))
    throw Error("train: --target-accuracy must be in [0, 1], got " + std::to_string(c.target_accuracy));
  if (c.schedule == "step") {
    positive("step-size", c.step_size);
    if (!(c.gamma > 0 && c.gamma <= 1))
      throw Error("train: --gamma must be in (0, 1] for the step schedule, got " + std::to_string(c.gamma));
  }
  if (!c.export_path.empty()) positive("export-sequences", c.export_sequences);
  if (c.cuda_graph != "auto" && c.cuda_graph != "on" && c.cuda_graph != "off")
    throw Error("train: --cuda-graph must be auto, on or off, got '" + c.cuda_graph + "'");
  if (c.cuda_graph == "on" && c.device == "cpu")
    throw Error("train: --cuda-graph on needs --device cuda (a CUDA graph replays GPU work); use --cuda-graph off or auto "
                "with --device cpu");
  // torch::Device would throw a c10::Error with a stack trace for anything else.
  const bool cuda_index = c.device.size() > 5 && c.device.rfind("cuda:", 0) == 0 &&
                          c.device.find_first_not_of("0123456789", 5) == std::string::npos;
  if (c.device != "cpu" && c.device != "cuda" && !cuda_index)
    throw Error("train: --device must be cpu, cuda or cuda:N, got '" + c.device + "'");
}

std::string duration(double s) {
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  else std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  return buf;
}

}  // namespace

TrainSummary train(const TrainConfig& c, std::ostream* progress) {
  validate(c);
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  if (c.threads > 0) at::set_num_threads(int(c.threads));
  torch::manual_seed(c.seed);
  const torch::Device device(c.device);
  if (device.is_cuda() && !torch::cuda::is_available())
    throw Error("train: --device " + c.device + " but LibTorch sees no CUDA device");

  const Task task(TaskOptions{parse_task(c.task), c.vocab, c.pairs});
  const ModelOptions model_spec = model_options(c);
  Tagger model(model_spec);
  model->to(device);

  // AdamW; weight decay on the weight matrices only (takes_weight_decay: not on biases, gains and
  // the KLA's OU parameters, whose decay would pull p̄ to 0).
  std::vector<Tensor> decay, no_decay;
  for (const auto& item : model->named_parameters())
    if (item.value().requires_grad())
      (takes_weight_decay(item.key(), item.value()) ? decay : no_decay).push_back(item.value());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(c.lr).weight_decay(c.weight_decay).betas({0.9, 0.98})));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(c.lr).weight_decay(0.0).betas({0.9, 0.98})));
  MultiTensorAdamW optimizer(std::move(groups));
  std::vector<Tensor> trainable = decay;
  trainable.insert(trainable.end(), no_decay.begin(), no_decay.end());

  TrainSummary summary;
  for (const auto& p : trainable) summary.parameters += p.numel();
  if (!c.resume.empty()) summary.first_step = load_checkpoint(c.resume, model, &optimizer);
  summary.steps = summary.first_step;

  if (!c.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(c.out_dir, ec);
    if (ec) throw TrainError("train: cannot create " + c.out_dir + ": " + ec.message());
    std::ofstream(c.out_dir + "/config.json") << config_json(c);
  }
  MetricsLog log(c.out_dir, !c.resume.empty());
  const bool has_kla = model_spec.mixer.kind == MixerKind::kla || model_spec.mixer.kind == MixerKind::linear;
  KlaStatsLog stats(c.out_dir, !c.resume.empty(), has_kla,
                    to_tensors(task.sample(64, c.seq_len, derive_seed(c.seed, stats_stream)), device).tokens);
  if (c.resume.empty()) stats.row(0, model);
  const std::string checkpoint_path = c.out_dir.empty() ? "" : c.out_dir + "/checkpoint.pt";
  std::vector<std::int64_t> lengths{c.seq_len};
  lengths.insert(lengths.end(), c.eval_lengths.begin(), c.eval_lengths.end());

  const std::uint64_t train_seed = derive_seed(c.seed, train_stream);
  double window_loss = 0;
  std::int64_t window = 0;
  double lr = c.lr;
  // The training losses stay on the device until read back here, once per log window, evaluation
  // and checkpoint (a read per step would synchronise the device every step); a non-finite loss
  // is reported with its step before anything is logged or saved after it.
  std::vector<Tensor> pending_losses;
  auto read_back_losses = [&] {
    if (pending_losses.empty()) return;
    const Tensor values = torch::stack(pending_losses).to(torch::kCPU, torch::kDouble);
    const std::int64_t first = summary.steps - std::int64_t(pending_losses.size());
    pending_losses.clear();
    for (std::int64_t i = 0; i < values.size(0); ++i) {
      const double v = values[i].item<double>();
      if (!std::isfinite(v))
        throw TrainError("train: the loss is " + std::to_string(v) + " at step " + std::to_string(first + i) + " (" +
                         c.mixer + ", lr " + std::to_string(learning_rate(c, first + i)) + ")");
      summary.losses.push_back(v);
      window_loss += v;
    }
  };
  // With a CUDA graph the rest of the run (steps, evaluations, checkpoints) uses its side stream.
  // auto: where a capture fails, say why and go on eagerly; on: stop with the reason.
  using GraphUse = TrainingStep::GraphUse;
  const GraphUse graph_use = c.cuda_graph == "on" ? GraphUse::required
                             : c.cuda_graph == "auto" && device.is_cuda() && StepGraph::available()
                                 ? GraphUse::where_possible
                                 : GraphUse::off;
  TrainingStep training_step(model, trainable, optimizer, c.grad_clip, device, graph_use);
  Accuracy& window_acc = training_step.window_accuracy();
  model->train();
  const double loop_start = elapsed();
  for (std::int64_t step = summary.first_step; step < c.steps; ++step) {
    lr = learning_rate(c, step);
    for (auto& g : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    pending_losses.push_back(
        training_step.run(task.sample(c.batch, c.seq_len, train_seed, std::uint64_t(step * c.batch))));
    summary.steps = step + 1;
    ++window;

    const bool last = step + 1 == c.steps;
    if ((step + 1) % c.log_every == 0 || last) {
      read_back_losses();
      const Accuracy::Values acc = window_acc.read();
      log.row(step + 1, "train", c.seq_len, window_loss / double(window), acc.token, acc.sequence, lr, elapsed());
      if (progress) {
        const double rate = double(step + 1 - summary.first_step) / std::max(elapsed(), 1e-9);
        std::ostringstream line;
        line << "step " << step + 1 << "/" << c.steps << "  loss " << std::setprecision(4) << window_loss / double(window)
             << "  acc " << std::fixed << std::setprecision(1) << 100 * acc.token << "%";
        if (!summary.evals.empty())
          line << "  held-out@" << summary.evals.back().length << " " << 100 * summary.evals.back().token_accuracy << "%";
        line << "  " << std::setprecision(1) << rate << " it/s  eta " << duration(double(c.steps - step - 1) / rate);
        *progress << '\r' << line.str() << "   " << std::flush;
      }
      window_loss = 0;
      window_acc.reset();
      window = 0;
    }
    if ((step + 1) % c.eval_every == 0 || last) {
      read_back_losses();
      bool reached = false;
      for (std::int64_t len : lengths) {
        const EvalResult r = evaluate(model, task, c, len, step + 1, device);
        summary.evals.push_back(r);
        log.row(step + 1, "eval", len, r.loss, r.token_accuracy, r.sequence_accuracy, lr, elapsed());
        if (len == c.seq_len && c.target_accuracy > 0 && r.token_accuracy >= c.target_accuracy) reached = true;
      }
      stats.row(step + 1, model);
      if (reached) {
        summary.reached_target = true;
        break;
      }
    }
    if (!checkpoint_path.empty() && c.checkpoint_every > 0 && (step + 1) % c.checkpoint_every == 0) {
      read_back_losses();
      save_checkpoint(checkpoint_path, model, &optimizer, step + 1);
    }
  }
  read_back_losses();
  summary.loop_seconds = elapsed() - loop_start;
  summary.graph_replays = training_step.replays();
  summary.graph_fallback = training_step.graph_fallback();
  if (progress) *progress << '\n';
  if (c.steps == summary.first_step)  // nothing to train (e.g. --steps 0 with --resume): evaluate once
    for (std::int64_t len : lengths) summary.evals.push_back(evaluate(model, task, c, len, summary.steps, device));
  if (!checkpoint_path.empty()) save_checkpoint(checkpoint_path, model, &optimizer, summary.steps);
  summary.seconds = elapsed();

  if (!c.export_path.empty()) {
    const std::int64_t len = c.export_length > 0 ? c.export_length : c.seq_len;
    const Batch b = task.sample(c.export_sequences, len, derive_seed(c.seed, export_stream));
    export_uncertainty(c.export_path, model, b, ExportInfo{c.task, c.seed, std::uint64_t(summary.steps)});
  }
  if (!c.out_dir.empty()) {
    std::ofstream s(c.out_dir + "/summary.json");
    s << "{\"steps\": " << summary.steps << ", \"seconds\": " << summary.seconds
      << ", \"parameters\": " << summary.parameters << ", \"reached_target\": " << (summary.reached_target ? "true" : "false")
      << ", \"loop_seconds\": " << summary.loop_seconds << ", \"graph_replays\": " << summary.graph_replays
      << ", \"graph_fallback\": \"" << json_escape(summary.graph_fallback) << "\""
      << ", \"final_evals\": [";
    bool first = true;
    for (const EvalResult& r : summary.evals)
      if (r.step == summary.steps) {
        s << (first ? "" : ", ") << "{\"length\": " << r.length << ", \"loss\": " << MetricsLog::json_number(r.loss)
          << ", \"token_accuracy\": " << r.token_accuracy << ", \"sequence_accuracy\": " << r.sequence_accuracy << "}";
        first = false;
      }
    s << "]}\n";
  }
  return summary;
}

}  // namespace kalmanscan::kla::nn
