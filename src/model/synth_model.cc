#include "model/synth_model.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/byte_size.h"
#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/progress_bar.h"
#include "model/checkpoint.h"
#include "model/quant/synth_fp8.h"
#include "model/model_config.h"
#include "model/safetensors_writer.h"
#include "model/weight_rng.h"
#include "model/weight_specs.h"

namespace kiln {
namespace {

using Json = nlohmann::json;

constexpr size_t kChunkBytes = size_t{64} << 20;  // generated in parallel, then written at once
constexpr size_t kBlockElements = 4096;           // per-thread f32 staging before conversion

const char* const kTokenizerFiles[] = {"tokenizer.json", "tokenizer_config.json",
                                       "generation_config.json", "special_tokens_map.json"};

// Where a tensor's values come from: the normal stream of its name (matrices, biases, norms),
// the quantized stream of an FP8 matrix, or values computed before writing (FP8 scales).
struct TensorSource {
  uint64_t key = 0;
  double mean = 0;
  const SynthFp8Matrix* fp8 = nullptr;  // kFp8Matrix: codes of this matrix
  const float* values = nullptr;        // scales: the tensor's values, already rounded
};

// A run of one tensor's elements that lands at `buffer_offset` (bytes) of a chunk.
struct Piece {
  TensorSource source;
  DType dtype = DType::kBF16;
  uint64_t first = 0;  // element index in the tensor
  uint64_t count = 0;
  size_t buffer_offset = 0;
};

void convert_block(const float* values, size_t count, DType dtype, uint8_t* out) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(out, values, count * sizeof(float));
      return;
    case DType::kBF16:
      for (size_t i = 0; i < count; ++i) {
        const uint16_t bits = f32_to_bf16(values[i]);
        std::memcpy(out + 2 * i, &bits, 2);
      }
      return;
    case DType::kF16:
      for (size_t i = 0; i < count; ++i) {
        const uint16_t bits = f32_to_f16(values[i]);
        std::memcpy(out + 2 * i, &bits, 2);
      }
      return;
    case DType::kF8E4M3: break;
  }
  KILN_CHECK(false) << "synth converts f32 values to bf16, f16 or f32, not " << dtype_name(dtype);
}

// Elements [first, first + count) of a piece's tensor into out.
void generate_elements(const Piece& piece, uint64_t first, size_t count, double stddev, float* staging,
                       uint8_t* out) {
  if (piece.source.fp8) {
    piece.source.fp8->quantize(first, count, out);
  } else if (piece.source.values) {
    convert_block(piece.source.values + first, count, piece.dtype, out);
  } else {
    fill_normal(piece.source.key, first, count, piece.source.mean, stddev, staging);
    convert_block(staging, count, piece.dtype, out);
  }
}

// Fills the chunk: the elements of all pieces, split evenly over threads. Every element's value
// depends only on (tensor, index), so the split does not change the bytes.
void generate_chunk(const std::vector<Piece>& pieces, uint64_t total_elements, double stddev, int num_threads,
                    uint8_t* buffer) {
  const auto work = [&](uint64_t lo, uint64_t hi) {
    std::vector<float> staging(kBlockElements);
    uint64_t piece_start = 0;
    for (const Piece& piece : pieces) {
      const size_t element_bytes = dtype_size_bytes(piece.dtype);
      const uint64_t begin = std::max(lo, piece_start);
      const uint64_t end = std::min(hi, piece_start + piece.count);
      for (uint64_t at = begin; at < end; at += kBlockElements) {
        const size_t count = static_cast<size_t>(std::min<uint64_t>(kBlockElements, end - at));
        const uint64_t within = at - piece_start;
        generate_elements(piece, piece.first + within, count, stddev, staging.data(),
                          buffer + piece.buffer_offset + within * element_bytes);
      }
      piece_start += piece.count;
    }
  };
  const uint64_t per_thread = (total_elements + num_threads - 1) / static_cast<uint64_t>(num_threads);
  std::vector<std::thread> threads;
  for (int t = 1; t < num_threads; ++t) {
    const uint64_t lo = std::min(total_elements, per_thread * static_cast<uint64_t>(t));
    const uint64_t hi = std::min(total_elements, lo + per_thread);
    if (lo < hi) threads.emplace_back(work, lo, hi);
  }
  work(0, std::min(total_elements, per_thread));
  for (std::thread& thread : threads) thread.join();
}

// The quantization_config of the published checkpoints of each format: llm-compressor's FP8_DYNAMIC
// scheme (compressed-tensors) and DeepSeek's block format.
Json synth_quantization_config(SynthQuantization quantization) {
  if (quantization == SynthQuantization::kFp8Block) {
    return {{"activation_scheme", "dynamic"}, {"fmt", "e4m3"}, {"quant_method", "fp8"}, {"weight_block_size", {128, 128}}};
  }
  const Json args_common = {{"actorder", nullptr}, {"block_structure", nullptr}, {"group_size", nullptr},
                            {"num_bits", 8},       {"observer_kwargs", Json::object()}, {"symmetric", true},
                            {"type", "float"}};
  Json weights = args_common, inputs = args_common;
  weights["dynamic"] = false;
  weights["observer"] = "minmax";
  weights["strategy"] = "channel";
  inputs["dynamic"] = true;
  inputs["observer"] = nullptr;
  inputs["strategy"] = "token";
  const Json group = {{"input_activations", inputs}, {"output_activations", nullptr}, {"targets", {"Linear"}},
                      {"weights", weights}};
  return {{"config_groups", {{"group_0", group}}}, {"format", "float-quantized"}, {"ignore", {"lm_head"}},
          {"kv_cache_scheme", nullptr}, {"quant_method", "compressed-tensors"},
          {"quantization_status", "compressed"}};
}

// The dtype a spec is written in: the format's where it fixes one, else --dtype.
DType spec_dtype(const WeightSpec& spec, DType dtype) { return spec.dtype.value_or(dtype); }

// Streams one safetensors file: generation of chunk k+1 overlaps the write of chunk k.
class ShardWriter {
 public:
  // `chunk_bytes`: a multiple of 8, at most kChunkBytes; small models get small buffers.
  ShardWriter(const SynthOptions& options, size_t chunk_bytes, int num_threads, ProgressBar* bar)
      : options_(options), chunk_bytes_(chunk_bytes), num_threads_(num_threads), bar_(bar) {
    for (auto& buffer : buffers_) buffer = std::make_unique_for_overwrite<uint8_t[]>(chunk_bytes_);
  }

  // `sources`: by tensor name, where each spec's values come from.
  Status write(const std::filesystem::path& path, const std::vector<const WeightSpec*>& specs,
               const std::map<std::string, TensorSource>& sources) {
    std::vector<SafetensorsEntry> entries;
    for (const WeightSpec* spec : specs) entries.push_back({spec->name, spec_dtype(*spec, options_.dtype), spec->shape});
    const SafetensorsLayout layout = plan_safetensors(entries, {{"format", "pt"}});
    path_ = path;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return Status::error(path.string() + ": cannot create: " + std::strerror(errno));
    Status status = write_all(fd_, layout.header.data(), layout.header.size(), path);
    // The data follows largest elements first, so a chunk's used bytes are always a multiple of
    // the element size of the tensor being added.
    for (size_t index : layout.data_order) {
      if (!status.ok()) break;
      const WeightSpec& spec = *specs[index];
      const DType dtype = entries[index].dtype;
      const size_t element_bytes = dtype_size_bytes(dtype);
      const uint64_t numel = entries[index].size_bytes() / element_bytes;
      const TensorSource& source = sources.at(spec.name);
      for (uint64_t first = 0; first < numel && status.ok();) {
        const uint64_t room = (chunk_bytes_ - chunk_used_bytes_) / element_bytes;
        if (room == 0) {
          status = flush();
          continue;
        }
        const uint64_t count = std::min(numel - first, room);
        pieces_.push_back({source, dtype, first, count, chunk_used_bytes_});
        chunk_used_bytes_ += static_cast<size_t>(count * element_bytes);
        chunk_elements_ += count;
        first += count;
        if (chunk_used_bytes_ == chunk_bytes_) status = flush();
      }
    }
    if (status.ok()) status = flush();
    if (pending_.valid()) {
      const Status last = pending_.get();
      if (status.ok()) status = last;
    }
    if (::close(fd_) != 0 && status.ok()) {
      status = Status::error(path.string() + ": close failed: " + std::strerror(errno));
    }
    return status;
  }

 private:
  Status flush() {
    if (chunk_elements_ == 0) return ok_status();
    uint8_t* buffer = buffers_[current_].get();
    generate_chunk(pieces_, chunk_elements_, options_.stddev, num_threads_, buffer);
    if (pending_.valid()) KILN_RETURN_IF_ERROR(pending_.get());
    const size_t bytes = chunk_used_bytes_;
    pending_ = std::async(std::launch::async, [this, buffer, bytes] {
      Status status = write_all(fd_, buffer, bytes, path_);
      if (bar_ && status.ok()) bar_->advance(static_cast<int64_t>(bytes));
      return status;
    });
    current_ = 1 - current_;
    pieces_.clear();
    chunk_elements_ = 0;
    chunk_used_bytes_ = 0;
    return ok_status();
  }

  const SynthOptions& options_;
  size_t chunk_bytes_;
  int num_threads_;
  ProgressBar* bar_;
  std::unique_ptr<uint8_t[]> buffers_[2];
  int current_ = 0;
  std::vector<Piece> pieces_;
  uint64_t chunk_elements_ = 0;
  size_t chunk_used_bytes_ = 0;
  std::future<Status> pending_;
  std::filesystem::path path_;
  int fd_ = -1;
};

// Greedy like HF's split_torch_state_dict_into_shards: start a new shard when the next tensor
// would push the current one past the limit.
std::vector<std::vector<const WeightSpec*>> plan_shards(const std::vector<WeightSpec>& specs,
                                                        DType dtype, uint64_t max_shard_bytes) {
  // A quantized linear's scales stay in the shard of its weight (as HF's writer keeps a module's
  // tensors together), so the limit is checked only before a weight.
  std::vector<std::vector<const WeightSpec*>> shards(1);
  uint64_t shard_bytes = 0;
  for (const WeightSpec& spec : specs) {
    const uint64_t bytes = SafetensorsEntry{spec.name, spec_dtype(spec, dtype), spec.shape}.size_bytes();
    const bool is_scale = spec.kind == WeightKind::kWeightScale || spec.kind == WeightKind::kInputScale ||
                          spec.kind == WeightKind::kKvCacheScale;
    if (!shards.back().empty() && !is_scale && shard_bytes + bytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(&spec);
    shard_bytes += bytes;
  }
  return shards;
}

std::string shard_name(size_t index, size_t count) {
  char name[64];
  std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return name;
}

Status write_text_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status::error(path.string() + ": write failed");
  return ok_status();
}

// `reclaimable_bytes`: old files the synth removes before writing.
Status check_free_space(const std::filesystem::path& out_dir, uint64_t needed_bytes,
                        uint64_t reclaimable_bytes) {
  std::error_code error;
  const std::filesystem::space_info space = std::filesystem::space(out_dir, error);
  if (error) return Status::error(out_dir.string() + ": cannot query free space: " + error.message());
  constexpr uint64_t kMarginBytes = uint64_t{256} << 20;
  const uint64_t available = space.available + reclaimable_bytes;
  if (available < needed_bytes + kMarginBytes) {
    return Status::error(out_dir.string() + ": not enough free disk space: the model needs " +
                         format_gib(static_cast<int64_t>(needed_bytes)) + ", " +
                         format_gib(static_cast<int64_t>(available)) + " available");
  }
  return ok_status();
}

// Weights of an earlier synth (or download) in the output directory: they are replaced, so
// that a single file and an index never mix, and their space counts as free.
std::vector<std::filesystem::path> old_weight_files(const std::filesystem::path& out_dir) {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(out_dir, error)) {
    const std::string name = entry.path().filename().string();
    const bool is_shard = name.rfind("model-", 0) == 0 && name.find("-of-") != std::string::npos &&
                          name.size() > 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0;
    if (name == kSafetensorsSingleFile || name == kSafetensorsIndexFile || is_shard) files.push_back(entry.path());
  }
  return files;
}

Status remove_files(const std::vector<std::filesystem::path>& files) {
  for (const auto& path : files) {
    std::error_code error;
    std::filesystem::remove(path, error);
    if (error) return Status::error(path.string() + ": cannot remove: " + error.message());
  }
  return ok_status();
}

Status copy_tokenizer_files(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code error;
  if (!std::filesystem::is_directory(from, error)) {
    return Status::error(from.string() + ": tokenizer directory does not exist");
  }
  int copied = 0;
  for (const char* name : kTokenizerFiles) {
    if (!std::filesystem::exists(from / name, error)) continue;
    // Copied by content: copy_file would carry over read-only permissions and then fail to
    // overwrite on the next synth into the same directory.
    std::ifstream in(from / name, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    if (!in) return Status::error((from / name).string() + ": cannot read");
    KILN_RETURN_IF_ERROR(write_text_file(to / name, content.str()));
    ++copied;
  }
  if (copied == 0) return Status::error(from.string() + ": holds no tokenizer.json or tokenizer_config.json");
  return ok_status();
}

}  // namespace

std::optional<SynthQuantization> parse_synth_quantization(const std::string& name) {
  if (name == "fp8-dynamic") return SynthQuantization::kFp8Dynamic;
  if (name == "fp8-block") return SynthQuantization::kFp8Block;
  if (name == "none") return SynthQuantization::kNone;
  return std::nullopt;
}

Result<SynthReport> synth_model(const SynthOptions& options) {
  const double start_s = monotonic_seconds();
  if (options.dtype == DType::kF8E4M3) return Status::error("synth writes bf16, f16 or f32, not fp8");
  if (!(options.stddev >= 0)) return Status::error("synth: the standard deviation must be >= 0");
  std::ifstream in(options.config_path, std::ios::binary);
  if (!in) return Status::error(options.config_path.string() + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  KILN_ASSIGN_OR_RETURN(ModelConfig config, parse_model_config(text.str(), options.config_path.string()));
  Json config_json = Json::parse(text.str());  // valid: parse_model_config accepted it
  const std::string torch_dtype = options.dtype == DType::kBF16  ? "bfloat16"
                                  : options.dtype == DType::kF16 ? "float16"
                                                                 : "float32";
  config_json["torch_dtype"] = torch_dtype;
  if (config_json.contains("dtype")) config_json["dtype"] = torch_dtype;
  // transformers' AutoConfig needs these; configs that name only one of them still parse here.
  if (!config_json.contains("model_type")) config_json["model_type"] = config.model_type;
  if (!config_json.contains("architectures")) config_json["architectures"] = {config.architecture_name};
  if (options.quantization != SynthQuantization::kAsConfig) {
    config_json.erase("quantization_config");
    if (options.quantization != SynthQuantization::kNone) {
      config_json["quantization_config"] = synth_quantization_config(options.quantization);
    }
    KILN_ASSIGN_OR_RETURN(config, parse_model_config(config_json.dump(), options.config_path.string()));
  }

  const std::vector<WeightSpec> specs = model_weight_specs(config);
  const auto shards = plan_shards(specs, options.dtype, std::max<uint64_t>(options.max_shard_bytes, 1));
  uint64_t weight_bytes = 0;
  for (const WeightSpec& spec : specs) {
    weight_bytes += SafetensorsEntry{spec.name, spec_dtype(spec, options.dtype), spec.shape}.size_bytes();
  }

  const int num_threads = options.num_threads > 0
                              ? options.num_threads
                              : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::error_code error;
  std::filesystem::create_directories(options.out_dir, error);
  if (error) return Status::error(options.out_dir.string() + ": cannot create: " + error.message());
  const std::vector<std::filesystem::path> old_files = old_weight_files(options.out_dir);
  uint64_t reclaimable_bytes = 0;
  for (const auto& path : old_files) {
    const uintmax_t size = std::filesystem::file_size(path, error);
    if (!error) reclaimable_bytes += size;  // on error file_size returns -1
  }
  KILN_RETURN_IF_ERROR(check_free_space(options.out_dir, weight_bytes + shards.size() * (1 << 20), reclaimable_bytes));
  KILN_RETURN_IF_ERROR(remove_files(old_files));

  std::unique_ptr<ProgressBar> bar;
  if (options.show_progress) {
    bar = std::make_unique<ProgressBar>("Writing weights", static_cast<int64_t>(weight_bytes), ProgressUnit::kBytes);
  }
  // Where each tensor's values come from; an FP8 matrix's scales need a pass over its values first.
  std::map<std::string, TensorSource> sources;
  std::map<std::string, SynthFp8Matrix> fp8_matrices;
  const float input_scale = kSynthInputScale;
  const float kv_cache_scale = kSynthKvCacheScale;
  for (const WeightSpec& spec : specs) {
    TensorSource& source = sources[spec.name];
    source.key = weight_stream_key(options.seed, spec.name);
    source.mean = spec.kind == WeightKind::kNorm ? 1.0 : 0.0;
    if (spec.kind == WeightKind::kFp8Matrix) {
      const WeightSpec* scale_spec = nullptr;
      for (const WeightSpec& other : specs) {
        if (other.kind == WeightKind::kWeightScale && other.scale_of == spec.name) scale_spec = &other;
      }
      KILN_CHECK(scale_spec != nullptr) << spec.name << " has no scale tensor";
      fp8_matrices[spec.name] =
          plan_synth_fp8_matrix(source.key, options.stddev, spec.shape[0], spec.shape[1], options.dtype,
                                config.quantization, spec_dtype(*scale_spec, options.dtype), num_threads);
    }
  }
  for (const WeightSpec& spec : specs) {
    if (spec.kind == WeightKind::kFp8Matrix) sources[spec.name].fp8 = &fp8_matrices.at(spec.name);
    if (spec.kind == WeightKind::kWeightScale) sources[spec.name].values = fp8_matrices.at(spec.scale_of).scales.data();
    if (spec.kind == WeightKind::kInputScale) sources[spec.name].values = &input_scale;
    if (spec.kind == WeightKind::kKvCacheScale) sources[spec.name].values = &kv_cache_scale;
  }
  const size_t chunk_bytes = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, (weight_bytes + 7) / 8 * 8));
  ShardWriter writer(options, std::max<size_t>(chunk_bytes, 8), num_threads, bar.get());
  Json weight_map = Json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = shards.size() == 1 ? kSafetensorsSingleFile : shard_name(i, shards.size());
    // Written under a temporary name so that an interrupted synth never leaves a loadable
    // but truncated file.
    const std::filesystem::path partial = options.out_dir / (name + ".partial");
    KILN_RETURN_IF_ERROR(writer.write(partial, shards[i], sources));
    std::filesystem::rename(partial, options.out_dir / name, error);
    if (error) return Status::error(partial.string() + ": cannot rename: " + error.message());
    for (const WeightSpec* spec : shards[i]) weight_map[spec->name] = name;
  }
  if (bar) bar->finish();
  if (shards.size() > 1) {
    const Json index = {{"metadata", {{"total_size", weight_bytes}}}, {"weight_map", weight_map}};
    KILN_RETURN_IF_ERROR(write_text_file(options.out_dir / kSafetensorsIndexFile, index.dump(2) + "\n"));
  }
  KILN_RETURN_IF_ERROR(write_text_file(options.out_dir / "config.json", config_json.dump(2) + "\n"));
  if (options.tokenizer_dir) KILN_RETURN_IF_ERROR(copy_tokenizer_files(*options.tokenizer_dir, options.out_dir));

  SynthReport report;
  report.num_files = static_cast<int>(shards.size());
  report.weight_bytes = weight_bytes;
  report.seconds = monotonic_seconds() - start_s;
  return report;
}

}  // namespace kiln
