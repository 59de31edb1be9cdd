// The task generators against brute force: the groups by enumeration of permutations of 5 points,
// the word-problem targets by applying the permutations to points one after another, parity by
// counting, MQAR by reading every query's answer back from the sequence's key-value prefix.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "kalmanscan/kla/error.hpp"
#include "kalmanscan/kla/torch/tasks.hpp"

namespace kalmanscan::kla::nn {
namespace {

int sign_by_cycles(const Permutation& p) {  // (−1)^(n − cycles), independent of inversion counting
  std::array<bool, 5> seen{};
  int cycles = 0;
  for (int i = 0; i < 5; ++i) {
    if (seen[std::size_t(i)]) continue;
    ++cycles;
    for (int j = i; !seen[std::size_t(j)]; j = p[std::size_t(j)]) seen[std::size_t(j)] = true;
  }
  return (5 - cycles) % 2 == 0 ? 1 : -1;
}

TEST(Groups, SizesParityAndClosure) {
  const auto a5 = group_elements(TaskKind::a5), s5 = group_elements(TaskKind::s5), z5 = group_elements(TaskKind::z5);
  EXPECT_EQ(a5.size(), 60u);
  EXPECT_EQ(s5.size(), 120u);
  EXPECT_EQ(z5.size(), 5u);
  const Permutation id{0, 1, 2, 3, 4};
  for (const auto* g : {&a5, &s5, &z5}) {
    EXPECT_EQ(g->front(), id);
    const std::set<Permutation> set(g->begin(), g->end());
    EXPECT_EQ(set.size(), g->size());  // distinct
    for (const auto& x : *g)
      for (const auto& y : *g) EXPECT_TRUE(set.count(compose(x, y))) << "not closed";
  }
  for (const auto& p : a5) EXPECT_EQ(sign_by_cycles(p), 1);
  int odd = 0;
  for (const auto& p : s5) odd += sign_by_cycles(p) == -1;
  EXPECT_EQ(odd, 60);
  EXPECT_THROW(group_elements(TaskKind::parity), Error);
}

// y_t = x_1 · … · x_t, (σ·τ)(i) = σ(τ(i)): the image of point i is found by applying x_t, then
// x_{t−1}, …, then x_1 — straight from the definition, O(L²), without compose() or a table.
TEST(WordProblems, TargetsAreRunningProductsByBruteForce) {
  for (TaskKind kind : {TaskKind::a5, TaskKind::s5, TaskKind::z5}) {
    const Task task(TaskOptions{kind});
    const auto g = group_elements(kind);
    EXPECT_EQ(task.vocab(), std::int64_t(g.size()));
    const Batch b = task.sample(6, 17, 1234);
    for (std::int64_t s = 0; s < b.B; ++s)
      for (std::int64_t t = 0; t < b.L; ++t) {
        Permutation image{};
        for (std::uint8_t i = 0; i < 5; ++i) {
          std::uint8_t point = i;
          for (std::int64_t j = t; j >= 0; --j) point = g[std::size_t(b.tokens[std::size_t(s * b.L + j)])][point];
          image[i] = point;
        }
        const auto target = b.targets[std::size_t(s * b.L + t)];
        ASSERT_GE(target, 0);
        EXPECT_EQ(g[std::size_t(target)], image) << task_name(kind) << " sequence " << s << " token " << t;
      }
  }
}

TEST(WordProblems, TokensCoverTheGroupUniformly) {
  const Task task(TaskOptions{TaskKind::a5});
  const Batch b = task.sample(200, 60, 99);
  std::map<std::int64_t, int> count;
  for (auto x : b.tokens) ++count[x];
  EXPECT_EQ(count.size(), 60u);
  for (const auto& [x, n] : count) EXPECT_NEAR(n, 200, 70) << "element " << x;  // 12000 draws / 60
}

TEST(Parity, TargetsArePrefixParities) {
  const Task task(TaskOptions{TaskKind::parity});
  const Batch b = task.sample(5, 31, 7);
  for (std::int64_t s = 0; s < b.B; ++s)
    for (std::int64_t t = 0; t < b.L; ++t) {
      int ones = 0;
      for (std::int64_t j = 0; j <= t; ++j) ones += b.tokens[std::size_t(s * b.L + j)] == 1;
      EXPECT_EQ(b.targets[std::size_t(s * b.L + t)], ones % 2);
    }
}

TEST(Mqar, QueriesAskForTheValuePairedInThePrefix) {
  TaskOptions o{TaskKind::mqar};
  o.vocab = 64;
  o.pairs = 6;
  const Task task(o);
  const Batch b = task.sample(8, 40, 5);
  for (std::int64_t s = 0; s < b.B; ++s) {
    const std::int64_t* x = &b.tokens[std::size_t(s * b.L)];
    const std::int64_t* y = &b.targets[std::size_t(s * b.L)];
    std::map<std::int64_t, std::int64_t> kv;
    for (std::int64_t i = 0; i < o.pairs; ++i) {
      EXPECT_TRUE(x[2 * i] >= 1 && x[2 * i] < 32) << "key in the lower half";
      EXPECT_TRUE(x[2 * i + 1] >= 32 && x[2 * i + 1] < 64) << "value in the upper half";
      EXPECT_TRUE(kv.emplace(x[2 * i], x[2 * i + 1]).second) << "keys distinct";
      EXPECT_EQ(y[2 * i], ignore);
    }
    std::set<std::int64_t> asked;
    for (std::int64_t t = 2 * o.pairs; t < b.L; ++t) {
      if (y[t] == ignore) continue;
      ASSERT_TRUE(kv.count(x[t])) << "a query is a key of the prefix";
      EXPECT_EQ(y[t], kv.at(x[t]));
      EXPECT_EQ(x[t + 1], y[t]) << "the value follows its query, as in Zoology";
      EXPECT_EQ((t - 2 * o.pairs) % 2, 0);
      asked.insert(x[t]);
    }
    EXPECT_EQ(asked.size(), std::size_t(o.pairs)) << "every key queried once";
  }
  EXPECT_THROW(task.sample(1, 20, 0), Error);  // 20 < 4·6
}

// Batch::asked lists, per sequence and ascending, exactly the positions whose target is not
// `ignore` (the model's head runs there only); tasks with a target everywhere leave it empty.
TEST(Mqar, AskedPositionsAreTheTargetedOnes) {
  TaskOptions o{TaskKind::mqar};
  o.vocab = 64;
  o.pairs = 5;
  const Batch b = Task(o).sample(6, 48, 9);
  ASSERT_EQ(b.asked.size(), std::size_t(6 * 5));
  EXPECT_EQ(b.asked_per_sequence(), 5);
  for (std::int64_t s = 0; s < b.B; ++s) {
    std::vector<std::int64_t> targeted;
    for (std::int64_t t = 0; t < b.L; ++t)
      if (b.targets[std::size_t(s * b.L + t)] != ignore) targeted.push_back(t);
    EXPECT_EQ(targeted, std::vector<std::int64_t>(b.asked.begin() + s * 5, b.asked.begin() + (s + 1) * 5)) << s;
  }
  EXPECT_TRUE(Task(TaskOptions{TaskKind::a5}).sample(2, 8, 1).asked.empty());
  EXPECT_TRUE(Task(TaskOptions{TaskKind::parity}).sample(2, 8, 1).asked.empty());
}

TEST(Sampling, SameSeedSameDataAndSequencesIndependentOfTheBatch) {
  const Task task(TaskOptions{TaskKind::s5});
  const Batch a = task.sample(4, 9, 42), b = task.sample(4, 9, 42), c = task.sample(2, 9, 42, 2);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.targets, b.targets);
  EXPECT_TRUE(std::equal(c.tokens.begin(), c.tokens.end(), a.tokens.begin() + 2 * 9));
  EXPECT_NE(task.sample(4, 9, 43).tokens, a.tokens);
  EXPECT_THROW(parse_task("a6"), Error);
}

TEST(SplitMix64, MatchesThePublishedSequence) {
  // Reference outputs of SplitMix64 seeded with 1234567 (Vigna, splitmix64.c).
  SplitMix64 g(1234567);
  EXPECT_EQ(g.next(), 6457827717110365317ULL);
  EXPECT_EQ(g.next(), 3203168211198807973ULL);
  EXPECT_EQ(g.next(), 9817491932198370423ULL);
}

}  // namespace
}  // namespace kalmanscan::kla::nn
