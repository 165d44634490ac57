// The table written at build time by src/web/embed_files.py (one entry per bundled file).
#pragma once

#include <span>
#include <string_view>

namespace kiln::web {

struct EmbeddedEntry {
  std::string_view name;  // path inside the bundle, e.g. "index.html", "assets/index-1a2b.js"
  std::string_view content;
  std::string_view content_type;
  std::string_view etag;
};

// Sorted by name.
std::span<const EmbeddedEntry> embedded_entries();
bool embedded_web_ui_built();

}  // namespace kiln::web
