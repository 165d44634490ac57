// Tensor parallelism on the CPU backend: how a model splits (heads, KV heads replicated past
// num_key_value_heads, the intermediate width, uneven vocabulary rows), that a rank's weights are
// exactly its slices of the checkpoint's, and that TP=2 and TP=4 give the logits of TP=1 up to
// f32 rounding (row-parallel partial sums are added in another order), over prefill chunks,
// decodes and mixed batches, for Llama and Qwen2 (biases, tied and untied heads, GQA and MQA).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "model/cpu_model.h"
#include "model/cpu_tensor_parallel_model.h"
#include "model/memory_plan.h"
#include "model/model_config.h"
#include "model/tensor_parallel.h"
#include "model/weight_sharding.h"
#include "temp_dir.h"
#include "test_model.h"

namespace kiln {
namespace {

using testing::make_batch;
using testing::make_test_model;
using testing::SeqStep;
using testing::TestModel;
using testing::TestModelSpec;

constexpr int kBlockSize = 4;

ModelConfig config_of(int heads, int kv_heads, int intermediate, int vocab) {
  ModelConfig c;
  c.hidden_size = heads * 16;
  c.head_dim = 16;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.intermediate_size = intermediate;
  c.vocab_size = vocab;
  c.num_hidden_layers = 1;
  return c;
}

TEST(ShardShapeTest, SplitsHeadsIntermediateAndVocabulary) {
  const ModelConfig c = config_of(32, 8, 14336, 128256);  // the 8B's shape
  for (int size : {1, 2, 4, 8}) {
    ASSERT_TRUE(check_tensor_parallel(c, size).ok()) << size;
    int vocab = 0;
    for (int r = 0; r < size; ++r) {
      const ShardShape s = shard_shape(c, r, size);
      EXPECT_EQ(s.num_heads, 32 / size);
      EXPECT_EQ(s.head_begin, r * 32 / size);
      EXPECT_EQ(s.num_kv_heads, 8 / size);
      EXPECT_EQ(s.kv_head_begin, r * 8 / size);
      EXPECT_EQ(s.intermediate_size, 14336 / size);
      EXPECT_EQ(s.intermediate_begin, r * 14336 / size);
      EXPECT_EQ(s.vocab_begin, vocab);
      vocab += s.vocab_rows;
    }
    EXPECT_EQ(vocab, 128256);
  }
}

TEST(ShardShapeTest, ReplicatesKvHeadsWhenRanksOutnumberThem) {
  // 8 KV heads at TP 16: ranks 2k and 2k+1 share KV head k, which their query heads read.
  const ModelConfig c = config_of(64, 8, 28672, 128256);
  ASSERT_TRUE(check_tensor_parallel(c, 16).ok());
  for (int r = 0; r < 16; ++r) {
    const ShardShape s = shard_shape(c, r, 16);
    EXPECT_EQ(s.num_kv_heads, 1);
    EXPECT_EQ(s.kv_head_begin, r / 2);
    // The query heads' GQA group (8 query heads per KV head) is that KV head.
    EXPECT_EQ(s.head_begin / (64 / 8), s.kv_head_begin);
    EXPECT_EQ((s.head_begin + s.num_heads - 1) / (64 / 8), s.kv_head_begin);
  }
}

TEST(ShardShapeTest, UnevenVocabularyPadsTheGather) {
  const ModelConfig c = config_of(4, 2, 96, 97);
  const int expected_rows[] = {25, 25, 25, 22};
  for (int r = 0; r < 4; ++r) {
    const ShardShape s = shard_shape(c, r, 4);
    EXPECT_EQ(s.vocab_rows_per_rank, 25);
    EXPECT_EQ(s.vocab_begin, 25 * r);
    EXPECT_EQ(s.vocab_rows, expected_rows[r]);
  }
}

TEST(ShardShapeTest, RefusesSizesThatDoNotSplitTheModel) {
  struct Case {
    ModelConfig config;
    int size;
    const char* field;
  };
  const Case cases[] = {
      {config_of(6, 6, 96, 97), 4, "num_attention_heads (6)"},
      {config_of(12, 3, 96, 97), 2, "num_key_value_heads (3)"},
      {config_of(4, 2, 90, 97), 4, "intermediate_size (90)"},
      {config_of(8, 8, 96, 5), 4, "vocab_size (5)"},
      {config_of(4, 2, 96, 97), 0, "at least 1"},
  };
  for (const Case& c : cases) {
    const Status status = check_tensor_parallel(c.config, c.size);
    ASSERT_FALSE(status.ok()) << c.field;
    EXPECT_NE(status.message().find("--tensor-parallel-size " + std::to_string(c.size)), std::string::npos)
        << status.message();
    EXPECT_NE(status.message().find(c.field), std::string::npos) << status.message();
  }
}

// The two distills that need several GPUs (configs in models/, from the public model cards)
// split at 2, 4 and 8 as vLLM splits them; 16 ranks have no whole heads of the 32B.
TEST(ShardShapeTest, TheSeventyAndThirtyTwoBillionDistillsSplitOverEightGpus) {
  struct Case {
    const char* path;
    int heads, hidden, intermediate, vocab, layers;
  };
  const Case cases[] = {
      {"models/deepseek-r1-distill-llama-70b/config.json", 64, 8192, 28672, 128256, 80},
      {"models/deepseek-r1-distill-qwen-32b/config.json", 40, 5120, 27648, 152064, 64},
  };
  for (const Case& c : cases) {
    const Result<ModelConfig> config = load_model_config(testing_support::source_path(c.path));
    ASSERT_TRUE(config.ok()) << config.message();
    EXPECT_EQ(config->num_attention_heads, c.heads) << c.path;
    EXPECT_EQ(config->num_key_value_heads, 8) << c.path;
    EXPECT_EQ(config->head_dim, 128) << c.path;
    EXPECT_EQ(config->hidden_size, c.hidden) << c.path;
    EXPECT_EQ(config->intermediate_size, c.intermediate) << c.path;
    EXPECT_EQ(config->vocab_size, c.vocab) << c.path;
    EXPECT_EQ(config->num_hidden_layers, c.layers) << c.path;
    EXPECT_FALSE(config->tie_word_embeddings) << c.path;
    for (int size : {1, 2, 4, 8}) {
      ASSERT_TRUE(check_tensor_parallel(*config, size).ok()) << c.path << " TP=" << size;
      const ShardShape last = shard_shape(*config, size - 1, size);
      EXPECT_EQ(last.num_heads, c.heads / size) << c.path;
      EXPECT_EQ(last.num_kv_heads, 8 / size) << c.path;
      EXPECT_EQ(last.intermediate_size, c.intermediate / size) << c.path;
      EXPECT_EQ(last.vocab_rows, c.vocab / size) << c.path;  // both vocabularies divide by 8
      EXPECT_EQ(last.intermediate_size % 8, 0) << c.path;   // the CUDA backend's alignment
    }
  }
  const Result<ModelConfig> qwen = load_model_config(testing_support::source_path(cases[1].path));
  ASSERT_TRUE(qwen.ok());
  const Status sixteen = check_tensor_parallel(*qwen, 16);
  ASSERT_FALSE(sixteen.ok());
  EXPECT_NE(sixteen.message().find("num_attention_heads (40)"), std::string::npos) << sixteen.message();
}

float at(const TensorView& t, int64_t row, int64_t col) {
  return static_cast<const float*>(t.data)[row * t.dim(1) + col];
}

TEST(WeightShardingTest, EachRankHoldsExactlyItsSlices) {
  TestModelSpec spec;
  spec.architecture = Architecture::kQwen2;  // q/k/v biases
  spec.heads = 4;
  spec.kv_heads = 1;  // replicated at TP 2 and 4
  spec.tied = true;
  const auto m = make_test_model(spec);
  const ModelConfig& c = m->config;
  const int hd = c.head_dim;
  for (int size : {2, 4}) {
    std::vector<float> o_columns_seen(static_cast<size_t>(c.q_size()), 0);
    for (int r = 0; r < size; ++r) {
      const ShardShape s = shard_shape(c, r, size);
      auto shard = shard_model_weights(c, m->weights, s);
      ASSERT_TRUE(shard.ok()) << shard.message();
      const LayerWeights& full = m->weights.layers[1];
      const LayerWeights& mine = (*shard)->weights.layers[1];
      // Row slices are views into the checkpoint's memory: nothing else is read.
      EXPECT_EQ(mine.q_proj.data, static_cast<const float*>(full.q_proj.data) + s.head_begin * hd * c.hidden_size);
      EXPECT_EQ(mine.k_proj.data, static_cast<const float*>(full.k_proj.data) + s.kv_head_begin * hd * c.hidden_size);
      EXPECT_EQ(mine.q_proj.shape, (std::vector<int64_t>{s.num_heads * hd, c.hidden_size}));
      EXPECT_EQ(mine.k_bias.shape, (std::vector<int64_t>{hd}));
      EXPECT_EQ(static_cast<const float*>(mine.v_bias.data)[3], static_cast<const float*>(full.v_bias.data)[3]);
      EXPECT_EQ(mine.gate_proj.data,
                static_cast<const float*>(full.gate_proj.data) + s.intermediate_begin * c.hidden_size);
      EXPECT_EQ((*shard)->weights.embed_tokens.data,
                static_cast<const float*>(m->weights.embed_tokens.data) + s.vocab_begin * c.hidden_size);
      EXPECT_EQ((*shard)->weights.lm_head.data, (*shard)->weights.embed_tokens.data) << "tied";
      // Column slices are copies of exactly the columns of the rank's heads / intermediate range.
      ASSERT_EQ(mine.o_proj.shape, (std::vector<int64_t>{c.hidden_size, s.num_heads * hd}));
      for (int64_t row = 0; row < c.hidden_size; ++row) {
        for (int64_t col = 0; col < s.num_heads * hd; ++col) {
          ASSERT_EQ(at(mine.o_proj, row, col), at(full.o_proj, row, s.head_begin * hd + col));
          if (row == 0) o_columns_seen[static_cast<size_t>(s.head_begin * hd + col)] += 1;
        }
      }
      ASSERT_EQ(mine.down_proj.shape, (std::vector<int64_t>{c.hidden_size, s.intermediate_size}));
      EXPECT_EQ(at(mine.down_proj, 5, 7), at(full.down_proj, 5, s.intermediate_begin + 7));
      EXPECT_EQ(mine.input_layernorm.data, full.input_layernorm.data);
    }
    for (float seen : o_columns_seen) EXPECT_EQ(seen, 1.0f) << "every o_proj column on exactly one rank";
  }
}

std::vector<int32_t> random_tokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (int32_t& t : tokens) t = dist(rng);
  return tokens;
}

std::vector<int32_t> blocks_from(int first, int n) {
  std::vector<int32_t> blocks;
  for (int i = 0; i < (n + kBlockSize - 1) / kBlockSize; ++i) blocks.push_back(first + i);
  return blocks;
}

// A scripted run: three sequences prefilled in chunks, then decoded together, with a mixed step
// (one sequence's prefill chunk beside the others' decodes). Returns every step's logits.
template <typename Model>
std::vector<std::vector<float>> run_script(Model* model, int vocab) {
  const std::vector<int32_t> a = random_tokens(23, vocab, 1), b = random_tokens(9, vocab, 2),
                             d = random_tokens(14, vocab, 3);
  const std::vector<int32_t> blocks_a = blocks_from(0, 40), blocks_b = blocks_from(12, 40), blocks_d = blocks_from(24, 40);
  auto prefix = [](const std::vector<int32_t>& t, int n) { return std::vector<int32_t>(t.begin(), t.begin() + n); };
  std::vector<std::vector<SeqStep>> steps = {
      {{prefix(a, 16), 16, blocks_a, true}, {prefix(b, 9), 9, blocks_b, true}},
      {{a, 7, blocks_a, false}, {prefix(d, 5), 5, blocks_d, true}},
      {{d, 9, blocks_d, false}},
  };
  // Decode a few tokens for all three (the tokens are arbitrary: the logits are compared).
  std::vector<int32_t> seq_a = a, seq_b = b, seq_d = d;
  for (int i = 0; i < 4; ++i) {
    seq_a.push_back(static_cast<int32_t>((i * 31 + 7) % vocab));
    seq_b.push_back(static_cast<int32_t>((i * 17 + 3) % vocab));
    seq_d.push_back(static_cast<int32_t>((i * 13 + 5) % vocab));
    steps.push_back({{seq_a, 1, blocks_a, false}, {seq_b, 1, blocks_b, false}, {seq_d, 1, blocks_d, false}});
  }
  std::vector<std::vector<float>> out;
  for (const auto& step : steps) {
    std::vector<float> logits;
    const Status status = model->forward(make_batch(step, kBlockSize), &logits);
    EXPECT_TRUE(status.ok()) << status.message();
    out.push_back(std::move(logits));
  }
  return out;
}

CpuModelOptions options_for(int threads) {
  CpuModelOptions options;
  options.num_blocks = 40;
  options.block_size = kBlockSize;
  options.num_threads = threads;
  return options;
}

struct NamedSpec {
  const char* name;
  TestModelSpec spec;
};

std::vector<NamedSpec> specs() {
  std::vector<NamedSpec> out;
  TestModelSpec llama;  // GQA 4/2, untied, vocab 97 (uneven at TP 2 and 4)
  out.push_back({"llama_gqa_untied", llama});
  TestModelSpec qwen;
  qwen.architecture = Architecture::kQwen2;
  qwen.kv_heads = 1;  // MQA: replicated on every rank
  qwen.tied = true;
  qwen.seed = 2;
  out.push_back({"qwen2_bias_mqa_tied", qwen});
  TestModelSpec bf16;
  bf16.dtype = DType::kBF16;
  bf16.heads = 8;
  bf16.kv_heads = 4;
  bf16.head_dim = 8;
  bf16.intermediate = 128;
  bf16.vocab = 256;
  bf16.layers = 3;
  bf16.seed = 3;
  out.push_back({"llama_bf16_8heads", bf16});
  return out;
}

void PrintTo(const NamedSpec& spec, std::ostream* os) { *os << spec.name; }

class TensorParallelForwardTest : public ::testing::TestWithParam<NamedSpec> {};

// log-softmax of one row in double.
std::vector<double> logprobs(const float* row, int vocab) {
  const double max = *std::max_element(row, row + vocab);
  double sum = 0;
  for (int i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(row[i]) - max);
  std::vector<double> out(static_cast<size_t>(vocab));
  for (int i = 0; i < vocab; ++i) out[static_cast<size_t>(i)] = static_cast<double>(row[i]) - max - std::log(sum);
  return out;
}

TEST_P(TensorParallelForwardTest, MatchesTheWholeModelUpToF32Rounding) {
  const auto m = make_test_model(GetParam().spec);
  const int vocab = m->config.vocab_size;
  auto whole = CpuModel::create(m->config, m->weights, options_for(2));
  ASSERT_TRUE(whole.ok()) << whole.message();
  const auto expected = run_script(whole->get(), vocab);
  for (int size : {2, 4}) {
    auto tp = CpuTensorParallelModel::create(m->config, m->weights, size, options_for(2));
    ASSERT_TRUE(tp.ok()) << tp.message();
    EXPECT_EQ((*tp)->size(), size);
    const auto got = run_script(tp->get(), vocab);
    ASSERT_EQ(got.size(), expected.size());
    double worst = 0;
    for (size_t step = 0; step < got.size(); ++step) {
      ASSERT_EQ(got[step].size(), expected[step].size()) << "step " << step;
      const size_t rows = got[step].size() / static_cast<size_t>(vocab);
      for (size_t r = 0; r < rows; ++r) {
        const float* g = got[step].data() + r * static_cast<size_t>(vocab);
        const float* e = expected[step].data() + r * static_cast<size_t>(vocab);
        const std::vector<double> lg = logprobs(g, vocab), le = logprobs(e, vocab);
        for (int i = 0; i < vocab; ++i) worst = std::max(worst, std::abs(lg[static_cast<size_t>(i)] - le[static_cast<size_t>(i)]));
        // The same greedy token unless TP=1's top two are within rounding of each other.
        const int eg = static_cast<int>(std::max_element(e, e + vocab) - e);
        const int gg = static_cast<int>(std::max_element(g, g + vocab) - g);
        if (eg != gg) {
          EXPECT_LT(std::abs(e[eg] - e[gg]), 1e-4f) << "step " << step << " row " << r;
        }
      }
    }
    // Rounding only: f32 has 24 bits; the logprobs of these models are O(1..10).
    EXPECT_LT(worst, 2e-5) << "TP=" << size;
    std::printf("%s TP=%d: worst |logprob - TP=1| %.2e\n", GetParam().name, size, worst);
  }
}

TEST_P(TensorParallelForwardTest, RepeatsBitForBit) {
  // The rank-order sums make a run deterministic whatever the threads' timing.
  const auto m = make_test_model(GetParam().spec);
  auto first = CpuTensorParallelModel::create(m->config, m->weights, 2, options_for(2));
  auto second = CpuTensorParallelModel::create(m->config, m->weights, 2, options_for(1));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(run_script(first->get(), m->config.vocab_size), run_script(second->get(), m->config.vocab_size));
}

INSTANTIATE_TEST_SUITE_P(Models, TensorParallelForwardTest, ::testing::ValuesIn(specs()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(TensorParallelModelTest, BadBatchFailsOnEveryRankWithoutHanging) {
  const auto m = make_test_model(TestModelSpec{});
  auto tp = CpuTensorParallelModel::create(m->config, m->weights, 4, options_for(2));
  ASSERT_TRUE(tp.ok()) << tp.message();
  SeqStep step{{1, 2, 3}, 3, {99}, false};  // block 99 is outside the 40-block cache
  std::vector<float> logits;
  const Status status = (*tp)->forward(make_batch({step}, kBlockSize), &logits);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("block"), std::string::npos) << status.message();
  // The group still works afterwards.
  SeqStep good{{1, 2, 3}, 3, {0}, false};
  const Status after = (*tp)->forward(make_batch({good}, kBlockSize), &logits);
  EXPECT_TRUE(after.ok()) << after.message();
  EXPECT_EQ(logits.size(), static_cast<size_t>(m->config.vocab_size));
}

TEST(TensorParallelModelTest, RefusesASizeThatDoesNotSplitTheModel) {
  TestModelSpec spec;
  spec.heads = 2;
  spec.kv_heads = 2;
  const auto m = make_test_model(spec);
  auto tp = CpuTensorParallelModel::create(m->config, m->weights, 4, options_for(1));
  ASSERT_FALSE(tp.ok());
  EXPECT_NE(tp.message().find("num_attention_heads (2)"), std::string::npos) << tp.message();
}

TEST(TensorParallelModelTest, KvBytesCountReplicatedHeadsOnEveryRank) {
  ModelConfig c = config_of(8, 2, 96, 97);
  c.num_hidden_layers = 3;
  const int64_t whole = kv_bytes_per_block(c, 16, DType::kF32);
  EXPECT_EQ(tensor_parallel_kv_bytes_per_block(c, 1, 16, DType::kF32), whole);
  EXPECT_EQ(tensor_parallel_kv_bytes_per_block(c, 2, 16, DType::kF32), whole);      // split
  EXPECT_EQ(tensor_parallel_kv_bytes_per_block(c, 4, 16, DType::kF32), whole * 2);  // each of 2 heads twice
}

}  // namespace
}  // namespace kiln
