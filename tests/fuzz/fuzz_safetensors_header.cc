// A safetensors header as SafetensorsFile::open hands it over: the first 8 input bytes are the
// size of the data region behind it, the rest the JSON text.
#include <cstdint>
#include <cstring>
#include <string_view>

#include "model/safetensors_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint64_t data_size = 0;
  std::memcpy(&data_size, data, 8);
  const std::string_view json(reinterpret_cast<const char*>(data) + 8, size - 8);
  auto header = kiln::parse_safetensors_header(json, 8 + json.size(), data_size, "fuzz.safetensors");
  if (header.ok()) {
    for (const kiln::SafetensorsTensor& tensor : header->tensors) (void)tensor.size_bytes();
  }
  return 0;
}
