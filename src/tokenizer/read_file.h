// Whole-file reading for the tokenizer's loaders.
#pragma once

#include <filesystem>
#include <string>

#include "base/status.h"

namespace kiln::tokenizer {

// The file's bytes; the error names the file.
Result<std::string> read_file(const std::filesystem::path& path);

}  // namespace kiln::tokenizer
