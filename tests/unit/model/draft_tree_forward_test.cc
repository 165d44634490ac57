// The CPU forward over a speculative draft tree (ForwardBatch::tree_parents): each node's logits
// are bitwise those of a plain forward of its root-to-node path, a chain given as a tree is the
// plain step, the accepted path's K/V moved into place (kv_move_from / kv_move_to) serves the next
// step as if the path had been decoded, and the batch check refuses malformed trees and moves.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "model/cpu_model.h"
#include "test_model.h"

namespace kiln {
namespace {

using testing::make_batch;
using testing::make_test_model;
using testing::SeqStep;
using testing::TestModel;
using testing::TestModelSpec;

constexpr int kBlockSize = 4;

std::unique_ptr<CpuModel> make_model(const TestModel& m, DType kv_dtype = DType::kF32) {
  CpuModelOptions options;
  options.num_blocks = 32;
  options.block_size = kBlockSize;
  options.num_threads = 2;
  options.kv_cache_dtype = kv_dtype;
  if (kv_dtype == DType::kF8E4M3) options.kv_scales.assign(2 * static_cast<size_t>(m.config.num_hidden_layers), 0.05f);
  auto model = CpuModel::create(m.config, m.weights, options);
  EXPECT_TRUE(model.ok()) << model.message();
  return std::move(model).value();
}

std::vector<int32_t> blocks(int first, int count) {
  std::vector<int32_t> b;
  for (int i = 0; i < count; ++i) b.push_back(first + 2 * i);  // scattered: every other block
  return b;
}

// The last row's logits of a plain prefill of `tokens` in a fresh cache.
std::vector<float> plain_last_logits(const TestModel& m, DType kv_dtype, const std::vector<int32_t>& tokens) {
  auto model = make_model(m, kv_dtype);
  std::vector<float> logits;
  const Status status = model->forward(make_batch({{tokens, static_cast<int>(tokens.size()), blocks(1, 8), false}}, kBlockSize), &logits);
  EXPECT_TRUE(status.ok()) << status.message();
  return logits;
}

// A step feeding `root` then the draft nodes (tokens, parents as in engine/spec/draft_tree.h)
// after `prefix`, every row with logits.
ForwardBatch tree_step(const std::vector<int32_t>& prefix, int32_t root, const std::vector<int32_t>& tokens,
                       const std::vector<int32_t>& parents, const std::vector<int32_t>& table) {
  std::vector<int32_t> fed = prefix;
  fed.push_back(root);
  fed.insert(fed.end(), tokens.begin(), tokens.end());
  ForwardBatch b = make_batch({{fed, 1 + static_cast<int>(tokens.size()), table, true}}, kBlockSize);
  b.tree_parents = {-1};
  const int root_position = static_cast<int>(prefix.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    b.tree_parents.push_back(1 + parents[i]);
    b.positions[1 + i] = b.positions[static_cast<size_t>(1 + parents[i])] + 1;
  }
  EXPECT_EQ(b.positions[0], root_position);
  return b;
}

class DraftTreeForwardTest : public ::testing::TestWithParam<DType> {};

TEST_P(DraftTreeForwardTest, NodesGetTheirPathsLogitsAndAcceptedKvServesTheNextStep) {
  TestModelSpec spec;
  const auto m = make_test_model(spec);
  const DType kv = GetParam();
  const std::vector<int32_t> prefix = {5, 17, 3, 88, 41, 9, 60};
  const int32_t root = 23;
  // Nodes: 0 and 1 children of the root, 2 under 0, 3 and 4 under 1, 5 under 4.
  const std::vector<int32_t> tokens = {11, 70, 2, 35, 64, 19};
  const std::vector<int32_t> parents = {-1, -1, 0, 1, 1, 4};
  const std::vector<int32_t> table = blocks(1, 8);
  auto model = make_model(*m, kv);
  std::vector<float> logits;
  ASSERT_TRUE(model->forward(make_batch({{prefix, static_cast<int>(prefix.size()), table, false}}, kBlockSize), &logits).ok());
  ASSERT_TRUE(model->forward(tree_step(prefix, root, tokens, parents, table), &logits).ok());
  const size_t vocab = static_cast<size_t>(spec.vocab);
  ASSERT_EQ(logits.size(), (1 + tokens.size()) * vocab);
  for (int node = -1; node < static_cast<int>(tokens.size()); ++node) {
    std::vector<int32_t> path;
    for (int n = node; n >= 0; n = parents[static_cast<size_t>(n)]) path.insert(path.begin(), tokens[static_cast<size_t>(n)]);
    std::vector<int32_t> plain = prefix;
    plain.push_back(root);
    plain.insert(plain.end(), path.begin(), path.end());
    const std::vector<float> expected = plain_last_logits(*m, kv, plain);
    EXPECT_EQ(0, std::memcmp(expected.data(), logits.data() + static_cast<size_t>(node + 1) * vocab, vocab * sizeof(float)))
        << "node " << node;
  }
  // Accept root -> node 1 -> node 4 -> node 5 (token 19's row's choice is the bonus): nodes 1, 4, 5
  // sit in the slots of positions 9, 12, 13 and move to 8, 9, 10; the next step decodes at 11.
  const std::vector<int32_t> accepted = {70, 64, 19};
  const int32_t bonus = 44;
  std::vector<int32_t> sequence = prefix;
  sequence.push_back(root);
  sequence.insert(sequence.end(), accepted.begin(), accepted.end());
  sequence.push_back(bonus);
  ForwardBatch next = make_batch({{sequence, 1, table, false}}, kBlockSize);
  const auto slot = [&](int p) { return static_cast<int64_t>(table[static_cast<size_t>(p / kBlockSize)]) * kBlockSize + p % kBlockSize; };
  next.kv_move_from = {slot(9), slot(12), slot(13)};
  next.kv_move_to = {slot(8), slot(9), slot(10)};
  ASSERT_TRUE(model->forward(next, &logits).ok());
  const std::vector<float> expected = plain_last_logits(*m, kv, sequence);
  EXPECT_EQ(0, std::memcmp(expected.data(), logits.data(), vocab * sizeof(float)));
  // Without the moves the step reads the rejected nodes' entries: the check above can fail.
  auto unmoved = make_model(*m, kv);
  ASSERT_TRUE(unmoved->forward(make_batch({{prefix, static_cast<int>(prefix.size()), table, false}}, kBlockSize), &logits).ok());
  ASSERT_TRUE(unmoved->forward(tree_step(prefix, root, tokens, parents, table), &logits).ok());
  next.kv_move_from.clear();
  next.kv_move_to.clear();
  ASSERT_TRUE(unmoved->forward(next, &logits).ok());
  EXPECT_NE(0, std::memcmp(expected.data(), logits.data(), vocab * sizeof(float)));
}

TEST_P(DraftTreeForwardTest, AChainGivenAsATreeIsThePlainStep) {
  const auto m = make_test_model(TestModelSpec{});
  const std::vector<int32_t> tokens = {5, 17, 3, 88, 41, 9, 60, 12, 30, 77};
  const std::vector<int32_t> table = blocks(2, 3);
  std::vector<float> prefill, plain, tree;
  for (bool as_tree : {false, true}) {
    auto model = make_model(*m, GetParam());
    ASSERT_TRUE(model->forward(make_batch({{std::vector<int32_t>(tokens.begin(), tokens.begin() + 6), 6, table, false}}, kBlockSize), &prefill).ok());
    ForwardBatch step = make_batch({{tokens, 4, table, true}}, kBlockSize);
    if (as_tree) step.tree_parents = {-1, 0, 1, 2};
    ASSERT_TRUE(model->forward(step, as_tree ? &tree : &plain).ok());
  }
  ASSERT_EQ(plain.size(), tree.size());
  EXPECT_EQ(0, std::memcmp(plain.data(), tree.data(), plain.size() * sizeof(float)));
}

INSTANTIATE_TEST_SUITE_P(KvCache, DraftTreeForwardTest, ::testing::Values(DType::kF32, DType::kF8E4M3),
                         [](const auto& info) { return std::string(info.param == DType::kF32 ? "f32" : "fp8"); });

TEST(DraftTreeForwardTest, RejectsMalformedTreesAndMoves) {
  const auto m = make_test_model(TestModelSpec{});
  auto model = make_model(*m);
  const std::vector<int32_t> table = blocks(1, 4);
  const ForwardBatch good = tree_step({1, 2, 3, 4, 5}, 6, {7, 8, 9}, {-1, -1, 0}, table);
  std::vector<float> logits;
  ASSERT_TRUE(model->forward(good, &logits).ok());
  auto expect_error = [&](const ForwardBatch& batch, const std::string& fragment) {
    const Status status = model->forward(batch, &logits);
    ASSERT_FALSE(status.ok()) << fragment;
    EXPECT_NE(status.message().find(fragment), std::string::npos) << status.message();
  };
  ForwardBatch b = good;
  b.tree_parents[2] = 2;  // itself
  expect_error(b, "has tree parent 2");
  b = good;
  b.tree_parents[0] = 0;  // the first new token has none
  expect_error(b, "has tree parent 0");
  b = good;
  b.positions[3] = 8;  // node 2 is a grandchild: position 7
  expect_error(b, "its tree parent implies 7");
  b = good;
  b.tree_parents.pop_back();
  expect_error(b, "tree_parents must be empty or hold one parent per token");
  b = good;
  b.kv_move_from = {3};
  expect_error(b, "differ in length");
  b = good;
  b.kv_move_from = {9, 200};
  b.kv_move_to = {8, 9};
  expect_error(b, "leaves the cache's 128 slots");
  b.kv_move_from = {9, 8};
  expect_error(b, "reads slot 8, which an earlier move wrote");
}

}  // namespace
}  // namespace kiln
