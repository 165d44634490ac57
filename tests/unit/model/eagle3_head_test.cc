// EAGLE-3 heads: `kiln synth` writes the published layout (fc, midlayer.*, norm, lm_head, d2t as
// I64 offsets, t2d as BOOL) that the loader maps, broken heads get errors naming the file, tensor
// or field, and the CPU drafter's incremental cache (prompt chunks, verify steps keeping some
// drafts, recomputed sequences, two sequences in a batch) drafts what a from-scratch run of the
// head over the same kept tokens drafts, which in turn is what a plain-loop reference of the
// published forward computes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include "model/cpu_eagle3_drafter.h"
#include "model/eagle3_head.h"
#include "model/model_loader.h"
#include "model/rope.h"
#include "model/safetensors_writer.h"
#include "model/synth_eagle3_head.h"
#include "model/weight_rng.h"
#include "temp_dir.h"

namespace kiln {
namespace {

using Json = nlohmann::json;
using testing_support::read_file;
using testing_support::source_path;
using testing_support::TempDir;
using testing_support::write_file;

ModelConfig tiny_target() {
  auto config = load_model_config(source_path("tests/data/configs/tiny-llama.json"));
  EXPECT_TRUE(config.ok()) << config.message();
  return *config;
}

// The target's embedding stand-in: [vocab, hidden] f32 from the weight generator.
struct TargetEmbedding {
  std::vector<float> values;
  TensorView view;
  explicit TargetEmbedding(const ModelConfig& target) {
    values.resize(static_cast<size_t>(target.vocab_size) * target.hidden_size);
    fill_normal(weight_stream_key(5, "embed"), 0, values.size(), 0.0, 1.0, values.data());
    view = TensorView{values.data(), DType::kF32, {target.vocab_size, target.hidden_size}};
  }
};

Json head_json() { return Json::parse(read_file(source_path("tests/data/configs/tiny-eagle3-head.json"))); }

void synth_head(const std::filesystem::path& dir, const Json& config, DType dtype = DType::kF32, double stddev = 0.5) {
  write_file(dir / "in.json", config.dump());
  SynthEagle3HeadOptions options;
  options.config_path = dir / "in.json";
  options.out_dir = dir / "head";
  options.seed = 3;
  options.dtype = dtype;
  options.stddev = stddev;
  auto report = synth_eagle3_head(options);
  ASSERT_TRUE(report.ok()) << report.message();
}

TEST(Eagle3Head, SynthWritesThePublishedLayoutThatLoads) {
  TempDir dir;
  synth_head(dir.path(), head_json(), DType::kBF16, 0.02);
  const ModelConfig target = tiny_target();
  TargetEmbedding embedding(target);
  auto head = load_eagle3_head(dir.path() / "head", target, embedding.view);
  ASSERT_TRUE(head.ok()) << head.message();
  const LoadedEagle3Head& h = **head;
  EXPECT_EQ(h.config.draft_vocab_size, 128);
  EXPECT_EQ(h.config.target_layer_inputs, (std::vector<int>{1, 1, 2}));  // outputs of layers 0, 0, 1
  EXPECT_TRUE(h.shares_target_embedding);
  EXPECT_EQ(h.weights.embed_tokens.data, embedding.values.data());
  EXPECT_EQ(h.weights.fc.shape, (std::vector<int64_t>{64, 192}));
  EXPECT_EQ(h.weights.q_proj.shape, (std::vector<int64_t>{64, 128}));
  EXPECT_EQ(h.weights.k_proj.shape, (std::vector<int64_t>{32, 128}));
  EXPECT_EQ(h.weights.lm_head.shape, (std::vector<int64_t>{128, 64}));
  EXPECT_EQ(h.weights.fc.dtype, DType::kBF16);
  // A draft vocabulary of distinct ids, the low ones included, the rest spread over the target's.
  const std::vector<int32_t>& ids = h.weights.draft_to_target;
  ASSERT_EQ(ids.size(), 128u);
  EXPECT_EQ(std::set<int32_t>(ids.begin(), ids.end()).size(), 128u);
  for (int32_t i = 0; i < 16; ++i) EXPECT_EQ(ids[static_cast<size_t>(i)], i);
  EXPECT_GT(ids.back(), 256);
  // The file holds what SGLang and vLLM read: d2t as I64 offsets, t2d as BOOL.
  const Json file_config = Json::parse(read_file(dir.path() / "head/config.json"));
  EXPECT_EQ(file_config["torch_dtype"], "bfloat16");
  auto checkpoint = Checkpoint::open(dir.path() / "head");
  ASSERT_TRUE(checkpoint.ok());
  EXPECT_EQ((*checkpoint)->find("d2t")->tensor->dtype_name, "I64");
  EXPECT_EQ((*checkpoint)->find("t2d")->tensor->dtype_name, "BOOL");
  EXPECT_EQ((*checkpoint)->find("embed_tokens.weight"), nullptr);
}

TEST(Eagle3Head, ConfigErrorsNameTheField) {
  const ModelConfig target = tiny_target();
  const auto error_of = [&](const std::function<void(Json&)>& edit) {
    Json config = head_json();
    edit(config);
    auto parsed = parse_eagle3_head_config(config.dump(), "head/config.json", target);
    return parsed.ok() ? std::string("ok") : parsed.message();
  };
  EXPECT_EQ(error_of([](Json&) {}), "ok");
  EXPECT_NE(error_of([](Json& c) { c["architectures"] = {"LlamaForCausalLM"}; }).find("head/config.json: architectures must name LlamaForCausalLMEagle3"),
            std::string::npos);
  EXPECT_NE(error_of([](Json& c) { c["num_hidden_layers"] = 2; }).find("num_hidden_layers is 2"), std::string::npos);
  EXPECT_NE(error_of([](Json& c) { c["vocab_size"] = 1000; }).find("vocab_size (1000) differs from the target model's (512)"),
            std::string::npos);
  EXPECT_NE(error_of([](Json& c) { c["draft_vocab_size"] = 600; }).find("draft_vocab_size must be an integer between 1 and vocab_size"),
            std::string::npos);
  EXPECT_NE(error_of([](Json& c) { c["target_hidden_size"] = 128; }).find("target_hidden_size (128) differs"), std::string::npos);
  EXPECT_NE(error_of([](Json& c) { c["eagle_config"]["eagle_aux_hidden_state_layer_ids"] = {0, 1, 2}; })
                .find("eagle_aux_hidden_state_layer_ids holds 2; the target's layers are 0..1"),
            std::string::npos);
  // The default layers (2, L/2, L-3) need more than the tiny target's 2 layers.
  EXPECT_NE(error_of([](Json& c) { c.erase("eagle_config"); }).find("eagle_aux_hidden_state_layer_ids is needed"),
            std::string::npos);
  ModelConfig deep = target;
  deep.num_hidden_layers = 32;
  Json published = head_json();
  published.erase("eagle_config");
  auto parsed = parse_eagle3_head_config(published.dump(), "head/config.json", deep);
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_EQ(parsed->target_layer_inputs, (std::vector<int>{2, 16, 29}));  // vLLM's and SGLang's default
}

// Rewrites the synthesized head's model.safetensors with one tensor changed (or dropped).
void rewrite_head(const std::filesystem::path& head, const std::string& name, const std::function<bool(SafetensorsEntry&, std::vector<uint8_t>&)>& edit) {
  std::vector<SafetensorsEntry> entries;
  std::vector<std::vector<uint8_t>> data;
  {
    auto checkpoint = Checkpoint::open(head);
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.message();
    for (const auto& [tensor_name, t] : (*checkpoint)->tensors()) {
      SafetensorsEntry entry{tensor_name, t.tensor->dtype.value_or(DType::kF32), t.tensor->shape, {}};
      if (!t.tensor->dtype) entry.raw_dtype = t.tensor->dtype_name;
      const auto* bytes = static_cast<const uint8_t*>(t.tensor->data);
      std::vector<uint8_t> copy(bytes, bytes + t.tensor->size_bytes());
      if (tensor_name == name && !edit(entry, copy)) continue;
      entries.push_back(entry);
      data.push_back(std::move(copy));
    }
  }
  std::vector<const void*> pointers;
  for (const auto& d : data) pointers.push_back(d.data());
  ASSERT_TRUE(write_safetensors_file(head / "model.safetensors", entries, pointers).ok());
}

TEST(Eagle3Head, WeightErrorsNameTheFileAndTensor) {
  const ModelConfig target = tiny_target();
  TargetEmbedding embedding(target);
  const auto error_after = [&](const std::string& name, const std::function<bool(SafetensorsEntry&, std::vector<uint8_t>&)>& edit) {
    TempDir dir;
    synth_head(dir.path(), head_json());
    rewrite_head(dir.path() / "head", name, edit);
    auto head = load_eagle3_head(dir.path() / "head", target, embedding.view);
    return head.ok() ? std::string("ok") : head.message();
  };
  EXPECT_EQ(error_after("fc.weight", [](SafetensorsEntry&, std::vector<uint8_t>&) { return true; }), "ok");
  EXPECT_EQ(error_after("lm_head.weight", [](SafetensorsEntry&, std::vector<uint8_t>&) { return false; }),
            "model.safetensors: tensor lm_head.weight is missing (EAGLE-3 head)");
  EXPECT_EQ(error_after("fc.weight",
                        [](SafetensorsEntry& e, std::vector<uint8_t>& d) {
                          e.shape = {64, 128};
                          d.resize(64 * 128 * 4);
                          return true;
                        }),
            "model.safetensors: tensor fc.weight has shape [64, 128], the head's config.json implies [64, 192]");
  EXPECT_EQ(error_after("d2t",
                        [](SafetensorsEntry&, std::vector<uint8_t>& d) {
                          const int64_t offset = 1000;
                          std::memcpy(d.data() + 8 * 5, &offset, 8);
                          return true;
                        }),
            "model.safetensors: tensor d2t: draft id 5 maps to token 1005, outside the vocabulary of 512");
  EXPECT_EQ(error_after("t2d",
                        [](SafetensorsEntry&, std::vector<uint8_t>& d) {
                          d[3] = 0;
                          return true;
                        }),
            "model.safetensors: tensor t2d leaves out token 3, which d2t maps a draft id to");
  EXPECT_EQ(error_after("d2t", [](SafetensorsEntry&, std::vector<uint8_t>&) { return false; }),
            "model.safetensors: tensor d2t is missing, and draft_vocab_size (128) differs from vocab_size (512)");
  // A head with its own embedding uses it; one whose width differs from the target's is refused.
  {
    TempDir dir;
    synth_head(dir.path(), head_json());
    TensorView wrong = embedding.view;
    wrong.shape = {512, 32};
    auto head = load_eagle3_head(dir.path() / "head", target, wrong);
    ASSERT_FALSE(head.ok());
    EXPECT_NE(head.message().find("the head has no embed_tokens.weight"), std::string::npos) << head.message();
  }
  {
    TempDir dir;
    std::filesystem::create_directories(dir.path() / "head");
    write_file(dir.path() / "head/config.json", head_json().dump());
    write_file(dir.path() / "head/pytorch_model.bin", "not read");
    auto head = load_eagle3_head(dir.path() / "head", target, embedding.view);
    ASSERT_FALSE(head.ok());
    EXPECT_NE(head.message().find("holds pytorch_model.bin only; kiln reads safetensors"), std::string::npos) << head.message();
  }
}

// ---- The drafter against a plain-loop reference of the published forward -------------------

std::vector<float> as_f32(const TensorView& view) {
  EXPECT_EQ(view.dtype, DType::kF32);
  const auto* values = static_cast<const float*>(view.data);
  return std::vector<float>(values, values + view.num_elements());
}

std::vector<float> reference_linear(const TensorView& weight, const std::vector<float>& x) {
  const std::vector<float> w = as_f32(weight);
  const size_t n = static_cast<size_t>(weight.dim(0)), k = static_cast<size_t>(weight.dim(1));
  std::vector<float> y(n, 0.0f);
  for (size_t i = 0; i < n; ++i) {
    double sum = 0;
    for (size_t j = 0; j < k; ++j) sum += static_cast<double>(w[i * k + j]) * x[j];
    y[i] = static_cast<float>(sum);
  }
  return y;
}

std::vector<float> reference_rms(const std::vector<float>& x, const TensorView& weight, double eps) {
  const std::vector<float> w = as_f32(weight);
  double sum = 0;
  for (float v : x) sum += static_cast<double>(v) * v;
  const double scale = 1.0 / std::sqrt(sum / static_cast<double>(x.size()) + eps);
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = static_cast<float>(x[i] * scale * w[i]);
  return y;
}

// The head as SafeAILab's cnets.py computes it, over entries (state, token, position) in order;
// returns the drafts after the last entry.
class ReferenceHead {
 public:
  ReferenceHead(const Eagle3HeadConfig& config, const Eagle3HeadWeights& weights)
      : c_(config), w_(weights), inv_freq_(compute_rope_parameters(config.layer)->inv_freq) {}

  // state: [hidden] (already through fc for target entries). Returns the layer output.
  std::vector<float> add(const std::vector<float>& state, int32_t token, int32_t position) {
    const ModelConfig& m = c_.layer;
    const int hd = m.head_dim;
    std::vector<float> embedded(static_cast<size_t>(m.hidden_size));
    const std::vector<float> table = as_f32(w_.embed_tokens);
    std::copy_n(table.begin() + static_cast<std::ptrdiff_t>(token) * m.hidden_size, m.hidden_size, embedded.begin());
    std::vector<float> x = reference_rms(embedded, w_.input_layernorm, m.rms_norm_eps);
    const std::vector<float> normed = reference_rms(state, w_.hidden_norm, m.rms_norm_eps);
    x.insert(x.end(), normed.begin(), normed.end());
    std::vector<float> q = reference_linear(w_.q_proj, x), k = reference_linear(w_.k_proj, x), v = reference_linear(w_.v_proj, x);
    const auto rotate = [&](std::vector<float>& t, int heads) {
      for (int head = 0; head < heads; ++head) {
        float* r = t.data() + head * hd;
        for (int i = 0; i < hd / 2; ++i) {
          const float angle = static_cast<float>(position) * inv_freq_[static_cast<size_t>(i)];
          const float cos = std::cos(angle), sin = std::sin(angle);
          const float a = r[i], b = r[i + hd / 2];
          r[i] = a * cos - b * sin;
          r[i + hd / 2] = b * cos + a * sin;
        }
      }
    };
    rotate(q, m.num_attention_heads);
    rotate(k, m.num_key_value_heads);
    keys_.push_back(k);
    values_.push_back(v);
    std::vector<float> attn(static_cast<size_t>(m.q_size()), 0.0f);
    const int group = m.num_attention_heads / m.num_key_value_heads;
    for (int head = 0; head < m.num_attention_heads; ++head) {
      const int kv = head / group;
      std::vector<double> scores;
      for (const auto& key : keys_) {
        double dot = 0;
        for (int i = 0; i < hd; ++i) dot += static_cast<double>(q[head * hd + i]) * key[kv * hd + i];
        scores.push_back(dot / std::sqrt(static_cast<double>(hd)));
      }
      const double top = *std::max_element(scores.begin(), scores.end());
      double total = 0;
      for (double& s : scores) total += (s = std::exp(s - top));
      for (size_t j = 0; j < scores.size(); ++j) {
        for (int i = 0; i < hd; ++i) attn[head * hd + i] += static_cast<float>(scores[j] / total * values_[j][kv * hd + i]);
      }
    }
    std::vector<float> residual = state;
    const std::vector<float> o = reference_linear(w_.o_proj, attn);
    for (size_t i = 0; i < residual.size(); ++i) residual[i] += o[i];
    const std::vector<float> post = reference_rms(residual, w_.post_attention_layernorm, m.rms_norm_eps);
    const std::vector<float> gate = reference_linear(w_.gate_proj, post), up = reference_linear(w_.up_proj, post);
    std::vector<float> act(gate.size());
    for (size_t i = 0; i < act.size(); ++i) act[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
    const std::vector<float> down = reference_linear(w_.down_proj, act);
    for (size_t i = 0; i < residual.size(); ++i) residual[i] += down[i];
    return residual;
  }
  int32_t draft(const std::vector<float>& out) const {
    const std::vector<float> logits = reference_linear(w_.lm_head, reference_rms(out, w_.norm, c_.layer.rms_norm_eps));
    return w_.draft_to_target[static_cast<size_t>(std::max_element(logits.begin(), logits.end()) - logits.begin())];
  }
  std::vector<float> fuse(const std::vector<float>& target_state) const { return reference_linear(w_.fc, target_state); }
  // The k best target ids after `out`.
  std::vector<int32_t> top(const std::vector<float>& out, int k) const {
    const std::vector<float> logits = reference_linear(w_.lm_head, reference_rms(out, w_.norm, c_.layer.rms_norm_eps));
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) { return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)]; });
    std::vector<int32_t> best;
    for (int j = 0; j < k; ++j) best.push_back(w_.draft_to_target[static_cast<size_t>(ids[static_cast<size_t>(j)])]);
    return best;
  }

 private:
  Eagle3HeadConfig c_;
  const Eagle3HeadWeights& w_;
  std::vector<float> inv_freq_;
  std::vector<std::vector<float>> keys_, values_;
};

// A made-up target state for (position, token): a target's state depends on its token and
// position (and those before), so a rejected draft's row differs from the kept token's.
std::vector<float> target_state(int32_t position, int32_t token, int width) {
  std::vector<float> state(static_cast<size_t>(width));
  fill_normal(weight_stream_key(static_cast<uint64_t>(position) * 1000 + static_cast<uint64_t>(token), "state"), 0,
              state.size(), 0.0, 1.0, state.data());
  return state;
}

class Eagle3DrafterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    synth_head(dir_.path(), head_json());
    target_ = tiny_target();
    embedding_ = std::make_unique<TargetEmbedding>(target_);
    auto head = load_eagle3_head(dir_.path() / "head", target_, embedding_->view);
    ASSERT_TRUE(head.ok()) << head.message();
    head_ = std::move(head).value();
    auto drafter = CpuEagle3Drafter::create(head_->config, head_->weights, 2);
    ASSERT_TRUE(drafter.ok()) << drafter.message();
    drafter_ = std::move(drafter).value();
  }

  // What the head drafts after the kept tokens `tokens` (the last one sampled): entries pair the
  // state at each position with the token after it.
  std::vector<int32_t> reference(const std::vector<int32_t>& tokens, int num_drafts) const {
    ReferenceHead ref(head_->config, head_->weights);
    std::vector<float> out;
    const int width = 3 * head_->config.target_hidden_size;
    for (size_t p = 0; p + 1 < tokens.size(); ++p) {
      out = ref.add(ref.fuse(target_state(static_cast<int32_t>(p), tokens[p], width)), tokens[p + 1], static_cast<int32_t>(p));
    }
    std::vector<int32_t> drafts = {ref.draft(out)};
    int32_t position = static_cast<int32_t>(tokens.size()) - 2;
    while (static_cast<int>(drafts.size()) < num_drafts) {
      out = ref.add(out, drafts.back(), ++position);
      drafts.push_back(ref.draft(out));
    }
    return drafts;
  }

  // One step's rows for a sequence: `fed` tokens from `first_position`.
  struct Part {
    int64_t seq_id;
    int first_position;
    std::vector<int32_t> fed;
    int num_kept;
    int32_t next;
    int num_drafts;
  };
  std::vector<std::vector<int32_t>> step(const std::vector<Part>& parts) {
    ForwardBatch batch;
    std::vector<float> states;
    std::vector<Eagle3StepSequence> sequences;
    const int width = 3 * head_->config.target_hidden_size;
    for (const Part& part : parts) {
      Eagle3StepSequence s;
      s.seq_id = part.seq_id;
      s.first_row = batch.num_tokens();
      s.num_rows = static_cast<int>(part.fed.size());
      for (int r = 0; r < part.num_kept; ++r) s.kept_rows.push_back(r);
      s.next_token = part.next;
      s.num_drafts = part.num_drafts;
      sequences.push_back(s);
      for (size_t i = 0; i < part.fed.size(); ++i) {
        const int32_t position = part.first_position + static_cast<int32_t>(i);
        batch.token_ids.push_back(part.fed[i]);
        batch.positions.push_back(position);
        const std::vector<float> state = target_state(position, part.fed[i], width);
        states.insert(states.end(), state.begin(), state.end());
      }
    }
    std::vector<Eagle3Draft> drafts;
    const Status status = drafter_->step(batch, states.data(), sequences, &drafts);
    EXPECT_TRUE(status.ok()) << status.message();
    std::vector<std::vector<int32_t>> chains;
    for (const Eagle3Draft& d : drafts) {
      for (size_t n = 0; n < d.parents.size(); ++n) EXPECT_EQ(d.parents[n], static_cast<int32_t>(n) - 1);  // chains
      chains.push_back(d.tokens);
    }
    return chains;
  }

  TempDir dir_;
  ModelConfig target_;
  std::unique_ptr<TargetEmbedding> embedding_;
  std::unique_ptr<LoadedEagle3Head> head_;
  std::unique_ptr<CpuEagle3Drafter> drafter_;
};

TEST_F(Eagle3DrafterTest, IncrementalDraftsEqualTheReferenceOverTheKeptTokens) {
  std::vector<int32_t> a = {5, 77, 300, 12, 9, 41, 41, 200};  // prompt of sequence 1
  std::vector<int32_t> b = {7, 8, 9};                         // prompt of sequence 2
  // Prompt chunks: a's first five tokens (no sample), then the rest with b's whole prompt.
  EXPECT_EQ(step({{1, 0, {a.begin(), a.begin() + 5}, 5, -1, 0}})[0], std::vector<int32_t>{});
  a.push_back(111);  // sampled
  b.push_back(222);
  auto drafts = step({{1, 5, {a.begin() + 5, a.begin() + 8}, 3, 111, 3}, {2, 0, {7, 8, 9}, 3, 222, 2}});
  EXPECT_EQ(drafts[0], reference(a, 3));
  EXPECT_EQ(drafts[1], reference(b, 2));
  EXPECT_EQ(drafter_->cached_positions(1), (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));  // 0..7 + chain at 8, 9

  // A verify step for a: its token then the drafts; two kept (as if drafts 0 and 1 were accepted,
  // whatever they are), then the bonus token.
  std::vector<int32_t> fed = {111, drafts[0][0], drafts[0][1], drafts[0][2]};
  a.push_back(drafts[0][0]);
  a.push_back(drafts[0][1]);
  a.push_back(400);
  // b: every draft rejected.
  b.push_back(17);
  drafts = step({{1, 8, fed, 3, 400, 3}, {2, 3, {222, drafts[1][0], drafts[1][1]}, 1, 17, 2}});
  EXPECT_EQ(drafts[0], reference(a, 3));
  EXPECT_EQ(drafts[1], reference(b, 2));
  // A plain decode that drafts nothing, then one that does.
  a.push_back(3);
  EXPECT_EQ(step({{1, 11, {400}, 1, 3, 0}})[0], std::vector<int32_t>{});
  a.push_back(4);
  EXPECT_EQ(step({{1, 12, {3}, 1, 4, 4}})[0], reference(a, 4));

  // Recomputed from the start (preemption): the same drafts as the incremental cache gave.
  const std::vector<int32_t> before = reference(a, 2);
  const std::vector<int32_t> all(a.begin(), a.end() - 1);
  EXPECT_EQ(step({{1, 0, all, static_cast<int>(all.size()), a.back(), 2}})[0], before);

  drafter_->release(1);
  drafter_->release(2);
  EXPECT_EQ(drafter_->num_cached_sequences(), 0u);
}

TEST_F(Eagle3DrafterTest, TopKTreesExpandTheBestNodesOfEachLevel) {
  const std::vector<int32_t> a = {5, 77, 300, 12, 9, 41, 111};  // the prompt, then the sampled token
  const int width = 3 * head_->config.target_hidden_size;
  ForwardBatch batch;
  std::vector<float> states;
  for (int p = 0; p + 1 < static_cast<int>(a.size()); ++p) {
    batch.token_ids.push_back(a[static_cast<size_t>(p)]);
    batch.positions.push_back(p);
    const std::vector<float> state = target_state(p, a[static_cast<size_t>(p)], width);
    states.insert(states.end(), state.begin(), state.end());
  }
  Eagle3StepSequence s;
  s.seq_id = 3;
  s.num_rows = batch.num_tokens();
  for (int r = 0; r < s.num_rows; ++r) s.kept_rows.push_back(r);
  s.next_token = a.back();
  s.num_drafts = 6;
  s.max_branches = 2;
  std::vector<Eagle3Draft> drafts;
  ASSERT_TRUE(drafter_->step(batch, states.data(), std::vector<Eagle3StepSequence>{s}, &drafts).ok());
  const Eagle3Draft& tree = drafts[0];
  ASSERT_EQ(tree.tokens.size(), 6u);  // three levels of two: more than a chain of depth 3 holds
  EXPECT_EQ(tree.tokens[0], reference(a, 1)[0]);  // the greedy first token scores best
  std::vector<int> children(tree.tokens.size() + 1, 0);
  for (size_t i = 0; i < tree.tokens.size(); ++i) {
    const int parent = tree.parents[i];
    ASSERT_TRUE(parent >= -1 && parent < static_cast<int>(i)) << i;
    ++children[static_cast<size_t>(parent + 1)];
    // The node's token is one of the top two after its parent's path, as the reference computes it.
    std::vector<int32_t> path;
    for (int n = parent; n >= 0; n = tree.parents[static_cast<size_t>(n)]) path.insert(path.begin(), tree.tokens[static_cast<size_t>(n)]);
    ReferenceHead ref(head_->config, head_->weights);
    std::vector<float> out;
    for (size_t p = 0; p + 1 < a.size(); ++p) {
      out = ref.add(ref.fuse(target_state(static_cast<int32_t>(p), a[p], width)), a[p + 1], static_cast<int32_t>(p));
    }
    int32_t position = static_cast<int32_t>(a.size()) - 2;
    for (int32_t token : path) out = ref.add(out, token, ++position);
    const std::vector<int32_t> best = ref.top(out, 2);
    EXPECT_TRUE(tree.tokens[i] == best[0] || tree.tokens[i] == best[1]) << "node " << i;
    for (size_t j = 0; j < i; ++j) EXPECT_FALSE(tree.parents[j] == parent && tree.tokens[j] == tree.tokens[i]) << "siblings " << j << " " << i;
  }
  EXPECT_LE(*std::max_element(children.begin(), children.end()), 2);
  EXPECT_EQ(*std::max_element(children.begin(), children.end()), 2);  // a tree, not a chain
  drafter_->release(3);
}

TEST_F(Eagle3DrafterTest, RefusesRowsOutsideTheBatch) {
  ForwardBatch batch;
  batch.token_ids = {1, 2};
  batch.positions = {0, 1};
  std::vector<float> states(2 * 3 * 64);
  std::vector<Eagle3Draft> drafts;
  std::vector<Eagle3StepSequence> bad(1);
  bad[0].seq_id = 1;
  bad[0].first_row = 1;
  bad[0].num_rows = 2;
  bad[0].kept_rows = {0, 1};
  bad[0].next_token = 5;
  bad[0].num_drafts = 1;
  Status status = drafter_->step(batch, states.data(), bad, &drafts);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("sequence 1 names rows [1, +2)"), std::string::npos) << status.message();
  bad[0].first_row = 0;
  bad[0].kept_rows = {1};  // the first row is always kept
  status = drafter_->step(batch, states.data(), bad, &drafts);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("keeping 1 (from its first, ascending)"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace kiln
