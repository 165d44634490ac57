// Writes safetensors exactly as the Python safetensors library lays them out: an 8-byte
// little-endian header length, the JSON header ("__metadata__" first, then each tensor's dtype,
// shape and data_offsets) padded with spaces to a multiple of 8 bytes, then the data with
// tensors ordered by element size (largest first), then by name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "tensor/dtype.h"

namespace kiln {

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  // A safetensors dtype kiln's DType does not cover ("I64", "BOOL": index tensors such as an
  // EAGLE-3 head's d2t and t2d); when set, `dtype` is ignored.
  std::string raw_dtype;

  uint64_t size_bytes() const;
  size_t element_bytes() const;
  std::string dtype_name() const;  // as the header writes it
};

struct SafetensorsLayout {
  std::string header;             // length prefix + padded JSON: the file's first bytes
  std::vector<size_t> data_order;  // indices into the entries, in the order their data follows
  std::vector<uint64_t> begin;    // per entry (input order): offset in the data region
  uint64_t data_bytes = 0;

  uint64_t file_bytes() const { return header.size() + data_bytes; }
};

// "BF16", "F16", "F32", "F8_E4M3".
std::string safetensors_dtype_name(DType dtype);

SafetensorsLayout plan_safetensors(const std::vector<SafetensorsEntry>& entries,
                                   const std::map<std::string, std::string>& metadata);

// Writes a whole file from memory; data[i] holds entries[i].size_bytes() bytes. For tests and
// small tools; synth streams large files itself with plan_safetensors.
Status write_safetensors_file(const std::filesystem::path& path,
                              const std::vector<SafetensorsEntry>& entries,
                              const std::vector<const void*>& data,
                              const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Writes all of [data, data + size) to fd, retrying short writes; errors name `path`.
Status write_all(int fd, const void* data, size_t size, const std::filesystem::path& path);

}  // namespace kiln
