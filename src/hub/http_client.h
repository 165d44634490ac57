// One HTTP exchange over libcurl, with no redirect following (callers follow them, deciding
// when the token goes along) and a classification of transport failures that the download
// logic acts on: DNS/connect failures mean "no network", a drop mid-body means "resume".
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "hub/http_headers.h"

namespace kiln::hub {

enum class TransportError {
  kNone,
  kResolve,   // DNS lookup failed
  kConnect,   // refused / unreachable
  kTimeout,   // connect timeout or a stalled transfer (below the low-speed limit)
  kDropped,   // the connection closed before the body was complete, or a send/receive error
  kAborted,   // the body callback refused the data (a local write failed)
  kTls,
  kOther,
};

struct HttpRequest {
  std::string url;
  bool head = false;
  std::vector<std::string> headers;      // extra "Name: value" lines
  std::optional<std::string> token;      // sent as "Authorization: Bearer ..."; never logged
  int64_t connect_timeout_s = 10;
  int64_t stall_timeout_s = 20;          // no data for this long (after connecting) aborts
  // Receives the body of a 2xx response; returns false to abort (e.g. the disk is full). When
  // unset, the body is kept in HttpResponse::body. Bodies of other statuses always go to body.
  std::function<bool(const char* data, size_t size)> on_body;
  // Called once before the first body bytes of a 2xx response, with its status and headers;
  // returns false to abort (e.g. a 206 whose Content-Range does not start where asked).
  std::function<bool(long status, const HttpHeaders& headers)> on_start;
};

struct HttpResponse {
  TransportError error = TransportError::kNone;
  std::string error_text;  // libcurl's description when error != kNone
  long status = 0;         // 0 when no response arrived
  HttpHeaders headers;
  std::string body;        // capped at 1 MiB for non-2xx responses
};

// Performs the request. Thread-safe (one curl handle per call); curl_global_init must have run,
// as pull_model's CurlScope (hub/pull.cc) sees to.
HttpResponse http_perform(const HttpRequest& request);

const char* transport_error_name(TransportError error);

}  // namespace kiln::hub
