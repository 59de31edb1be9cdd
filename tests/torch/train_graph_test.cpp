// The trainer's CUDA-graph step (--cuda-graph on; kalmanscan/kla/torch/step_graph.hpp) against the
// eager step it wraps: the same run from the same seed, step for step (losses) and at the end (every
// parameter); a run resumed from a graph-trained checkpoint continuing the uninterrupted graph run;
// StepGraph replaying what it captured, and failing loudly when the captured work synchronises
// with the host. The GPU tests skip (with the reason) without a CUDA device or a CUDA build.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "kalmanscan/kla/error.hpp"
#include "kalmanscan/kla/torch/checkpoint.hpp"
#include "kalmanscan/kla/torch/step_graph.hpp"
#include "kalmanscan/kla/torch/trainer.hpp"
#include "train_support.hpp"

namespace kalmanscan::kla::nn {
namespace {


#define SKIP_WITHOUT_CUDA_GRAPHS()                                                              \
  do {                                                                                          \
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";                         \
    if (!StepGraph::available()) GTEST_SKIP() << "kalmanscan_torch built without CUDA graphs"; \
  } while (0)

using testing::scratch;

// A small two-block run on the GPU whose learning rate changes at every step (warmup, then cosine)
// and whose gradients are clipped: a graph that baked in the first step's scalars would diverge.
TrainConfig small_gpu_run(const std::string& mixer, const std::string& cuda_graph) {
  TrainConfig c = testing::tiny("a5", mixer);
  c.blocks = 2;
  c.heads = 2;
  c.steps = 30;
  c.grad_clip = 0.5;
  c.eval_every = 1000;  // once, at the end
  c.log_every = 10;
  c.device = "cuda";
  c.cuda_graph = cuda_graph;
  return c;
}

// The trained parameters, read back from the run's final checkpoint.
std::vector<at::Tensor> parameters_of(const TrainConfig& c) {
  Tagger model(model_options(c));
  model->to(torch::kCUDA);
  load_checkpoint(c.out_dir + "/checkpoint.pt", model, nullptr);
  std::vector<at::Tensor> out;
  for (const auto& p : model->parameters()) out.push_back(p.detach().to(torch::kCPU, torch::kDouble));
  return out;
}

struct Difference {
  double loss = 0, parameter = 0;  // largest relative difference of a step's loss, of a tensor (normwise)
  bool bitwise = true;
};

Difference difference(const TrainSummary& a, const std::vector<at::Tensor>& pa, const TrainSummary& b,
                      const std::vector<at::Tensor>& pb) {
  Difference d;
  EXPECT_EQ(a.losses.size(), b.losses.size());
  for (std::size_t i = 0; i < std::min(a.losses.size(), b.losses.size()); ++i) {
    d.loss = std::max(d.loss, std::abs(a.losses[i] - b.losses[i]) / std::abs(b.losses[i]));
    d.bitwise &= a.losses[i] == b.losses[i];
  }
  EXPECT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < std::min(pa.size(), pb.size()); ++i) {
    const double den = pb[i].norm().item<double>(), num = (pa[i] - pb[i]).norm().item<double>();
    d.parameter = std::max(d.parameter, den > 0 ? num / den : num);
    d.bitwise &= torch::equal(pa[i], pb[i]);
  }
  return d;
}

class TrainCudaGraph : public ::testing::TestWithParam<std::string> {};

// 30 steps eager, twice, and 30 steps with the graph (3 eager warm-up steps, then 27 replays), from
// the same seed. fp32 tolerance 1e-5 relative (per step's loss; per parameter tensor, normwise):
// the KLA op's backward sums ā, p̄, k and q gradients over blocks with atomics, so two eager runs
// may already differ in the last bits and 30 AdamW steps carry that along. Where the two eager runs
// agree bit for bit (the kernels are deterministic on this device), the graph run must too.
// The run `base` (device cuda) eager twice and with the graph; `label` names its scratch directories.
void expect_graph_matches_eager(const TrainConfig& base, const std::string& label) {
  auto run = [&](const std::string& name, const std::string& graph) {
    TrainConfig c = base;
    c.cuda_graph = graph;
    c.out_dir = scratch(label + "_" + name).string();
    const TrainSummary s = train(c);
    return std::make_pair(s, parameters_of(c));
  };
  const auto [eager, eager_params] = run("eager", "off");
  const auto [again, again_params] = run("eager_again", "off");
  const auto [graph, graph_params] = run("graph", "on");
  EXPECT_EQ(eager.graph_replays, 0);
  EXPECT_EQ(graph.graph_replays, base.steps - 3) << "the graph run did not replay a captured step";
  ASSERT_EQ(graph.losses.size(), std::size_t(base.steps));

  const Difference repeat = difference(again, again_params, eager, eager_params);
  const Difference d = difference(graph, graph_params, eager, eager_params);
  std::cout << "[ " << label << " ] graph vs eager: loss " << d.loss << ", parameters " << d.parameter
            << (d.bitwise ? " (bitwise equal)" : "") << "; eager vs eager: loss " << repeat.loss << ", parameters "
            << repeat.parameter << (repeat.bitwise ? " (bitwise equal)" : "") << "\n";
  EXPECT_LE(d.loss, 1e-5) << label;
  EXPECT_LE(d.parameter, 1e-5) << label;
  if (repeat.bitwise) {
    EXPECT_TRUE(d.bitwise) << label << ": eager runs are bitwise reproducible, the graph run is not";
  }
  // The run trained (the comparison is not between two untouched models).
  EXPECT_LT(eager.losses.back(), eager.losses.front()) << label;
}

TEST_P(TrainCudaGraph, MatchesTheEagerRunStepForStep) {
  SKIP_WITHOUT_CUDA_GRAPHS();
  expect_graph_matches_eager(small_gpu_run(GetParam(), "off"), GetParam());
}

// MQAR: the head at the asked positions only (the graph's batch holds them), tied embeddings.
TEST(TrainCudaGraphMqar, MatchesTheEagerRunStepForStep) {
  SKIP_WITHOUT_CUDA_GRAPHS();
  for (const std::string mixer : {"kla", "attention"}) {
    TrainConfig c = small_gpu_run(mixer, "off");
    c.task = "mqar";
    c.vocab = 64;
    c.pairs = 4;
    c.seq_len = 32;
    c.tie_embeddings = true;
    expect_graph_matches_eager(c, "mqar_" + mixer);
  }
}

INSTANTIATE_TEST_SUITE_P(Mixers, TrainCudaGraph, ::testing::Values("kla", "linear", "gla", "attention"),
                         [](const ::testing::TestParamInfo<std::string>& mixer) { return mixer.param; });

// Steps 0–11 with the graph, checkpoint, then 12–23 from the checkpoint with a new graph (3 eager
// warm-up steps from the restored optimizer state, then replays), against 0–23 in one graph run.
// The step schedule makes the learning rate independent of --steps. Tolerance as above.
TEST(TrainCudaGraphResume, ContinuesTheUninterruptedGraphRun) {
  SKIP_WITHOUT_CUDA_GRAPHS();
  TrainConfig c = small_gpu_run("kla", "on");
  c.steps = 24;
  c.schedule = "step";
  c.step_size = 5;
  c.gamma = 0.7;
  c.out_dir = scratch("resume_whole").string();
  const TrainSummary whole = train(c);
  const auto whole_params = parameters_of(c);

  TrainConfig first = c;
  first.steps = 12;
  first.out_dir = scratch("resume_parts").string();
  const TrainSummary a = train(first);
  TrainConfig second = c;
  second.out_dir = first.out_dir;
  second.resume = first.out_dir + "/checkpoint.pt";
  const TrainSummary b = train(second);
  EXPECT_EQ(b.first_step, 12);
  EXPECT_EQ(a.graph_replays, 12 - 3);
  EXPECT_EQ(b.graph_replays, 12 - 3);

  TrainSummary joined = a;
  joined.losses.insert(joined.losses.end(), b.losses.begin(), b.losses.end());
  const Difference d = difference(joined, parameters_of(second), whole, whole_params);
  std::cout << "resumed graph run vs uninterrupted: loss " << d.loss << ", parameters " << d.parameter
            << (d.bitwise ? " (bitwise equal)" : "") << "\n";
  EXPECT_LE(d.loss, 1e-5);
  EXPECT_LE(d.parameter, 1e-5);
}

// The captured work runs on every replay, reading the inputs as they are then: x ← 2x + y.
TEST(StepGraph, ReplaysTheCapturedWorkOnCurrentInputs) {
  SKIP_WITHOUT_CUDA_GRAPHS();
  const auto o = torch::TensorOptions(torch::kFloat).device(torch::kCUDA);
  at::Tensor x = torch::ones({5}, o), y = torch::zeros({5}, o);
  StepGraph graph(torch::Device(torch::kCUDA));
  auto step = [&] { x.mul_(2).add_(y); };
  step();  // eager: x = 2
  graph.capture(step);
  EXPECT_TRUE(graph.captured());
  EXPECT_EQ(x[0].item<float>(), 2.0f) << "capturing ran the work";
  y.fill_(1);
  graph.replay();  // x = 5
  y.fill_(3);
  graph.replay();  // x = 13
  EXPECT_TRUE(torch::equal(x.cpu(), torch::full({5}, 13.0f)));
}

TEST(StepGraph, CaptureThatReadsBackToTheHostFailsLoudly) {
  SKIP_WITHOUT_CUDA_GRAPHS();
  const auto o = torch::TensorOptions(torch::kFloat).device(torch::kCUDA);
  at::Tensor x = torch::ones({5}, o);
  {
    StepGraph graph(torch::Device(torch::kCUDA));
    try {
      graph.capture([&] { x.mul_(x.sum().item<float>()); });
      ADD_FAILURE() << "a step with .item() was captured";
    } catch (const TrainError& e) {
      EXPECT_NE(std::string(e.what()).find("synchronises with the host"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("--cuda-graph off"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(graph.captured());
  }
  // The device, the caching allocator and the device's random numbers are usable afterwards (the
  // generator left in capture mode made every later torch::randn on the device throw).
  x.add_(1);
  EXPECT_TRUE(torch::equal(x.cpu(), torch::full({5}, 2.0f)));
  torch::manual_seed(3);
  const at::Tensor drawn = torch::randn({1000}, o);
  EXPECT_TRUE(torch::isfinite(drawn).all().item<bool>());
  EXPECT_GT(drawn.std().item<float>(), 0.5f);
}

// Where the build has no CUDA graphs, asking for one says so and names the way out.
TEST(StepGraph, UnavailableBuildSaysSo) {
  if (StepGraph::available()) GTEST_SKIP() << "this build has CUDA graphs";
  try {
    StepGraph graph(torch::Device(torch::kCUDA));
    ADD_FAILURE() << "constructed without CUDA graph support";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--cuda-graph off"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kalmanscan::kla::nn
