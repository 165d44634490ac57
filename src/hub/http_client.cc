#include "hub/http_client.h"

#include <curl/curl.h>

#include <memory>

#include "base/clock.h"


namespace kiln::hub {
namespace {

constexpr size_t kMaxErrorBody = 1 << 20;

struct Transfer {
  const HttpRequest* request;
  HttpResponse* response;
  CURL* curl;
  bool started = false;
  // Stall detection: the time the byte count last moved. libcurl's low-speed limit averages
  // over a window of seconds, so a stall right after a burst would go unnoticed for long.
  double last_progress_s = 0;
  curl_off_t last_bytes = -1;
  bool stalled = false;
};

int on_progress(void* user, curl_off_t download_total, curl_off_t download_now,
                curl_off_t upload_total, curl_off_t upload_now) {
  auto* transfer = static_cast<Transfer*>(user);
  const double now = monotonic_seconds();
  if (download_now != transfer->last_bytes) {
    transfer->last_bytes = download_now;
    transfer->last_progress_s = now;
    return 0;
  }
  if (now - transfer->last_progress_s > static_cast<double>(transfer->request->stall_timeout_s)) {
    transfer->stalled = true;
    return 1;
  }
  return 0;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  transfer->response->headers.add_line(std::string(data, size * count));
  return size * count;
}

size_t on_write(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  long status = 0;
  curl_easy_getinfo(transfer->curl, CURLINFO_RESPONSE_CODE, &status);
  const bool success = status >= 200 && status < 300;
  if (success && !transfer->started) {
    transfer->started = true;
    if (transfer->request->on_start &&
        !transfer->request->on_start(status, transfer->response->headers)) {
      return 0;
    }
  }
  if (success && transfer->request->on_body) {
    return transfer->request->on_body(data, bytes) ? bytes : 0;
  }
  std::string& body = transfer->response->body;
  if (success || body.size() < kMaxErrorBody) body.append(data, bytes);
  return bytes;
}

TransportError classify(CURLcode code) {
  switch (code) {
    case CURLE_OK: return TransportError::kNone;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return TransportError::kResolve;
    case CURLE_COULDNT_CONNECT: return TransportError::kConnect;
    case CURLE_OPERATION_TIMEDOUT: return TransportError::kTimeout;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return TransportError::kDropped;
    case CURLE_WRITE_ERROR:
    case CURLE_ABORTED_BY_CALLBACK: return TransportError::kAborted;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE: return TransportError::kTls;
    default: return TransportError::kOther;
  }
}

}  // namespace

const char* transport_error_name(TransportError error) {
  switch (error) {
    case TransportError::kNone: return "ok";
    case TransportError::kResolve: return "DNS lookup failed";
    case TransportError::kConnect: return "connection failed";
    case TransportError::kTimeout: return "timed out";
    case TransportError::kDropped: return "connection dropped";
    case TransportError::kAborted: return "aborted";
    case TransportError::kTls: return "TLS error";
    case TransportError::kOther: return "transfer failed";
  }
  return "transfer failed";
}

HttpResponse http_perform(const HttpRequest& request) {
  HttpResponse response;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) {
    response.error = TransportError::kOther;
    response.error_text = "cannot create a libcurl handle";
    return response;
  }
  Transfer transfer{&request, &response, curl.get()};
  char error_buffer[CURL_ERROR_SIZE] = {0};

  curl_slist* raw_headers = nullptr;
  for (const std::string& header : request.headers) raw_headers = curl_slist_append(raw_headers, header.c_str());
  if (request.token) {
    raw_headers = curl_slist_append(raw_headers, ("Authorization: Bearer " + *request.token).c_str());
  }
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(raw_headers,
                                                                          curl_slist_free_all);
  const std::string user_agent = std::string("kiln (huggingface_hub-compatible)");

  CURL* handle = curl.get();
  curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(handle, CURLOPT_USERAGENT, user_agent.c_str());
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, static_cast<long>(request.connect_timeout_s));
  transfer.last_progress_s = monotonic_seconds();
  curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(handle, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(handle, CURLOPT_BUFFERSIZE, 512L * 1024);
  // Proxies from http_proxy / https_proxy / no_proxy are honoured by libcurl itself.
  if (request.head) curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);

  const CURLcode code = curl_easy_perform(handle);
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response.status);
  response.error = classify(code);
  if (code != CURLE_OK) {
    response.error_text = error_buffer[0] ? error_buffer : curl_easy_strerror(code);
  }
  if (transfer.stalled) {
    response.error = TransportError::kTimeout;
    response.error_text = "no data for " + std::to_string(request.stall_timeout_s) + " s";
  }
  return response;
}

}  // namespace kiln::hub
