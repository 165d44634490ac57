#include "model/checkpoint.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/file_reading.h"
#include "base/json_nesting.h"

namespace kiln {
namespace {

using Json = nlohmann::json;

// weight_map of model.safetensors.index.json: tensor name -> shard file name.
Result<std::map<std::string, std::string>> read_weight_map(const std::filesystem::path& index_path) {
  const std::string source = index_path.filename().string();
  KILN_ASSIGN_OR_RETURN(const std::string text, read_regular_file(index_path));
  if (const auto at = find_json_nesting_over(text, kMaxFileJsonDepth)) {
    return Status::error(source + ": nests JSON deeper than " + std::to_string(kMaxFileJsonDepth) + " levels (at byte " +
                         std::to_string(*at) + ")");
  }
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::exception& e) {
    return Status::error(source + ": not valid JSON: " + e.what());
  }
  const auto weight_map = root.is_object() ? root.find("weight_map") : root.end();
  if (!root.is_object() || weight_map == root.end() || !weight_map->is_object()) {
    return Status::error(source + ": weight_map is missing or not an object");
  }
  std::map<std::string, std::string> result;
  for (auto it = weight_map->begin(); it != weight_map->end(); ++it) {
    if (!it->is_string()) {
      return Status::error(source + ": weight_map entry for tensor " + it.key() + " is not a file name");
    }
    const std::string file = it->get<std::string>();
    // Shards live next to the index; a path elsewhere is a malformed (or hostile) index.
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
      return Status::error(source + ": weight_map entry for tensor " + it.key() +
                           " names a file outside the model directory: " + file);
    }
    result[it.key()] = file;
  }
  if (result.empty()) return Status::error(source + ": weight_map is empty");
  return result;
}

}  // namespace

Status Checkpoint::add_file(const std::filesystem::path& path) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::open(path));
  for (const SafetensorsTensor& tensor : file->tensors()) {
    const auto [it, inserted] = tensors_.emplace(tensor.name, CheckpointTensor{file.get(), &tensor});
    if (!inserted) {
      return Status::error(file->name() + ": tensor " + tensor.name + " is also in " +
                           it->second.file->name());
    }
  }
  files_.push_back(std::move(file));
  return ok_status();
}

Result<std::unique_ptr<Checkpoint>> Checkpoint::open(const std::filesystem::path& model_dir) {
  std::unique_ptr<Checkpoint> checkpoint(new Checkpoint());
  const std::filesystem::path index_path = model_dir / kSafetensorsIndexFile;
  const std::filesystem::path single_path = model_dir / kSafetensorsSingleFile;
  std::error_code error;
  if (std::filesystem::exists(index_path, error)) {
    checkpoint->source_name_ = kSafetensorsIndexFile;
    KILN_ASSIGN_OR_RETURN(const auto weight_map, read_weight_map(index_path));
    std::map<std::string, std::string> first_tensor_of_file;
    for (const auto& [tensor, file] : weight_map) first_tensor_of_file.emplace(file, tensor);
    for (const auto& [file, tensor] : first_tensor_of_file) {
      const std::filesystem::path shard = model_dir / file;
      if (!std::filesystem::exists(shard, error)) {
        return Status::error(std::string(kSafetensorsIndexFile) + ": shard " + file +
                             " (holding tensor " + tensor + ") is missing from " + model_dir.string());
      }
      KILN_RETURN_IF_ERROR(checkpoint->add_file(shard));
    }
    for (const auto& [tensor, file] : weight_map) {
      const CheckpointTensor* found = checkpoint->find(tensor);
      if (found == nullptr || found->file->name() != file) {
        return Status::error(std::string(kSafetensorsIndexFile) + ": tensor " + tensor +
                             " is mapped to " + file + ", which does not contain it");
      }
    }
    for (const auto& [name, location] : checkpoint->tensors_) {
      if (!weight_map.count(name)) {
        return Status::error(location.file->name() + ": tensor " + name + " is not listed in " +
                             kSafetensorsIndexFile);
      }
    }
    return checkpoint;
  }
  if (std::filesystem::exists(single_path, error)) {
    checkpoint->source_name_ = kSafetensorsSingleFile;
    KILN_RETURN_IF_ERROR(checkpoint->add_file(single_path));
    return checkpoint;
  }
  std::string hint;
  if (std::filesystem::exists(model_dir / "pytorch_model.bin", error) ||
      std::filesystem::exists(model_dir / "pytorch_model.bin.index.json", error)) {
    hint = " (pytorch_model.bin checkpoints are not supported; convert to safetensors)";
  }
  return Status::error(model_dir.string() + ": no " + kSafetensorsSingleFile + " or " +
                       kSafetensorsIndexFile + hint);
}

const CheckpointTensor* Checkpoint::find(const std::string& name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

uint64_t Checkpoint::total_file_bytes() const {
  uint64_t total = 0;
  for (const auto& file : files_) total += file->mapping().size();
  return total;
}

}  // namespace kiln
