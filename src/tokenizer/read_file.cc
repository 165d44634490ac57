#include "tokenizer/read_file.h"

#include <fstream>
#include <sstream>

namespace kiln::tokenizer {

Result<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return Status::error(path.string() + ": cannot open file");
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return Status::error(path.string() + ": read error");
  return text.str();
}

}  // namespace kiln::tokenizer
