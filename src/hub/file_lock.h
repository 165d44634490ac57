// An exclusive advisory lock on a file (flock), held for the object's lifetime: the same
// .locks/.../<etag>.lock files huggingface_hub's filelock uses, so kiln and Python never write
// one blob at once. flock locks belong to the open file, so two threads of one process exclude
// each other too.
#pragma once

#include <filesystem>

#include "base/status.h"

namespace kiln::hub {

class FileLock {
 public:
  // Creates the file (and its folder) if needed and blocks until the lock is held.
  static Result<FileLock> acquire(const std::filesystem::path& path);
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace kiln::hub
