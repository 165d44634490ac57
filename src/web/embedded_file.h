// The web UI (chat at /, dashboard at /dashboard) as files compiled into the binary.
//
// The files come from web/ bundled by Vite at build time (src/web/CMakeLists.txt); when node/npm
// or web/node_modules are missing, a one-page "web UI not built" fallback is embedded instead.
#pragma once

#include <optional>
#include <string_view>

namespace kiln::web {

struct EmbeddedFile {
  std::string_view content;       // the file's bytes (may contain NUL)
  std::string_view content_type;  // e.g. "text/html; charset=utf-8"
  std::string_view etag;          // strong validator, quoted: "\"0123abcd...\""
  // Hashed asset names (/assets/index-1a2b3c.js) never change content: serve them with
  // Cache-Control: public, max-age=31536000, immutable. Pages get no-cache + ETag.
  bool immutable = false;
};

// Maps a request target to an embedded file: "/" -> index.html, "/dashboard" (and
// "/dashboard/") -> dashboard.html, "/assets/..." -> that asset. The query string and fragment
// are ignored. Returns nullopt for anything else (including paths with "..").
std::optional<EmbeddedFile> find_embedded_file(std::string_view path);

// False when the fallback page is embedded instead of the real UI.
bool web_ui_built();

}  // namespace kiln::web
