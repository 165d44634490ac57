// Whole-file reading for model and tokenizer files that may come from anywhere (a Hub download,
// a user's directory): only regular files are read (a FIFO or device named as config.json would
// block or never end), within a size limit, with errors that name the file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include "base/status.h"

namespace kiln {

// JSON and template files of a model directory are a few MB (tokenizer.json ~9 MB); a file
// far larger is not one of them.
inline constexpr size_t kMaxTextFileBytes = size_t{1} << 30;

Result<std::string> read_regular_file(const std::filesystem::path& path, size_t max_bytes = kMaxTextFileBytes);

// Opens `path` for reading without blocking on FIFOs and refuses anything but a regular file.
// Returns the descriptor (the caller closes it) and the file's size.
struct OpenedFile {
  int fd = -1;
  size_t size_bytes = 0;
};
Result<OpenedFile> open_regular_file(const std::filesystem::path& path);

}  // namespace kiln
