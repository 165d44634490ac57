#include "model/safetensors_file.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "base/json_nesting.h"
#include "tensor/tensor_view.h"

namespace kiln {
namespace {

using Json = nlohmann::json;

// The Python library refuses headers above 100 MB; so do we, before allocating anything.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

Status tensor_error(const std::string& source, const std::string& tensor, const std::string& what) {
  return Status::error(source + ": tensor " + tensor + " " + what);
}

Result<uint64_t> read_u64(const Json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    return static_cast<uint64_t>(value.get<int64_t>());
  }
  return Status::error("expected a non-negative integer, got " + value.dump());
}

Result<SafetensorsTensor> parse_entry(const std::string& name, const Json& entry,
                                      const std::string& source) {
  if (!entry.is_object()) return tensor_error(source, name, "has a header entry that is not an object");
  SafetensorsTensor tensor;
  tensor.name = name;

  const auto dtype = entry.find("dtype");
  if (dtype == entry.end() || !dtype->is_string()) {
    return tensor_error(source, name, "has no dtype string in the header");
  }
  tensor.dtype_name = dtype->get<std::string>();
  const std::optional<size_t> element_size = safetensors_dtype_size(tensor.dtype_name);
  if (!element_size) return tensor_error(source, name, "has unknown dtype " + tensor.dtype_name);
  tensor.dtype = parse_dtype(tensor.dtype_name);

  const auto shape = entry.find("shape");
  if (shape == entry.end() || !shape->is_array()) {
    return tensor_error(source, name, "has no shape list in the header");
  }
  uint64_t num_elements = 1;
  for (const Json& dim : *shape) {
    Result<uint64_t> size = read_u64(dim);
    if (!size.ok()) return tensor_error(source, name, "has a bad shape " + shape->dump());
    if (*size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        (*size != 0 && num_elements > std::numeric_limits<uint64_t>::max() / *size / 8)) {
      return tensor_error(source, name, "has a shape too large: " + shape->dump());
    }
    num_elements *= *size;
    tensor.shape.push_back(static_cast<int64_t>(*size));
  }

  const auto offsets = entry.find("data_offsets");
  if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2) {
    return tensor_error(source, name, "has no data_offsets [begin, end] in the header");
  }
  Result<uint64_t> begin = read_u64((*offsets)[0]);
  Result<uint64_t> end = read_u64((*offsets)[1]);
  if (!begin.ok() || !end.ok()) {
    return tensor_error(source, name, "has bad data_offsets " + offsets->dump());
  }
  tensor.begin = *begin;
  tensor.end = *end;
  if (tensor.begin > tensor.end) {
    return tensor_error(source, name, "has data_offsets " + offsets->dump() + " with begin > end");
  }
  const uint64_t expected_bytes = num_elements * *element_size;
  if (tensor.size_bytes() != expected_bytes) {
    return tensor_error(source, name,
                        "has " + std::to_string(tensor.size_bytes()) + " bytes of data but shape " +
                            shape_to_string(tensor.shape) + " of " + tensor.dtype_name + " needs " +
                            std::to_string(expected_bytes));
  }
  return tensor;
}

}  // namespace

std::optional<size_t> safetensors_dtype_size(std::string_view dtype_name) {
  static constexpr std::pair<std::string_view, size_t> kSizes[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2},
      {"U16", 2},  {"F16", 2}, {"BF16", 2}, {"I32", 4},    {"U32", 4},     {"F32", 4},
      {"I64", 8},  {"U64", 8}, {"F64", 8},
  };
  for (const auto& [name, size] : kSizes) {
    if (name == dtype_name) return size;
  }
  return std::nullopt;
}

Result<SafetensorsHeader> parse_safetensors_header(std::string_view json_text, uint64_t data_start,
                                                   uint64_t data_size, const std::string& source) {
  if (const auto at = find_json_nesting_over(json_text, kMaxFileJsonDepth)) {
    return Status::error(source + ": header nests JSON deeper than " + std::to_string(kMaxFileJsonDepth) +
                         " levels (at byte " + std::to_string(*at) + ")");
  }
  Json root;
  try {
    root = Json::parse(json_text.begin(), json_text.end());
  } catch (const Json::exception& e) {
    return Status::error(source + ": header is not valid JSON: " + e.what());
  }
  if (!root.is_object()) return Status::error(source + ": header is not a JSON object");

  SafetensorsHeader header;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return Status::error(source + ": __metadata__ is not an object");
      for (auto meta = it->begin(); meta != it->end(); ++meta) {
        if (!meta->is_string()) {
          return Status::error(source + ": __metadata__." + meta.key() + " is not a string");
        }
        header.metadata[meta.key()] = meta->get<std::string>();
      }
      continue;
    }
    KILN_ASSIGN_OR_RETURN(SafetensorsTensor tensor, parse_entry(it.key(), *it, source));
    if (tensor.end > data_size) {
      return tensor_error(source, tensor.name,
                          "has data_offsets [" + std::to_string(tensor.begin) + ", " +
                              std::to_string(tensor.end) + "] beyond the data region of " +
                              std::to_string(data_size) + " bytes (truncated file?)");
    }
    const size_t element_size = *safetensors_dtype_size(tensor.dtype_name);
    if ((data_start + tensor.begin) % element_size != 0) {
      return tensor_error(source, tensor.name,
                          "starts at file offset " + std::to_string(data_start + tensor.begin) +
                              ", not aligned to its " + std::to_string(element_size) + "-byte elements");
    }
    header.tensors.push_back(std::move(tensor));
  }

  // Overlaps: sort a view by begin and compare neighbours (empty tensors overlap nothing).
  std::vector<const SafetensorsTensor*> by_offset;
  for (const SafetensorsTensor& tensor : header.tensors) {
    if (tensor.size_bytes() > 0) by_offset.push_back(&tensor);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const SafetensorsTensor* a, const SafetensorsTensor* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      return tensor_error(source, by_offset[i]->name,
                          "overlaps tensor " + by_offset[i - 1]->name + " (data_offsets [" +
                              std::to_string(by_offset[i]->begin) + ", " +
                              std::to_string(by_offset[i]->end) + "] and [" +
                              std::to_string(by_offset[i - 1]->begin) + ", " +
                              std::to_string(by_offset[i - 1]->end) + "])");
    }
  }
  return header;
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string source = path.filename().string();
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapping, MappedFile::open(path));
  const uint64_t file_size = mapping->size();
  if (file_size < 8) {
    return Status::error(source + ": truncated header: the file has " + std::to_string(file_size) +
                         " bytes, fewer than the 8-byte header length");
  }
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | mapping->data()[i];  // LE
  if (header_size > file_size - 8) {
    return Status::error(source + ": header length " + std::to_string(header_size) +
                         " runs past the end of the file (" + std::to_string(file_size) + " bytes)");
  }
  if (header_size > kMaxHeaderBytes) {
    return Status::error(source + ": header length " + std::to_string(header_size) +
                         " exceeds the 100 MB limit");
  }
  if (header_size < 2 || mapping->data()[8] != '{') {
    return Status::error(source + ": header does not start with '{' (not a safetensors file?)");
  }
  const std::string_view json_text(reinterpret_cast<const char*>(mapping->data()) + 8, header_size);
  const uint64_t data_start = 8 + header_size;
  KILN_ASSIGN_OR_RETURN(SafetensorsHeader header,
                        parse_safetensors_header(json_text, data_start, file_size - data_start, source));

  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->name_ = source;
  file->data_start_ = data_start;
  for (size_t i = 0; i < header.tensors.size(); ++i) {
    SafetensorsTensor& tensor = header.tensors[i];
    tensor.data = mapping->data() + data_start + tensor.begin;
    file->index_[tensor.name] = i;
  }
  file->header_ = std::move(header);
  file->mapping_ = std::move(mapping);
  return file;
}

const SafetensorsTensor* SafetensorsFile::find(const std::string& tensor_name) const {
  const auto it = index_.find(tensor_name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

}  // namespace kiln
