// Server-sent events as vLLM frames them: "data: <json>\n\n", ending with "data: [DONE]\n\n".
#pragma once

#include <string>

#include "api/api_error.h"

namespace kiln::api {

inline std::string sse_event(const Json& json) { return "data: " + dump_json(json) + "\n\n"; }
inline constexpr const char* kSseDone = "data: [DONE]\n\n";
// An error after the stream started: the error body as one event, then [DONE].
inline std::string sse_error(const ApiError& error) { return sse_event(error_body(error)) + kSseDone; }

}  // namespace kiln::api
