#include "model/synth_model.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
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

// A run of one tensor's elements that lands at `buffer_offset` of a chunk.
struct Piece {
  uint64_t key = 0;
  double mean = 0;
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
  KILN_CHECK(false) << "synth cannot write " << dtype_name(dtype);
}

// Fills the chunk: the elements of all pieces, split evenly over threads. Every element's value
// depends only on (key, index), so the split does not change the bytes.
void generate_chunk(const std::vector<Piece>& pieces, uint64_t total_elements, DType dtype,
                    double stddev, int num_threads, uint8_t* buffer) {
  const size_t element_bytes = dtype_size_bytes(dtype);
  const auto work = [&](uint64_t lo, uint64_t hi) {
    std::vector<float> staging(kBlockElements);
    uint64_t piece_start = 0;
    for (const Piece& piece : pieces) {
      const uint64_t begin = std::max(lo, piece_start);
      const uint64_t end = std::min(hi, piece_start + piece.count);
      for (uint64_t at = begin; at < end; at += kBlockElements) {
        const size_t count = static_cast<size_t>(std::min<uint64_t>(kBlockElements, end - at));
        const uint64_t within = at - piece_start;
        fill_normal(piece.key, piece.first + within, count, piece.mean, stddev, staging.data());
        convert_block(staging.data(), count, dtype, buffer + piece.buffer_offset + within * element_bytes);
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

// Streams one safetensors file: generation of chunk k+1 overlaps the write of chunk k.
class ShardWriter {
 public:
  // `chunk_bytes`: a multiple of 8, at most kChunkBytes; small models get small buffers.
  ShardWriter(const SynthOptions& options, size_t chunk_bytes, int num_threads, ProgressBar* bar)
      : options_(options), chunk_bytes_(chunk_bytes), num_threads_(num_threads), bar_(bar) {
    for (auto& buffer : buffers_) buffer = std::make_unique_for_overwrite<uint8_t[]>(chunk_bytes_);
  }

  Status write(const std::filesystem::path& path, const std::vector<const WeightSpec*>& specs) {
    std::vector<SafetensorsEntry> entries;
    for (const WeightSpec* spec : specs) entries.push_back({spec->name, options_.dtype, spec->shape});
    const SafetensorsLayout layout = plan_safetensors(entries, {{"format", "pt"}});
    path_ = path;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return Status::error(path.string() + ": cannot create: " + std::strerror(errno));
    Status status = write_all(fd_, layout.header.data(), layout.header.size(), path);
    const size_t element_bytes = dtype_size_bytes(options_.dtype);
    const uint64_t chunk_elements = chunk_bytes_ / element_bytes;
    for (size_t index : layout.data_order) {
      if (!status.ok()) break;
      const WeightSpec& spec = *specs[index];
      const uint64_t numel = entries[index].size_bytes() / element_bytes;
      const uint64_t key = weight_stream_key(options_.seed, spec.name);
      const double mean = spec.kind == WeightKind::kNorm ? 1.0 : 0.0;
      for (uint64_t first = 0; first < numel && status.ok();) {
        const uint64_t count = std::min(numel - first, chunk_elements - chunk_elements_);
        pieces_.push_back({key, mean, first, count, static_cast<size_t>(chunk_elements_ * element_bytes)});
        chunk_elements_ += count;
        first += count;
        if (chunk_elements_ == chunk_elements) status = flush();
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
    generate_chunk(pieces_, chunk_elements_, options_.dtype, options_.stddev, num_threads_, buffer);
    if (pending_.valid()) KILN_RETURN_IF_ERROR(pending_.get());
    const size_t bytes = static_cast<size_t>(chunk_elements_) * dtype_size_bytes(options_.dtype);
    pending_ = std::async(std::launch::async, [this, buffer, bytes] {
      Status status = write_all(fd_, buffer, bytes, path_);
      if (bar_ && status.ok()) bar_->advance(static_cast<int64_t>(bytes));
      return status;
    });
    current_ = 1 - current_;
    pieces_.clear();
    chunk_elements_ = 0;
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
  std::future<Status> pending_;
  std::filesystem::path path_;
  int fd_ = -1;
};

// Greedy like HF's split_torch_state_dict_into_shards: start a new shard when the next tensor
// would push the current one past the limit.
std::vector<std::vector<const WeightSpec*>> plan_shards(const std::vector<WeightSpec>& specs,
                                                        DType dtype, uint64_t max_shard_bytes) {
  std::vector<std::vector<const WeightSpec*>> shards(1);
  uint64_t shard_bytes = 0;
  for (const WeightSpec& spec : specs) {
    const uint64_t bytes = SafetensorsEntry{spec.name, dtype, spec.shape}.size_bytes();
    if (!shards.back().empty() && shard_bytes + bytes > max_shard_bytes) {
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

Result<SynthReport> synth_model(const SynthOptions& options) {
  const double start_s = monotonic_seconds();
  if (options.dtype == DType::kF8E4M3) return Status::error("synth writes bf16, f16 or f32, not fp8");
  if (!(options.stddev >= 0)) return Status::error("synth: the standard deviation must be >= 0");
  std::ifstream in(options.config_path, std::ios::binary);
  if (!in) return Status::error(options.config_path.string() + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  KILN_ASSIGN_OR_RETURN(const ModelConfig config, parse_model_config(text.str(), options.config_path.string()));
  Json config_json = Json::parse(text.str());  // valid: parse_model_config accepted it
  const std::string torch_dtype = options.dtype == DType::kBF16  ? "bfloat16"
                                  : options.dtype == DType::kF16 ? "float16"
                                                                 : "float32";
  config_json["torch_dtype"] = torch_dtype;
  if (config_json.contains("dtype")) config_json["dtype"] = torch_dtype;
  // transformers' AutoConfig needs these; configs that name only one of them still parse here.
  if (!config_json.contains("model_type")) config_json["model_type"] = config.model_type;
  if (!config_json.contains("architectures")) config_json["architectures"] = {config.architecture_name};

  const std::vector<WeightSpec> specs = model_weight_specs(config);
  const auto shards = plan_shards(specs, options.dtype, std::max<uint64_t>(options.max_shard_bytes, 1));
  uint64_t weight_bytes = 0;
  for (const WeightSpec& spec : specs) {
    weight_bytes += SafetensorsEntry{spec.name, options.dtype, spec.shape}.size_bytes();
  }

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

  const int num_threads = options.num_threads > 0
                              ? options.num_threads
                              : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::unique_ptr<ProgressBar> bar;
  if (options.show_progress) {
    bar = std::make_unique<ProgressBar>("Writing weights", static_cast<int64_t>(weight_bytes), ProgressUnit::kBytes);
  }
  const size_t chunk_bytes = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, (weight_bytes + 7) / 8 * 8));
  ShardWriter writer(options, std::max<size_t>(chunk_bytes, 8), num_threads, bar.get());
  Json weight_map = Json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = shards.size() == 1 ? kSafetensorsSingleFile : shard_name(i, shards.size());
    // Written under a temporary name so that an interrupted synth never leaves a loadable
    // but truncated file.
    const std::filesystem::path partial = options.out_dir / (name + ".partial");
    KILN_RETURN_IF_ERROR(writer.write(partial, shards[i]));
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
