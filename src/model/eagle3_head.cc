#include "model/eagle3_head.h"

#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "base/file_reading.h"

namespace kiln {
namespace {

using Json = nlohmann::json;

bool is_eagle3_architecture(const std::string& name) {
  // SGLang's class name and vLLM's.
  return name == kEagle3Architecture || name == "Eagle3LlamaForCausalLM";
}

Status field_error(const std::string& source, const std::string& field, const std::string& what) {
  return Status::error(source + ": " + field + " " + what);
}

// One of the names a head's tensor goes by, or null.
const CheckpointTensor* find_tensor(const Checkpoint& checkpoint, const std::string& name) {
  std::vector<std::string> names = {name, "model." + name};
  const std::string mid = "midlayer.";
  if (name.rfind(mid, 0) == 0) {
    const std::string rest = name.substr(mid.size());
    names.push_back("layers.0." + rest);
    names.push_back("model.layers.0." + rest);
  }
  for (const std::string& candidate : names) {
    if (const CheckpointTensor* t = checkpoint.find(candidate)) return t;
  }
  return nullptr;
}

Result<TensorView> float_tensor(const Checkpoint& checkpoint, const std::string& name,
                                const std::vector<int64_t>& shape) {
  const CheckpointTensor* t = find_tensor(checkpoint, name);
  if (t == nullptr) return Status::error(checkpoint.source_name() + ": tensor " + name + " is missing (EAGLE-3 head)");
  const std::string where = t->file->name() + ": tensor " + t->tensor->name;
  const std::optional<DType> dtype = t->tensor->dtype;
  if (!dtype || (*dtype != DType::kBF16 && *dtype != DType::kF16 && *dtype != DType::kF32)) {
    return Status::error(where + " has dtype " + t->tensor->dtype_name + "; an EAGLE-3 head is read in BF16, F16 or F32");
  }
  if (t->tensor->shape != shape) {
    return Status::error(where + " has shape " + shape_to_string(t->tensor->shape) + ", the head's config.json implies " +
                         shape_to_string(shape));
  }
  return TensorView{t->tensor->data, *dtype, t->tensor->shape};
}

// d2t as target ids (draft id + offset), checked against the vocabulary and t2d.
Result<std::vector<int32_t>> draft_to_target_ids(const Eagle3HeadConfig& config, const Checkpoint& checkpoint) {
  const int64_t draft_vocab = config.draft_vocab_size;
  const int64_t vocab = config.layer.vocab_size;
  std::vector<int32_t> ids(static_cast<size_t>(draft_vocab));
  const CheckpointTensor* d2t = find_tensor(checkpoint, "d2t");
  if (d2t == nullptr) {
    if (draft_vocab != vocab) {
      return Status::error(checkpoint.source_name() + ": tensor d2t is missing, and draft_vocab_size (" +
                           std::to_string(draft_vocab) + ") differs from vocab_size (" + std::to_string(vocab) + ")");
    }
    for (int64_t i = 0; i < draft_vocab; ++i) ids[static_cast<size_t>(i)] = static_cast<int32_t>(i);
    return ids;
  }
  const std::string where = d2t->file->name() + ": tensor " + d2t->tensor->name;
  const std::string& type = d2t->tensor->dtype_name;
  if (type != "I64" && type != "I32") return Status::error(where + " has dtype " + type + "; expected I64 (or I32)");
  if (d2t->tensor->shape != std::vector<int64_t>{draft_vocab}) {
    return Status::error(where + " has shape " + shape_to_string(d2t->tensor->shape) + ", draft_vocab_size implies [" +
                         std::to_string(draft_vocab) + "]");
  }
  const char* bytes = static_cast<const char*>(d2t->tensor->data);
  for (int64_t i = 0; i < draft_vocab; ++i) {
    int64_t offset = 0;
    if (type == "I64") {
      std::memcpy(&offset, bytes + i * 8, 8);
    } else {
      int32_t narrow = 0;
      std::memcpy(&narrow, bytes + i * 4, 4);
      offset = narrow;
    }
    const int64_t target = i + offset;
    if (target < 0 || target >= vocab) {
      return Status::error(where + ": draft id " + std::to_string(i) + " maps to token " + std::to_string(target) +
                           ", outside the vocabulary of " + std::to_string(vocab));
    }
    ids[static_cast<size_t>(i)] = static_cast<int32_t>(target);
  }
  const std::set<int32_t> distinct(ids.begin(), ids.end());
  if (static_cast<int64_t>(distinct.size()) != draft_vocab) {
    return Status::error(where + " maps two draft ids to the same token");
  }
  if (const CheckpointTensor* t2d = find_tensor(checkpoint, "t2d")) {
    const std::string t2d_where = t2d->file->name() + ": tensor " + t2d->tensor->name;
    if (t2d->tensor->dtype_name != "BOOL" && t2d->tensor->dtype_name != "U8") {
      return Status::error(t2d_where + " has dtype " + t2d->tensor->dtype_name + "; expected BOOL");
    }
    if (t2d->tensor->shape != std::vector<int64_t>{vocab}) {
      return Status::error(t2d_where + " has shape " + shape_to_string(t2d->tensor->shape) + ", vocab_size implies [" +
                           std::to_string(vocab) + "]");
    }
    const auto* in_draft = static_cast<const uint8_t*>(t2d->tensor->data);
    int64_t count = 0;
    for (int64_t t = 0; t < vocab; ++t) count += in_draft[t] != 0;
    for (int32_t target : ids) {
      if (in_draft[target] == 0) {
        return Status::error(t2d_where + " leaves out token " + std::to_string(target) + ", which d2t maps a draft id to");
      }
    }
    if (count != draft_vocab) {
      return Status::error(t2d_where + " marks " + std::to_string(count) + " tokens, draft_vocab_size is " +
                           std::to_string(draft_vocab));
    }
  }
  return ids;
}

}  // namespace

Result<Eagle3HeadConfig> parse_eagle3_head_config(const std::string& json_text, const std::string& source,
                                                  const ModelConfig& target) {
  Json root = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) return Status::error(source + ": not a JSON object");
  const auto architectures = root.find("architectures");
  if (architectures == root.end() || !architectures->is_array() || architectures->empty() ||
      !(*architectures)[0].is_string() || !is_eagle3_architecture((*architectures)[0].get<std::string>())) {
    return field_error(source, "architectures",
                       std::string("must name ") + kEagle3Architecture + " (an EAGLE-3 draft head), got " +
                           (architectures == root.end() ? std::string("nothing") : architectures->dump()));
  }
  Eagle3HeadConfig config;
  // The rest of the config is a Llama's: parse it as one.
  Json as_llama = root;
  as_llama["architectures"] = Json::array({"LlamaForCausalLM"});
  as_llama["model_type"] = "llama";
  as_llama.erase("quantization_config");
  KILN_ASSIGN_OR_RETURN(config.layer, parse_model_config(as_llama.dump(), source));
  const ModelConfig& layer = config.layer;
  if (layer.num_hidden_layers != 1) {
    return field_error(source, "num_hidden_layers", "is " + std::to_string(layer.num_hidden_layers) +
                                                        "; kiln runs one-layer EAGLE-3 heads");
  }
  if (layer.vocab_size != target.vocab_size) {
    return field_error(source, "vocab_size", "(" + std::to_string(layer.vocab_size) + ") differs from the target model's (" +
                                                 std::to_string(target.vocab_size) + ")");
  }
  config.draft_vocab_size = layer.vocab_size;
  if (const auto it = root.find("draft_vocab_size"); it != root.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > layer.vocab_size) {
      return field_error(source, "draft_vocab_size", "must be an integer between 1 and vocab_size (" +
                                                         std::to_string(layer.vocab_size) + "), got " + it->dump());
    }
    config.draft_vocab_size = it->get<int>();
  }
  config.target_hidden_size = layer.hidden_size;
  if (const auto it = root.find("target_hidden_size"); it != root.end() && !it->is_null()) {
    if (!it->is_number_integer()) return field_error(source, "target_hidden_size", "must be an integer, got " + it->dump());
    config.target_hidden_size = it->get<int>();
  }
  if (config.target_hidden_size != target.hidden_size) {
    return field_error(source, layer.hidden_size == config.target_hidden_size ? "hidden_size" : "target_hidden_size",
                       "(" + std::to_string(config.target_hidden_size) + ") differs from the target model's hidden_size (" +
                           std::to_string(target.hidden_size) + ")");
  }
  const int num_layers = target.num_hidden_layers;
  const Json* ids = nullptr;
  if (const auto eagle = root.find("eagle_config"); eagle != root.end() && eagle->is_object()) {
    if (const auto it = eagle->find("eagle_aux_hidden_state_layer_ids"); it != eagle->end() && !it->is_null()) ids = &*it;
  }
  if (ids != nullptr) {
    if (!ids->is_array() || ids->size() != 3) {
      return field_error(source, "eagle_config.eagle_aux_hidden_state_layer_ids", "must list 3 layer ids, got " + ids->dump());
    }
    for (const Json& id : *ids) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= num_layers) {
        return field_error(source, "eagle_config.eagle_aux_hidden_state_layer_ids",
                           "holds " + id.dump() + "; the target's layers are 0.." + std::to_string(num_layers - 1));
      }
      config.target_layer_inputs.push_back(id.get<int>() + 1);
    }
  } else {
    config.target_layer_inputs = {2, num_layers / 2, num_layers - 3};
    for (int input : config.target_layer_inputs) {
      if (input < 0 || input > num_layers) {
        return field_error(source, "eagle_config.eagle_aux_hidden_state_layer_ids",
                           "is needed: the target's " + std::to_string(num_layers) +
                               " layers are too few for the default layers (2, L/2, L-3)");
      }
    }
  }
  return config;
}

Result<Eagle3HeadWeights> map_eagle3_head_weights(const Eagle3HeadConfig& config, const Checkpoint& checkpoint,
                                                  const TensorView& target_embed_tokens, bool* shares_target_embedding) {
  const ModelConfig& c = config.layer;
  const int64_t h = c.hidden_size, q = c.q_size(), kv = c.kv_size(), inter = c.intermediate_size;
  Eagle3HeadWeights w;
  KILN_ASSIGN_OR_RETURN(w.fc, float_tensor(checkpoint, "fc.weight", {h, 3 * static_cast<int64_t>(config.target_hidden_size)}));
  KILN_ASSIGN_OR_RETURN(w.hidden_norm, float_tensor(checkpoint, "midlayer.hidden_norm.weight", {h}));
  KILN_ASSIGN_OR_RETURN(w.input_layernorm, float_tensor(checkpoint, "midlayer.input_layernorm.weight", {h}));
  KILN_ASSIGN_OR_RETURN(w.q_proj, float_tensor(checkpoint, "midlayer.self_attn.q_proj.weight", {q, 2 * h}));
  KILN_ASSIGN_OR_RETURN(w.k_proj, float_tensor(checkpoint, "midlayer.self_attn.k_proj.weight", {kv, 2 * h}));
  KILN_ASSIGN_OR_RETURN(w.v_proj, float_tensor(checkpoint, "midlayer.self_attn.v_proj.weight", {kv, 2 * h}));
  KILN_ASSIGN_OR_RETURN(w.o_proj, float_tensor(checkpoint, "midlayer.self_attn.o_proj.weight", {h, q}));
  KILN_ASSIGN_OR_RETURN(w.post_attention_layernorm, float_tensor(checkpoint, "midlayer.post_attention_layernorm.weight", {h}));
  KILN_ASSIGN_OR_RETURN(w.gate_proj, float_tensor(checkpoint, "midlayer.mlp.gate_proj.weight", {inter, h}));
  KILN_ASSIGN_OR_RETURN(w.up_proj, float_tensor(checkpoint, "midlayer.mlp.up_proj.weight", {inter, h}));
  KILN_ASSIGN_OR_RETURN(w.down_proj, float_tensor(checkpoint, "midlayer.mlp.down_proj.weight", {h, inter}));
  KILN_ASSIGN_OR_RETURN(w.norm, float_tensor(checkpoint, "norm.weight", {h}));
  KILN_ASSIGN_OR_RETURN(w.lm_head, float_tensor(checkpoint, "lm_head.weight", {config.draft_vocab_size, h}));
  const int64_t vocab = c.vocab_size;
  if (find_tensor(checkpoint, "embed_tokens.weight") != nullptr) {
    KILN_ASSIGN_OR_RETURN(w.embed_tokens, float_tensor(checkpoint, "embed_tokens.weight", {vocab, h}));
    *shares_target_embedding = false;
  } else {
    if (target_embed_tokens.shape != std::vector<int64_t>{vocab, h}) {
      return Status::error(checkpoint.source_name() + ": the head has no embed_tokens.weight, and the target's embedding " +
                           shape_to_string(target_embed_tokens.shape) + " is not the [vocab_size, hidden_size] " +
                           shape_to_string({vocab, h}) + " the head needs");
    }
    w.embed_tokens = target_embed_tokens;
    *shares_target_embedding = true;
  }
  KILN_ASSIGN_OR_RETURN(w.draft_to_target, draft_to_target_ids(config, checkpoint));
  return w;
}

Result<std::unique_ptr<LoadedEagle3Head>> load_eagle3_head(const std::filesystem::path& dir, const ModelConfig& target,
                                                           const TensorView& target_embed_tokens) {
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) return Status::error("EAGLE-3 head " + dir.string() + ": no such directory");
  const std::filesystem::path config_path = dir / "config.json";
  KILN_ASSIGN_OR_RETURN(std::string text, read_regular_file(config_path));
  auto head = std::make_unique<LoadedEagle3Head>();
  KILN_ASSIGN_OR_RETURN(head->config, parse_eagle3_head_config(text, config_path.string(), target));
  if (!std::filesystem::exists(dir / kSafetensorsSingleFile, error) &&
      !std::filesystem::exists(dir / kSafetensorsIndexFile, error) && std::filesystem::exists(dir / "pytorch_model.bin", error)) {
    return Status::error("EAGLE-3 head " + dir.string() +
                         ": holds pytorch_model.bin only; kiln reads safetensors (convert it once with "
                         "safetensors.torch.save_file(torch.load(path), 'model.safetensors'))");
  }
  KILN_ASSIGN_OR_RETURN(head->checkpoint, Checkpoint::open(dir));
  KILN_ASSIGN_OR_RETURN(head->weights, map_eagle3_head_weights(head->config, *head->checkpoint, target_embed_tokens,
                                                               &head->shares_target_embedding));
  return head;
}

}  // namespace kiln
