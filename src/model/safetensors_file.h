// One safetensors file, memory-mapped read-only and fully validated on open: 8-byte
// little-endian header length, a JSON header of {name: {dtype, shape, data_offsets}} plus an
// optional "__metadata__" of strings, every tensor inside the data region, aligned to its
// element size, sized numel * element size, and no two tensors overlapping. Every error names
// the file and, where there is one, the tensor.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "model/mapped_file.h"
#include "tensor/dtype.h"

namespace kiln {

struct SafetensorsTensor {
  std::string name;
  std::string dtype_name;      // as the file writes it: "BF16", "F32", "I64", ...
  std::optional<DType> dtype;  // kiln's type, when it has one (BF16, F16, F32, F8_E4M3)
  std::vector<int64_t> shape;  // outermost first; [] for a scalar
  uint64_t begin = 0;          // data_offsets, relative to the start of the data region
  uint64_t end = 0;
  const void* data = nullptr;  // into the mapping; set by SafetensorsFile

  uint64_t size_bytes() const { return end - begin; }
};

// Bytes per element of a safetensors dtype name ("BF16" -> 2); nullopt for unknown names.
std::optional<size_t> safetensors_dtype_size(std::string_view dtype_name);

struct SafetensorsHeader {
  std::vector<SafetensorsTensor> tensors;  // in the header's (sorted) key order
  std::map<std::string, std::string> metadata;
};

// Parses and validates a header's JSON. `data_size` is the size of the data region after the
// header, `data_start` its offset in the file (for alignment checks); `source` names the file.
Result<SafetensorsHeader> parse_safetensors_header(std::string_view json_text, uint64_t data_start,
                                                   uint64_t data_size, const std::string& source);

class SafetensorsFile {
 public:
  static Result<std::unique_ptr<SafetensorsFile>> open(const std::filesystem::path& path);

  // The file name errors use, e.g. "model-00002-of-00004.safetensors".
  const std::string& name() const { return name_; }
  const MappedFile& mapping() const { return *mapping_; }
  const std::vector<SafetensorsTensor>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const SafetensorsTensor* find(const std::string& tensor_name) const;
  uint64_t data_start() const { return data_start_; }

 private:
  SafetensorsFile() = default;

  std::string name_;
  std::unique_ptr<MappedFile> mapping_;
  SafetensorsHeader header_;
  uint64_t data_start_ = 0;
  std::map<std::string, size_t> index_;
};

}  // namespace kiln
