#include "model/synth_eagle3_head.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/file_reading.h"
#include "model/eagle3_head.h"
#include "model/safetensors_writer.h"
#include "model/weight_rng.h"

namespace kiln {
namespace {

using Json = nlohmann::json;

struct HeadTensor {
  SafetensorsEntry entry;
  double mean = 0;                // norms: 1, matrices: 0
  std::vector<uint8_t> raw;       // d2t and t2d: the bytes themselves
};

// draft_vocab distinct target ids, ascending: the lowest draft_vocab / 8, the rest drawn from the seed.
std::vector<int64_t> draft_vocabulary(int64_t vocab, int64_t draft_vocab, uint64_t seed) {
  const int64_t fixed = draft_vocab / 8;
  std::vector<int64_t> rest(static_cast<size_t>(vocab - fixed));
  std::iota(rest.begin(), rest.end(), fixed);
  const uint64_t key = weight_stream_key(seed, "d2t");
  const int64_t drawn = draft_vocab - fixed;
  for (int64_t i = 0; i < drawn; ++i) {  // a partial Fisher-Yates shuffle
    const uint64_t span = static_cast<uint64_t>(rest.size()) - static_cast<uint64_t>(i);
    const size_t j = static_cast<size_t>(i) + static_cast<size_t>(mix64(key + static_cast<uint64_t>(i)) % span);
    std::swap(rest[static_cast<size_t>(i)], rest[j]);
  }
  std::vector<int64_t> ids(static_cast<size_t>(fixed));
  std::iota(ids.begin(), ids.end(), int64_t{0});
  ids.insert(ids.end(), rest.begin(), rest.begin() + drawn);
  std::sort(ids.begin(), ids.end());
  return ids;
}

void to_dtype(const float* values, size_t count, DType dtype, uint8_t* out) {
  for (size_t i = 0; i < count; ++i) {
    if (dtype == DType::kF32) {
      std::memcpy(out + 4 * i, &values[i], 4);
    } else {
      const uint16_t bits = dtype == DType::kBF16 ? f32_to_bf16(values[i]) : f32_to_f16(values[i]);
      std::memcpy(out + 2 * i, &bits, 2);
    }
  }
}

}  // namespace

bool is_eagle3_head_config(const std::string& json_text) {
  const Json root = Json::parse(json_text, nullptr, false);
  if (root.is_discarded() || !root.is_object()) return false;
  const auto it = root.find("architectures");
  if (it == root.end() || !it->is_array() || it->empty() || !(*it)[0].is_string()) return false;
  const std::string name = (*it)[0].get<std::string>();
  return name == kEagle3Architecture || name == "Eagle3LlamaForCausalLM";
}

Result<Eagle3HeadConfig> load_eagle3_head_config_alone(const std::filesystem::path& config_path) {
  KILN_ASSIGN_OR_RETURN(std::string text, read_regular_file(config_path));
  const Json config_json = Json::parse(text, nullptr, false);
  if (config_json.is_discarded() || !config_json.is_object()) return Status::error(config_path.string() + ": not a JSON object");
  // A stand-in target of the head's vocabulary and width, with layers enough for any ids.
  ModelConfig stand_in;
  const auto integer = [&](const char* key, int fallback) {
    const auto it = config_json.find(key);
    return it != config_json.end() && it->is_number_integer() ? it->get<int>() : fallback;
  };
  stand_in.vocab_size = integer("vocab_size", 0);
  stand_in.hidden_size = integer("target_hidden_size", integer("hidden_size", 0));
  stand_in.num_hidden_layers = 1 << 12;
  return parse_eagle3_head_config(text, config_path.string(), stand_in);
}

Result<SynthEagle3HeadReport> synth_eagle3_head(const SynthEagle3HeadOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(std::string text, read_regular_file(options.config_path));
  Json config_json = Json::parse(text, nullptr, false);
  KILN_ASSIGN_OR_RETURN(Eagle3HeadConfig config, load_eagle3_head_config_alone(options.config_path));
  const ModelConfig& c = config.layer;
  const int64_t h = c.hidden_size, q = c.q_size(), kv = c.kv_size(), inter = c.intermediate_size;
  const DType dtype = options.dtype;
  std::vector<HeadTensor> tensors;
  const auto matrix = [&](const std::string& name, std::vector<int64_t> shape) {
    tensors.push_back({SafetensorsEntry{name, dtype, std::move(shape), {}}, 0.0, {}});
  };
  const auto norm = [&](const std::string& name) { tensors.push_back({SafetensorsEntry{name, dtype, {h}, {}}, 1.0, {}}); };
  matrix("fc.weight", {h, 3 * static_cast<int64_t>(config.target_hidden_size)});
  norm("midlayer.hidden_norm.weight");
  norm("midlayer.input_layernorm.weight");
  matrix("midlayer.self_attn.q_proj.weight", {q, 2 * h});
  matrix("midlayer.self_attn.k_proj.weight", {kv, 2 * h});
  matrix("midlayer.self_attn.v_proj.weight", {kv, 2 * h});
  matrix("midlayer.self_attn.o_proj.weight", {h, q});
  norm("midlayer.post_attention_layernorm.weight");
  matrix("midlayer.mlp.gate_proj.weight", {inter, h});
  matrix("midlayer.mlp.up_proj.weight", {inter, h});
  matrix("midlayer.mlp.down_proj.weight", {h, inter});
  norm("norm.weight");
  matrix("lm_head.weight", {config.draft_vocab_size, h});
  const std::vector<int64_t> ids = draft_vocabulary(c.vocab_size, config.draft_vocab_size, options.seed);
  HeadTensor d2t{SafetensorsEntry{"d2t", DType::kF32, {config.draft_vocab_size}, "I64"}, 0.0, {}};
  HeadTensor t2d{SafetensorsEntry{"t2d", DType::kF32, {c.vocab_size}, "BOOL"}, 0.0, {}};
  d2t.raw.resize(ids.size() * 8);
  t2d.raw.assign(static_cast<size_t>(c.vocab_size), 0);
  for (size_t i = 0; i < ids.size(); ++i) {
    const int64_t offset = ids[i] - static_cast<int64_t>(i);
    std::memcpy(d2t.raw.data() + 8 * i, &offset, 8);
    t2d.raw[static_cast<size_t>(ids[i])] = 1;
  }
  tensors.push_back(std::move(d2t));
  tensors.push_back(std::move(t2d));

  std::error_code error;
  std::filesystem::create_directories(options.out_dir, error);
  if (error) return Status::error(options.out_dir.string() + ": cannot create: " + error.message());
  std::vector<SafetensorsEntry> entries;
  for (const HeadTensor& t : tensors) entries.push_back(t.entry);
  const SafetensorsLayout layout = plan_safetensors(entries, {{"format", "pt"}});
  const std::filesystem::path path = options.out_dir / kSafetensorsSingleFile;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::error(path.string() + ": cannot create: " + std::strerror(errno));
  Status status = write_all(fd, layout.header.data(), layout.header.size(), path);
  std::vector<float> values;
  std::vector<uint8_t> bytes;
  for (size_t index : layout.data_order) {
    if (!status.ok()) break;
    const HeadTensor& t = tensors[index];
    if (!t.raw.empty()) {
      status = write_all(fd, t.raw.data(), t.raw.size(), path);
      continue;
    }
    const size_t count = static_cast<size_t>(t.entry.size_bytes() / dtype_size_bytes(dtype));
    values.resize(count);
    fill_normal(weight_stream_key(options.seed, t.entry.name), 0, count, t.mean, options.stddev, values.data());
    bytes.resize(static_cast<size_t>(t.entry.size_bytes()));
    to_dtype(values.data(), count, dtype, bytes.data());
    status = write_all(fd, bytes.data(), bytes.size(), path);
  }
  if (::close(fd) != 0 && status.ok()) status = Status::error(path.string() + ": close failed: " + std::strerror(errno));
  KILN_RETURN_IF_ERROR(status);
  std::filesystem::remove(options.out_dir / kSafetensorsIndexFile, error);

  config_json["torch_dtype"] = dtype == DType::kBF16 ? "bfloat16" : dtype == DType::kF16 ? "float16" : "float32";
  if (!config_json.contains("draft_vocab_size")) config_json["draft_vocab_size"] = config.draft_vocab_size;
  std::ofstream out(options.out_dir / "config.json", std::ios::binary | std::ios::trunc);
  out << config_json.dump(2) << "\n";
  out.close();
  if (!out) return Status::error((options.out_dir / "config.json").string() + ": write failed");
  SynthEagle3HeadReport report;
  report.weight_bytes = layout.data_bytes;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace kiln
