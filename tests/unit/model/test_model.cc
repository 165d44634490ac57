#include "test_model.h"

#include <cmath>
#include <random>

#include "model/rope.h"

namespace kiln::testing {
namespace {

class WeightMaker {
 public:
  WeightMaker(TestModel* model, DType dtype, uint32_t seed)
      : model_(model), dtype_(dtype), rng_(seed) {}

  // Uniform in [center - spread, center + spread], never exactly zero.
  TensorView make(std::vector<int64_t> shape, float spread, float center = 0.0f) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::uniform_real_distribution<float> dist(center - spread, center + spread);
    std::vector<float> values(static_cast<size_t>(n));
    for (float& v : values) {
      do {
        v = dist(rng_);
      } while (v == 0.0f);
    }
    TensorView view;
    view.dtype = dtype_;
    view.shape = std::move(shape);
    if (dtype_ == DType::kF32) {
      model_->f32_storage.push_back(std::move(values));
      view.data = model_->f32_storage.back().data();
    } else {
      std::vector<uint16_t> bits(values.size());
      for (size_t i = 0; i < values.size(); ++i) {
        bits[i] = dtype_ == DType::kBF16 ? f32_to_bf16(values[i]) : f32_to_f16(values[i]);
      }
      model_->u16_storage.push_back(std::move(bits));
      view.data = model_->u16_storage.back().data();
    }
    return view;
  }

 private:
  TestModel* model_;
  DType dtype_;
  std::mt19937 rng_;
};

double at(const TensorView& view, int64_t i) {
  switch (view.dtype) {
    case DType::kF32:
      return static_cast<const float*>(view.data)[i];
    case DType::kBF16:
      return bf16_to_f32(static_cast<const uint16_t*>(view.data)[i]);
    default:
      return f16_to_f32(static_cast<const uint16_t*>(view.data)[i]);
  }
}

// y[t, n] = sum_k x[t, k] W[n, k] (+ b[n])
std::vector<double> linear(const std::vector<double>& x, int rows, const TensorView& w,
                           const TensorView& b) {
  const int64_t n = w.dim(0), k = w.dim(1);
  std::vector<double> y(static_cast<size_t>(rows * n));
  for (int r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = b.empty() ? 0.0 : at(b, j);
      for (int64_t i = 0; i < k; ++i) sum += x[static_cast<size_t>(r * k + i)] * at(w, j * k + i);
      y[static_cast<size_t>(r * n + j)] = sum;
    }
  }
  return y;
}

std::vector<double> rms_norm(const std::vector<double>& x, int rows, const TensorView& w,
                             double eps) {
  const int64_t h = w.dim(0);
  std::vector<double> y(x.size());
  for (int r = 0; r < rows; ++r) {
    double sum = 0;
    for (int64_t i = 0; i < h; ++i)
      sum += x[static_cast<size_t>(r * h + i)] * x[static_cast<size_t>(r * h + i)];
    const double inv = 1.0 / std::sqrt(sum / static_cast<double>(h) + eps);
    for (int64_t i = 0; i < h; ++i)
      y[static_cast<size_t>(r * h + i)] = at(w, i) * x[static_cast<size_t>(r * h + i)] * inv;
  }
  return y;
}

}  // namespace

std::unique_ptr<TestModel> make_test_model(const TestModelSpec& spec) {
  auto model = std::make_unique<TestModel>();
  ModelConfig& c = model->config;
  c.architecture = spec.architecture;
  c.architecture_name =
      spec.architecture == Architecture::kQwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
  c.hidden_size = spec.hidden;
  c.intermediate_size = spec.intermediate;
  c.num_hidden_layers = spec.layers;
  c.num_attention_heads = spec.heads;
  c.num_key_value_heads = spec.kv_heads;
  c.head_dim = spec.head_dim;
  c.vocab_size = spec.vocab;
  c.rms_norm_eps = 1e-6;
  c.max_position_embeddings = 4096;
  c.tie_word_embeddings = spec.tied;
  c.attention_bias = spec.architecture == Architecture::kQwen2;
  c.rope_theta = spec.rope_theta;
  c.rope_scaling = spec.rope_scaling;
  c.dtype = spec.dtype;

  // Spreads large enough that attention is far from uniform and logits far from flat.
  WeightMaker make(model.get(), spec.dtype, spec.seed);
  const int64_t h = spec.hidden, q = c.q_size(), kv = c.kv_size(), inter = spec.intermediate;
  ModelWeights& w = model->weights;
  w.embed_tokens = make.make({spec.vocab, h}, 1.0f);
  for (int i = 0; i < spec.layers; ++i) {
    LayerWeights l;
    l.input_layernorm = make.make({h}, 0.3f, 1.0f);
    l.q_proj = make.make({q, h}, 0.4f);
    l.k_proj = make.make({kv, h}, 0.4f);
    l.v_proj = make.make({kv, h}, 0.3f);
    if (c.attention_bias) {
      l.q_bias = make.make({q}, 0.5f);
      l.k_bias = make.make({kv}, 0.5f);
      l.v_bias = make.make({kv}, 0.5f);
    }
    l.o_proj = make.make({h, q}, 0.2f);
    l.post_attention_layernorm = make.make({h}, 0.3f, 1.0f);
    l.gate_proj = make.make({inter, h}, 0.2f);
    l.up_proj = make.make({inter, h}, 0.2f);
    l.down_proj = make.make({h, inter}, 0.2f);
    w.layers.push_back(l);
  }
  w.norm = make.make({h}, 0.3f, 1.0f);
  w.lm_head = spec.tied ? w.embed_tokens : make.make({spec.vocab, h}, 0.3f);
  return model;
}

std::vector<double> reference_logits(const TestModel& model, const std::vector<int32_t>& tokens,
                                     const LinearInputTransform& transform, const KvTransform& kv_transform) {
  const auto input = [&](std::vector<double> x, int cols, const char* linear) {
    if (transform) transform(&x, static_cast<int>(tokens.size()), cols, linear);
    return x;
  };
  const ModelConfig& c = model.config;
  const ModelWeights& w = model.weights;
  const int n = static_cast<int>(tokens.size());
  const int h = c.hidden_size, hd = c.head_dim, half = hd / 2;
  const int group = c.num_attention_heads / c.num_key_value_heads;
  const RopeParameters rope = compute_rope_parameters(c).value();

  std::vector<double> x(static_cast<size_t>(n) * h);
  for (int t = 0; t < n; ++t) {
    for (int i = 0; i < h; ++i)
      x[static_cast<size_t>(t) * h + i] =
          at(w.embed_tokens, static_cast<int64_t>(tokens[static_cast<size_t>(t)]) * h + i);
  }
  auto apply_rope = [&](std::vector<double>* v, int heads) {
    for (int t = 0; t < n; ++t) {
      for (int hh = 0; hh < heads; ++hh) {
        double* p = v->data() + (static_cast<size_t>(t) * heads + hh) * hd;
        for (int i = 0; i < half; ++i) {
          const double angle = static_cast<double>(rope.inv_freq[static_cast<size_t>(i)]) * t;
          const double cs = std::cos(angle) * rope.attention_scaling;
          const double sn = std::sin(angle) * rope.attention_scaling;
          const double x1 = p[i], x2 = p[i + half];
          p[i] = x1 * cs - x2 * sn;
          p[i + half] = x2 * cs + x1 * sn;
        }
      }
    }
  };
  for (const LayerWeights& l : w.layers) {
    const std::vector<double> normed = input(rms_norm(x, n, l.input_layernorm, c.rms_norm_eps), h, "qkv");
    std::vector<double> q = linear(normed, n, l.q_proj, l.q_bias);
    std::vector<double> k = linear(normed, n, l.k_proj, l.k_bias);
    std::vector<double> v = linear(normed, n, l.v_proj, l.v_bias);
    apply_rope(&q, c.num_attention_heads);
    apply_rope(&k, c.num_key_value_heads);
    if (kv_transform) kv_transform(&k, &v, static_cast<int>(&l - w.layers.data()));
    std::vector<double> attn(static_cast<size_t>(n) * c.q_size());
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    for (int t = 0; t < n; ++t) {
      for (int hh = 0; hh < c.num_attention_heads; ++hh) {
        const int kvh = hh / group;
        std::vector<double> p(static_cast<size_t>(t) + 1);
        double max_score = -1e300;
        for (int j = 0; j <= t; ++j) {
          double dot = 0;
          for (int i = 0; i < hd; ++i) {
            dot += q[(static_cast<size_t>(t) * c.num_attention_heads + hh) * hd + i] *
                   k[(static_cast<size_t>(j) * c.num_key_value_heads + kvh) * hd + i];
          }
          p[static_cast<size_t>(j)] = dot * scale;
          max_score = std::max(max_score, p[static_cast<size_t>(j)]);
        }
        double sum = 0;
        for (double& s : p) sum += (s = std::exp(s - max_score));
        for (int i = 0; i < hd; ++i) {
          double acc = 0;
          for (int j = 0; j <= t; ++j) {
            acc += p[static_cast<size_t>(j)] / sum *
                   v[(static_cast<size_t>(j) * c.num_key_value_heads + kvh) * hd + i];
          }
          attn[(static_cast<size_t>(t) * c.num_attention_heads + hh) * hd + i] = acc;
        }
      }
    }
    const std::vector<double> o = linear(input(attn, c.q_size(), "o_proj"), n, l.o_proj, TensorView{});
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    const std::vector<double> normed2 =
        input(rms_norm(x, n, l.post_attention_layernorm, c.rms_norm_eps), h, "gate_up");
    const std::vector<double> gate = linear(normed2, n, l.gate_proj, TensorView{});
    const std::vector<double> up = linear(normed2, n, l.up_proj, TensorView{});
    std::vector<double> act(gate.size());
    for (size_t i = 0; i < act.size(); ++i) act[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
    const std::vector<double> down = linear(input(act, c.intermediate_size, "down_proj"), n, l.down_proj, TensorView{});
    for (size_t i = 0; i < x.size(); ++i) x[i] += down[i];
  }
  return linear(rms_norm(x, n, w.norm, c.rms_norm_eps), n, w.lm_head, TensorView{});
}

ForwardBatch make_batch(const std::vector<SeqStep>& seqs, int block_size) {
  ForwardBatch batch;
  size_t max_blocks = 1;
  for (const SeqStep& s : seqs) max_blocks = std::max(max_blocks, s.blocks.size());
  batch.max_blocks_per_seq = static_cast<int32_t>(max_blocks);
  batch.query_start.push_back(0);
  for (const SeqStep& s : seqs) {
    const int seq_len = static_cast<int>(s.tokens.size());
    for (int p = seq_len - s.num_new; p < seq_len; ++p) {
      if (s.all_logits || p == seq_len - 1) batch.logits_indices.push_back(batch.num_tokens());
      batch.token_ids.push_back(s.tokens[static_cast<size_t>(p)]);
      batch.positions.push_back(p);
      batch.slot_mapping.push_back(
          static_cast<int64_t>(s.blocks[static_cast<size_t>(p / block_size)]) * block_size +
          p % block_size);
    }
    batch.query_start.push_back(batch.num_tokens());
    batch.seq_lens.push_back(seq_len);
    for (size_t j = 0; j < max_blocks; ++j) {
      batch.block_tables.push_back(j < s.blocks.size() ? s.blocks[j] : -1);
    }
  }
  return batch;
}

}  // namespace kiln::testing
