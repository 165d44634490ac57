// A read-only memory mapping of a whole file (the safetensors shards). Weights are views into
// it, so it lives as long as the model; the kernel pages data in on first touch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "base/status.h"

namespace kiln {

class MappedFile {
 public:
  static Result<std::unique_ptr<MappedFile>> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

  // Asks the kernel to read [offset, offset + length) ahead (madvise WILLNEED).
  void advise_will_need(size_t offset, size_t length) const;
  // Reads [offset, offset + length) into memory and maps it, so later accesses do not fault:
  // madvise(MADV_POPULATE_READ) on Linux 5.14+, else one read per page.
  void populate(size_t offset, size_t length) const;

 private:
  MappedFile(std::filesystem::path path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}

  std::filesystem::path path_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace kiln
