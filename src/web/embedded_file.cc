#include "web/embedded_file.h"

#include <algorithm>

#include "web/embedded_table.h"

namespace kiln::web {
namespace {

// The file name inside the bundle for a request path, or empty when it cannot name one.
std::string_view bundle_name(std::string_view path) {
  path = path.substr(0, path.find_first_of("?#"));
  if (path.empty() || path.front() != '/') return {};
  if (path.find("..") != std::string_view::npos || path.find('\\') != std::string_view::npos) {
    return {};
  }
  if (path == "/" || path == "/index.html") return "index.html";
  if (path == "/dashboard" || path == "/dashboard/" || path == "/dashboard.html") {
    return "dashboard.html";
  }
  return path.substr(1);
}

}  // namespace

std::optional<EmbeddedFile> find_embedded_file(std::string_view path) {
  const std::string_view name = bundle_name(path);
  if (name.empty()) return std::nullopt;
  const std::span<const EmbeddedEntry> entries = embedded_entries();
  // The generator sorts the table by name.
  const auto it = std::lower_bound(entries.begin(), entries.end(), name,
                                   [](const EmbeddedEntry& e, std::string_view n) { return e.name < n; });
  if (it == entries.end() || it->name != name) return std::nullopt;
  return EmbeddedFile{it->content, it->content_type, it->etag, name.starts_with("assets/")};
}

bool web_ui_built() { return embedded_web_ui_built(); }

}  // namespace kiln::web
