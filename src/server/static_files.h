// The embedded web UI (web/embedded_file.h) over HTTP: the chat UI at /, the dashboard at
// /dashboard and their assets, open like /health (their API calls carry the key), with ETags
// and immutable caching for hashed asset names.
#pragma once

#include <optional>

#include "server/http_types.h"

namespace kiln::server {

// The file's response (304 when If-None-Match matches) for a GET or HEAD of an embedded path;
// nullopt for any other request.
std::optional<HttpResponse> static_file_response(const HttpRequest& request);

}  // namespace kiln::server
