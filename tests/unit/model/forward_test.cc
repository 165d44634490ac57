// The CPU forward pass: against a double-precision reference, and the paged-execution properties
// the engine relies on (prefill = decode = chunked prefill, batch invariance, scattered blocks).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
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

std::vector<int32_t> random_tokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (int32_t& t : tokens) t = dist(rng);
  return tokens;
}

std::vector<int32_t> blocks_for(int n, int first, int stride = 1) {
  std::vector<int32_t> blocks;
  for (int i = 0; i < (n + kBlockSize - 1) / kBlockSize; ++i) blocks.push_back(first + i * stride);
  return blocks;
}

std::unique_ptr<CpuModel> make_cpu_model(const TestModel& m, int threads = 2,
                                         std::optional<cpu::Isa> isa = std::nullopt) {
  CpuModelOptions options;
  options.num_blocks = 64;
  options.block_size = kBlockSize;
  options.num_threads = threads;
  options.isa = isa;
  auto model = CpuModel::create(m.config, m.weights, options);
  EXPECT_TRUE(model.ok()) << model.message();
  return std::move(model).value();
}

// Runs `tokens` through in steps of the given sizes; returns the logits of every position.
std::vector<float> run_in_chunks(CpuModel* model, const std::vector<int32_t>& tokens,
                                 const std::vector<int32_t>& blocks,
                                 const std::vector<int>& chunks) {
  std::vector<float> all;
  int done = 0;
  for (int chunk : chunks) {
    SeqStep step{std::vector<int32_t>(tokens.begin(), tokens.begin() + done + chunk), chunk, blocks,
                 true};
    std::vector<float> logits;
    const Status status = model->forward(make_batch({step}, kBlockSize), &logits);
    EXPECT_TRUE(status.ok()) << status.message();
    all.insert(all.end(), logits.begin(), logits.end());
    done += chunk;
  }
  EXPECT_EQ(done, static_cast<int>(tokens.size()));
  return all;
}

struct NamedSpec {
  const char* name;
  TestModelSpec spec;
};

std::vector<NamedSpec> specs() {
  std::vector<NamedSpec> out;
  out.push_back({"llama_gqa_f32", TestModelSpec{}});
  TestModelSpec qwen;
  qwen.architecture = Architecture::kQwen2;
  qwen.kv_heads = 1;  // MQA
  qwen.tied = true;
  qwen.seed = 2;
  out.push_back({"qwen2_bias_mqa_tied", qwen});
  TestModelSpec llama3;
  llama3.hidden = 128;
  llama3.heads = 2;
  llama3.kv_heads = 1;
  llama3.head_dim = 64;
  llama3.dtype = DType::kBF16;
  llama3.rope_theta = 500000.0;
  llama3.rope_scaling.type = RopeType::kLlama3;
  llama3.rope_scaling.factor = 8.0;
  llama3.rope_scaling.original_max_position_embeddings = 16;  // so all three bands occur
  llama3.seed = 3;
  out.push_back({"llama3_rope_bf16_hd64", llama3});
  TestModelSpec linear;
  linear.dtype = DType::kF16;
  linear.head_dim = 32;
  linear.heads = 4;
  linear.kv_heads = 4;
  linear.rope_scaling.type = RopeType::kLinear;
  linear.rope_scaling.factor = 2.0;
  linear.layers = 1;
  linear.seed = 4;
  out.push_back({"linear_rope_f16_mha", linear});
  TestModelSpec yarn;
  yarn.rope_scaling.type = RopeType::kYarn;
  yarn.rope_scaling.factor = 4.0;
  yarn.rope_scaling.original_max_position_embeddings = 32;
  yarn.seed = 5;
  out.push_back({"yarn_rope", yarn});
  return out;
}

void PrintTo(const NamedSpec& spec, std::ostream* os) { *os << spec.name; }

class ForwardTest : public ::testing::TestWithParam<NamedSpec> {};

TEST_P(ForwardTest, MatchesDoubleReference) {
  const auto m = make_test_model(GetParam().spec);
  const std::vector<int32_t> tokens = random_tokens(37, m->config.vocab_size, 11);
  const std::vector<double> ref = testing::reference_logits(*m, tokens);
  for (cpu::Isa isa : {cpu::Isa::kScalar, cpu::detect_isa()}) {
    auto model = make_cpu_model(*m, 2, isa);
    const std::vector<float> ours = run_in_chunks(model.get(), tokens, blocks_for(37, 0), {37});
    ASSERT_EQ(ours.size(), ref.size());
    double worst = 0;
    for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::abs(ours[i] - ref[i]));
    EXPECT_LT(worst, 1e-4) << cpu::isa_name(isa);
    double largest = 0;
    for (double r : ref) largest = std::max(largest, std::abs(r));
    EXPECT_GT(largest, 1.0) << "logits too flat for the comparison to mean much";
  }
}

TEST_P(ForwardTest, PrefillDecodeAndChunkedPrefillAgree) {
  const auto m = make_test_model(GetParam().spec);
  const int n = 30;
  const std::vector<int32_t> tokens = random_tokens(n, m->config.vocab_size, 12);
  auto model = make_cpu_model(*m);
  const std::vector<float> full = run_in_chunks(model.get(), tokens, blocks_for(n, 0), {n});
  const std::vector<float> decode =
      run_in_chunks(model.get(), tokens, blocks_for(n, 10), std::vector<int>(n, 1));
  const std::vector<float> chunked =
      run_in_chunks(model.get(), tokens, blocks_for(n, 20), {5, 1, 7, 4, 13});
  ASSERT_EQ(full.size(), decode.size());
  ASSERT_EQ(full.size(), chunked.size());
  for (size_t i = 0; i < full.size(); ++i) {
    ASSERT_NEAR(decode[i], full[i], 1e-5) << i;
    ASSERT_NEAR(chunked[i], full[i], 1e-5) << i;
  }
  // Stronger than the tolerance: each row's arithmetic is the same whatever the step shape.
  EXPECT_EQ(0, std::memcmp(full.data(), decode.data(), full.size() * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(full.data(), chunked.data(), full.size() * sizeof(float)));
}

INSTANTIATE_TEST_SUITE_P(Shapes, ForwardTest, ::testing::ValuesIn(specs()),
                         [](const auto& info) { return std::string(info.param.name); });

// One sequence's logits are bitwise the same alone and in a mixed batch of prefill chunks and
// decodes of other sequences, with scattered, interleaved block tables and any thread count.
TEST(ForwardBatchTest, BatchInvarianceWithScatteredBlocks) {
  TestModelSpec spec;
  spec.architecture = Architecture::kQwen2;
  const auto m = make_test_model(spec);
  const std::vector<int32_t> a = random_tokens(23, spec.vocab, 21);
  const std::vector<int32_t> b = random_tokens(17, spec.vocab, 22);
  const std::vector<int32_t> c = random_tokens(9, spec.vocab, 23);

  // Alone: contiguous blocks, one thread, prefill 20 then 3 decodes.
  auto alone_model = make_cpu_model(*m, 1);
  const std::vector<float> alone =
      run_in_chunks(alone_model.get(), a, blocks_for(23, 0), {20, 1, 1, 1});

  // Together, three threads; a's blocks scattered and interleaved with b's and c's.
  auto model = make_cpu_model(*m, 3);
  const std::vector<int32_t> blocks_a = {40, 3, 17, 8, 61, 22};
  const std::vector<int32_t> blocks_b = {5, 41, 0, 30, 9};
  const std::vector<int32_t> blocks_c = {12, 60, 33};
  std::vector<float> together;
  std::vector<float> logits;
  // Step 1: b's first 10 tokens, a's first 20, c's first 8.
  ForwardBatch step1 =
      make_batch({{std::vector<int32_t>(b.begin(), b.begin() + 10), 10, blocks_b, false},
                  {std::vector<int32_t>(a.begin(), a.begin() + 20), 20, blocks_a, true},
                  {std::vector<int32_t>(c.begin(), c.begin() + 8), 8, blocks_c, true}},
                 kBlockSize);
  ASSERT_TRUE(model->forward(step1, &logits).ok());
  // a's rows are logits rows 1..20 (b contributes one row first).
  together.insert(together.end(), logits.begin() + spec.vocab, logits.begin() + 21 * spec.vocab);
  for (int i = 0; i < 3; ++i) {
    // a decodes while b prefills its next chunk and c decodes.
    const int a_len = 21 + i, b_len = 10 + 2 * (i + 1);
    std::vector<SeqStep> seqs;
    if (i == 0) seqs.push_back({c, 1, blocks_c, false});  // c's last token, then c is done
    seqs.push_back({std::vector<int32_t>(b.begin(), b.begin() + b_len), 2, blocks_b, true});
    seqs.push_back({std::vector<int32_t>(a.begin(), a.begin() + a_len), 1, blocks_a, false});
    const ForwardBatch step = make_batch(seqs, kBlockSize);
    ASSERT_TRUE(model->forward(step, &logits).ok());
    const size_t a_row = logits.size() / spec.vocab - 1;  // a is last with one logits row
    together.insert(together.end(), logits.begin() + a_row * spec.vocab, logits.end());
  }
  ASSERT_EQ(alone.size(), together.size());
  EXPECT_EQ(0, std::memcmp(alone.data(), together.data(), alone.size() * sizeof(float)));
}

TEST(ForwardBatchTest, RejectsInconsistentBatches) {
  const auto m = make_test_model(TestModelSpec{});
  auto model = make_cpu_model(*m);
  // 2 layers x K and V x 4 tokens x 2 KV heads x 16 dims x 4 bytes.
  EXPECT_EQ(model->kv_cache_shape().block_bytes(), 2 * 2 * 4 * 2 * 16 * 4);
  EXPECT_EQ(model->kv_cache_shape().size_bytes(), 64 * model->kv_cache_shape().block_bytes());
  const std::vector<int32_t> tokens = random_tokens(6, m->config.vocab_size, 31);
  const ForwardBatch good = make_batch({{tokens, 6, {0, 1}, false}}, kBlockSize);
  std::vector<float> logits;
  ASSERT_TRUE(model->forward(good, &logits).ok());
  EXPECT_EQ(logits.size(), static_cast<size_t>(m->config.vocab_size));

  auto expect_error = [&](ForwardBatch batch, const std::string& fragment) {
    const Status status = model->forward(batch, &logits);
    ASSERT_FALSE(status.ok()) << fragment;
    EXPECT_NE(status.message().find(fragment), std::string::npos) << status.message();
  };
  ForwardBatch b = good;
  b.block_tables[1] = 64;  // the cache has 64 blocks
  expect_error(b, "outside the cache's 64 blocks");
  b = good;
  b.slot_mapping[2] = 7;
  expect_error(b, "its block table implies 2");
  b = good;
  b.token_ids[0] = m->config.vocab_size;
  expect_error(b, "outside the vocabulary");
  b = good;
  b.positions[3] = 4;
  expect_error(b, "seq_lens implies 3");
  b = good;
  b.seq_lens[0] = 9;  // needs 3 blocks, table has 2
  expect_error(b, "exceeds its block table");
  b = good;
  b.logits_indices = {6};
  expect_error(b, "logits index 6");
  b = good;
  b.query_start = {0, 5};
  expect_error(b, "query_start");
  expect_error(ForwardBatch{}, "no tokens");
}

TEST(ForwardBatchTest, CreateRejectsWeightsThatDoNotMatchTheConfig) {
  auto m = make_test_model(TestModelSpec{});
  CpuModelOptions options;
  options.num_blocks = 4;
  m->weights.layers[1].up_proj.shape = {95, 64};
  auto model = CpuModel::create(m->config, m->weights, options);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.message(),
            "model.layers.1.mlp.up_proj.weight has shape [95, 64], config implies [96, 64]");
  m = make_test_model(TestModelSpec{});
  options.num_blocks = 0;
  EXPECT_FALSE(CpuModel::create(m->config, m->weights, options).ok());
}

}  // namespace
}  // namespace kiln
