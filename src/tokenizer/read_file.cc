#include "tokenizer/read_file.h"

#include <fstream>

namespace kiln::tokenizer {

Result<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return Status::error(path.string() + ": cannot open file");
  file.seekg(0, std::ios::end);
  const std::streamoff size = file.tellg();
  if (size < 0) return Status::error(path.string() + ": cannot read file");
  file.seekg(0, std::ios::beg);
  std::string text(static_cast<size_t>(size), '\0');
  if (!file.read(text.data(), size)) return Status::error(path.string() + ": read error");
  return text;
}

}  // namespace kiln::tokenizer
