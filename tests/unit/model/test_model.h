// Tiny random Llama/Qwen2 models held in memory for the forward tests, a naive double-precision
// reference forward over them, and ForwardBatch builders for sequences in a paged cache.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/forward_batch.h"
#include "model/model_config.h"
#include "model/model_weights.h"

namespace kiln::testing {

struct TestModelSpec {
  Architecture architecture = Architecture::kLlama;
  int hidden = 64;
  int intermediate = 96;
  int layers = 2;
  int heads = 4;
  int kv_heads = 2;
  int head_dim = 16;
  int vocab = 97;
  bool tied = false;
  RopeScaling rope_scaling;
  double rope_theta = 10000.0;
  DType dtype = DType::kF32;
  uint32_t seed = 1;
};

// Owns the weights' memory; `weights` views into it.
struct TestModel {
  ModelConfig config;
  ModelWeights weights;
  std::vector<std::vector<float>> f32_storage;
  std::vector<std::vector<uint16_t>> u16_storage;
};

std::unique_ptr<TestModel> make_test_model(const TestModelSpec& spec);

// Applied to the input x [rows, cols] of the layers' linears ("qkv", "o_proj", "gate_up",
// "down_proj"; not lm_head) in reference_logits: the FP8 tests quantize activations there.
using LinearInputTransform = std::function<void(std::vector<double>* x, int rows, int cols, const std::string& linear)>;

// Log-softmax-free logits of every position of `tokens`, computed in double with contiguous
// (unpaged) attention and HF's formulas: [tokens.size(), vocab].
// Applied to each layer's keys (after RoPE) and values, [tokens, kv_heads * head_dim] each, before
// attention reads them: the FP8 KV cache tests quantize them there.
using KvTransform = std::function<void(std::vector<double>* k, std::vector<double>* v, int layer)>;

std::vector<double> reference_logits(const TestModel& model, const std::vector<int32_t>& tokens,
                                     const LinearInputTransform& transform = {}, const KvTransform& kv_transform = {});

// One sequence's part of a step: `num_new` tokens ending at `seq_len`, in blocks `blocks`.
struct SeqStep {
  std::vector<int32_t> tokens;  // the whole sequence so far (this step's tokens are the last)
  int num_new = 0;
  std::vector<int32_t> blocks;  // its block table
  bool all_logits = false;      // logits for every new token, not just the last
};

ForwardBatch make_batch(const std::vector<SeqStep>& seqs, int block_size);

}  // namespace kiln::testing
