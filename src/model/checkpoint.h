// The safetensors of a Hugging Face model directory: model.safetensors, or the shards that
// model.safetensors.index.json lists in its weight_map. Opening validates every file (see
// safetensors_file.h) and that the index and the shards agree.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/safetensors_file.h"

namespace kiln {

inline constexpr char kSafetensorsSingleFile[] = "model.safetensors";
inline constexpr char kSafetensorsIndexFile[] = "model.safetensors.index.json";

struct CheckpointTensor {
  const SafetensorsFile* file = nullptr;
  const SafetensorsTensor* tensor = nullptr;
};

class Checkpoint {
 public:
  static Result<std::unique_ptr<Checkpoint>> open(const std::filesystem::path& model_dir);

  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  // Every tensor of the checkpoint by name.
  const std::map<std::string, CheckpointTensor>& tensors() const { return tensors_; }
  const CheckpointTensor* find(const std::string& name) const;
  // What errors about the whole checkpoint name: "model.safetensors" or the index file.
  const std::string& source_name() const { return source_name_; }
  // Sum of the files' sizes.
  uint64_t total_file_bytes() const;

 private:
  Checkpoint() = default;
  Status add_file(const std::filesystem::path& path);

  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, CheckpointTensor> tensors_;
  std::string source_name_;
};

}  // namespace kiln
