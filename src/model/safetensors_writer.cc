#include "model/safetensors_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <numeric>

#include <nlohmann/json.hpp>

#include "base/check.h"
#include "model/safetensors_file.h"

namespace kiln {

uint64_t SafetensorsEntry::size_bytes() const {
  uint64_t count = 1;
  for (int64_t dim : shape) count *= static_cast<uint64_t>(dim);
  return count * element_bytes();
}

size_t SafetensorsEntry::element_bytes() const {
  if (raw_dtype.empty()) return dtype_size_bytes(dtype);
  const std::optional<size_t> size = safetensors_dtype_size(raw_dtype);
  KILN_CHECK(size.has_value()) << "safetensors dtype " << raw_dtype << " is unknown";
  return *size;
}

std::string SafetensorsEntry::dtype_name() const {
  return raw_dtype.empty() ? safetensors_dtype_name(dtype) : raw_dtype;
}

std::string safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kF8E4M3: return "F8_E4M3";
  }
  return "F32";
}

SafetensorsLayout plan_safetensors(const std::vector<SafetensorsEntry>& entries,
                                   const std::map<std::string, std::string>& metadata) {
  SafetensorsLayout layout;
  layout.data_order.resize(entries.size());
  std::iota(layout.data_order.begin(), layout.data_order.end(), size_t{0});
  std::sort(layout.data_order.begin(), layout.data_order.end(), [&](size_t a, size_t b) {
    const size_t size_a = entries[a].element_bytes();
    const size_t size_b = entries[b].element_bytes();
    if (size_a != size_b) return size_a > size_b;
    return entries[a].name < entries[b].name;
  });
  layout.begin.resize(entries.size());
  std::string json = "{";
  if (!metadata.empty()) json += "\"__metadata__\":" + nlohmann::json(metadata).dump();
  uint64_t offset = 0;
  for (size_t index : layout.data_order) {
    const SafetensorsEntry& entry = entries[index];
    layout.begin[index] = offset;
    if (json.size() > 1) json += ",";
    json += nlohmann::json(entry.name).dump() + ":{\"dtype\":\"" + entry.dtype_name() +
            "\",\"shape\":" + nlohmann::json(entry.shape).dump() + ",\"data_offsets\":[" +
            std::to_string(offset) + "," + std::to_string(offset + entry.size_bytes()) + "]}";
    offset += entry.size_bytes();
  }
  json += "}";
  json.append((8 - json.size() % 8) % 8, ' ');
  layout.data_bytes = offset;
  layout.header.resize(8);
  const uint64_t length = json.size();
  for (int i = 0; i < 8; ++i) layout.header[static_cast<size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xff);
  layout.header += json;
  return layout;
}

Status write_all(int fd, const void* data, size_t size, const std::filesystem::path& path) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t written = ::write(fd, bytes, std::min<size_t>(size, size_t{1} << 30));
    if (written < 0) {
      if (errno == EINTR) continue;
      return Status::error(path.string() + ": write failed: " + std::strerror(errno));
    }
    bytes += written;
    size -= static_cast<size_t>(written);
  }
  return ok_status();
}

Status write_safetensors_file(const std::filesystem::path& path,
                              const std::vector<SafetensorsEntry>& entries,
                              const std::vector<const void*>& data,
                              const std::map<std::string, std::string>& metadata) {
  const SafetensorsLayout layout = plan_safetensors(entries, metadata);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::error(path.string() + ": cannot create: " + std::strerror(errno));
  Status status = write_all(fd, layout.header.data(), layout.header.size(), path);
  for (size_t index : layout.data_order) {
    if (!status.ok()) break;
    status = write_all(fd, data[index], entries[index].size_bytes(), path);
  }
  if (::close(fd) != 0 && status.ok()) {
    status = Status::error(path.string() + ": close failed: " + std::strerror(errno));
  }
  return status;
}

}  // namespace kiln
