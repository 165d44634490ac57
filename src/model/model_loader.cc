#include "model/model_loader.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "base/byte_size.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/progress_bar.h"
#include "model/weight_specs.h"
#include "tensor/tensor_view.h"

namespace kiln {
namespace {

// Where each HF name goes in ModelWeights.
std::map<std::string, TensorView*> weight_slots(const ModelConfig& config, ModelWeights* weights) {
  std::map<std::string, TensorView*> slots;
  // A linear's weight and the scale tensors an FP8 checkpoint may keep next to it.
  const auto linear = [&](const std::string& module, TensorView* weight, LinearScales* scales) {
    slots[module + ".weight"] = weight;
    slots[module + ".weight_scale"] = &scales->weight_scale;
    slots[module + ".weight_scale_inv"] = &scales->weight_scale;
    slots[module + ".input_scale"] = &scales->input_scale;
  };
  slots["model.embed_tokens.weight"] = &weights->embed_tokens;
  slots["model.norm.weight"] = &weights->norm;
  linear("lm_head", &weights->lm_head, &weights->lm_head_scales);
  weights->layers.resize(static_cast<size_t>(config.num_hidden_layers));
  for (int i = 0; i < config.num_hidden_layers; ++i) {
    LayerWeights& layer = weights->layers[static_cast<size_t>(i)];
    const std::string prefix = "model.layers." + std::to_string(i) + ".";
    slots[prefix + "input_layernorm.weight"] = &layer.input_layernorm;
    linear(prefix + "self_attn.q_proj", &layer.q_proj, &layer.q_proj_scales);
    linear(prefix + "self_attn.k_proj", &layer.k_proj, &layer.k_proj_scales);
    linear(prefix + "self_attn.v_proj", &layer.v_proj, &layer.v_proj_scales);
    slots[prefix + "self_attn.q_proj.bias"] = &layer.q_bias;
    slots[prefix + "self_attn.k_proj.bias"] = &layer.k_bias;
    slots[prefix + "self_attn.v_proj.bias"] = &layer.v_bias;
    linear(prefix + "self_attn.o_proj", &layer.o_proj, &layer.o_proj_scales);
    slots[prefix + "post_attention_layernorm.weight"] = &layer.post_attention_layernorm;
    slots[prefix + "self_attn.k_scale"] = &layer.k_cache_scale;
    slots[prefix + "self_attn.v_scale"] = &layer.v_cache_scale;
    linear(prefix + "mlp.gate_proj", &layer.gate_proj, &layer.gate_proj_scales);
    linear(prefix + "mlp.up_proj", &layer.up_proj, &layer.up_proj_scales);
    linear(prefix + "mlp.down_proj", &layer.down_proj, &layer.down_proj_scales);
  }
  return slots;
}

std::string and_more(size_t count) {
  return count > 1 ? " (and " + std::to_string(count - 1) + " more)" : "";
}

bool is_float_dtype(const std::optional<DType>& dtype) {
  return dtype && (*dtype == DType::kBF16 || *dtype == DType::kF16 || *dtype == DType::kF32);
}

// The shapes a scale tensor may have: checkpoints write per-channel scales as [out, 1] or [out]
// and per-tensor ones as [], [1] or [1, 1].
bool scale_shape_matches(const std::vector<int64_t>& shape, const WeightSpec& spec) {
  if (shape == spec.shape) return true;
  if (spec.shape == std::vector<int64_t>{1}) {
    return shape.empty() || shape == std::vector<int64_t>{1, 1};
  }
  if (spec.kind == WeightKind::kWeightScale && spec.shape.size() == 2 && spec.shape[1] == 1) {
    return shape == std::vector<int64_t>{spec.shape[0]};
  }
  return false;
}

Result<TensorView> checked_view(const CheckpointTensor& location, const WeightSpec& spec, const ModelConfig& config) {
  const SafetensorsTensor& tensor = *location.tensor;
  const std::string& file = location.file->name();
  const std::string where = file + ": tensor " + spec.name + " ";
  if (spec.kind == WeightKind::kFp8Matrix) {
    if (tensor.dtype != DType::kF8E4M3) {
      return Status::error(where + "has dtype " + tensor.dtype_name + "; config.json's quantization_config (" +
                           config.quantization.describe() + ") needs F8_E4M3");
    }
  } else if (!is_float_dtype(tensor.dtype)) {
    if (tensor.dtype == DType::kF8E4M3 && spec.kind == WeightKind::kMatrix) {
      return Status::error(where + "has dtype F8_E4M3, but config.json's quantization_config " +
                           (config.quantization.checkpoint_is_quantized() ? "leaves this linear out (ignore list)"
                                                                          : "is missing") +
                           "; an FP8 checkpoint needs its quantization_config");
    }
    return Status::error(where + "has dtype " + tensor.dtype_name + "; supported: BF16, F16, F32");
  }
  const bool is_scale = spec.kind == WeightKind::kWeightScale || spec.kind == WeightKind::kInputScale ||
                        spec.kind == WeightKind::kKvCacheScale;
  if (is_scale ? !scale_shape_matches(tensor.shape, spec) : tensor.shape != spec.shape) {
    return Status::error(where + "has shape " + shape_to_string(tensor.shape) + ", config.json implies " +
                         shape_to_string(spec.shape));
  }
  TensorView view;
  view.data = tensor.data;
  view.dtype = *tensor.dtype;
  view.shape = tensor.shape;
  return view;
}

// Brings every page in (see MappedFile::populate) with progress over bytes, reading the next
// chunk ahead while this one is mapped.
void prefault(const Checkpoint& checkpoint, bool show_progress) {
  constexpr size_t kChunkBytes = size_t{64} << 20;
  std::unique_ptr<ProgressBar> bar;
  if (show_progress) {
    bar = std::make_unique<ProgressBar>("Loading safetensors", static_cast<int64_t>(checkpoint.total_file_bytes()),
                                        ProgressUnit::kBytes);
  }
  for (const auto& file : checkpoint.files()) {
    const MappedFile& mapping = file->mapping();
    for (size_t offset = 0; offset < mapping.size(); offset += kChunkBytes) {
      const size_t length = std::min(kChunkBytes, mapping.size() - offset);
      mapping.advise_will_need(offset + kChunkBytes, kChunkBytes);
      mapping.populate(offset, length);
      if (bar) bar->advance(static_cast<int64_t>(length));
    }
  }
  if (bar) bar->finish();
}

}  // namespace

Result<ModelWeights> map_model_weights(const ModelConfig& config, const Checkpoint& checkpoint) {
  ModelWeights weights;
  const std::map<std::string, TensorView*> slots = weight_slots(config, &weights);
  const std::vector<WeightSpec> specs = model_weight_specs(config);
  std::set<std::string> expected;

  std::vector<std::string> missing;
  for (const WeightSpec& spec : specs) {
    expected.insert(spec.name);
    const CheckpointTensor* location = checkpoint.find(spec.name);
    if (location == nullptr) {
      missing.push_back(spec.name);
      continue;
    }
    KILN_ASSIGN_OR_RETURN(*slots.at(spec.name), checked_view(*location, spec, config));
  }
  if (!missing.empty()) {
    return Status::error(checkpoint.source_name() + ": tensor " + missing.front() + " is missing" +
                         and_more(missing.size()) + "; config.json (" + config.architecture_name +
                         ", " + std::to_string(config.num_hidden_layers) + " layers) needs it");
  }

  std::vector<std::pair<std::string, std::string>> unexpected;  // (file, tensor)
  for (const auto& [name, location] : checkpoint.tensors()) {
    if (expected.count(name) || is_ignorable_tensor(name)) continue;
    if (name == "lm_head.weight" && config.tie_word_embeddings) {
      // Some exporters save the tied head too; HF ignores it and so do we, after a shape check.
      const WeightSpec spec{name, {config.vocab_size, config.hidden_size}, WeightKind::kMatrix, std::nullopt, ""};
      KILN_ASSIGN_OR_RETURN(const TensorView ignored, checked_view(location, spec, config));
      (void)ignored;
      continue;
    }
    unexpected.emplace_back(location.file->name(), name);
  }
  if (!unexpected.empty()) {
    return Status::error(unexpected.front().first + ": unexpected tensor " + unexpected.front().second +
                         and_more(unexpected.size()) + "; config.json (" + config.architecture_name +
                         ", " + std::to_string(config.num_hidden_layers) + " layers) has no such weight");
  }
  if (config.tie_word_embeddings) weights.lm_head = weights.embed_tokens;
  return weights;
}

Result<std::unique_ptr<LoadedModel>> load_model(const std::filesystem::path& model_dir,
                                                const LoadOptions& options) {
  const double start_s = monotonic_seconds();
  auto model = std::make_unique<LoadedModel>();
  KILN_ASSIGN_OR_RETURN(model->config, load_model_config(model_dir / "config.json"));
  KILN_ASSIGN_OR_RETURN(model->checkpoint, Checkpoint::open(model_dir));
  KILN_ASSIGN_OR_RETURN(model->weights, map_model_weights(model->config, *model->checkpoint));
  KILN_ASSIGN_OR_RETURN(model->config.quantization,
                        apply_quantization_flag(model->config.quantization, options.quantization));
  if (model->config.quantization.enabled()) {
    KILN_LOG(Info) << "Quantization: " << model->config.quantization.describe();
  }

  // Mixed dtypes are legal (HF keeps some norms in f32); say so, since it costs speed.
  std::map<DType, int> dtype_counts;
  int64_t weight_bytes = 0;
  for (const WeightSpec& spec : model_weight_specs(model->config)) {
    const SafetensorsTensor& tensor = *model->checkpoint->find(spec.name)->tensor;
    // FP8 codes and their scales have the dtypes the format gives them.
    if (spec.kind == WeightKind::kMatrix || spec.kind == WeightKind::kBias || spec.kind == WeightKind::kNorm) {
      ++dtype_counts[*tensor.dtype];
    }
    weight_bytes += static_cast<int64_t>(tensor.size_bytes());
  }
  model->weight_bytes = weight_bytes;
  if (dtype_counts.size() > 1 || dtype_counts.begin()->first != model->config.dtype) {
    std::string summary;
    for (const auto& [dtype, count] : dtype_counts) {
      summary += (summary.empty() ? "" : ", ") + std::to_string(count) + " " + std::string(dtype_name(dtype));
    }
    KILN_LOG(Warning) << model_dir.string() << ": tensor dtypes are " << summary
                      << " while config.json says " << dtype_name(model->config.dtype);
  }
  if (options.prefault) prefault(*model->checkpoint, options.show_progress);
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%.2f", monotonic_seconds() - start_s);
  // Without the prefault the pages are read later by whoever consumes the weights (the GPU
  // upload logs its own time), so this line then only reports the mapping.
  KILN_LOG(Info) << (options.prefault ? "Loading model weights took " : "Mapped model weights: ")
                 << (weight_bytes >= (int64_t{1} << 30) ? format_gib(weight_bytes) : format_bytes(weight_bytes))
                 << (options.prefault ? " and " + std::string(seconds) + " seconds" : std::string(" in ") + seconds + " s")
                 << " ("
                 << model->checkpoint->files().size() << " safetensors file"
                 << (model->checkpoint->files().size() == 1 ? "" : "s") << ", "
                 << model->config.architecture_name << ", " << model->config.num_hidden_layers
                 << " layers)";
  return model;
}

}  // namespace kiln
