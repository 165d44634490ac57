#include "tokenizer/read_file.h"

#include "base/file_reading.h"

namespace kiln::tokenizer {

Result<std::string> read_file(const std::filesystem::path& path) { return read_regular_file(path); }

}  // namespace kiln::tokenizer
