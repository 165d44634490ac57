#include "hub/hub_api.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/log.h"
#include "hub/cache_layout.h"

namespace kiln::hub {
namespace {

std::string one_line(std::string text, size_t max_chars = 200) {
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (text.size() > max_chars) text = text.substr(0, max_chars) + "...";
  return text;
}

}  // namespace

bool is_retryable(const HttpResponse& response, bool retry_connect) {
  switch (response.error) {
    case TransportError::kNone:
      return response.status == 429 || (response.status >= 500 && response.status <= 599);
    case TransportError::kResolve:
    case TransportError::kConnect: return retry_connect;
    case TransportError::kTimeout:
    case TransportError::kDropped:
    case TransportError::kOther: return true;
    case TransportError::kAborted:
    case TransportError::kTls: return false;
  }
  return false;
}

Result<ModelInfo> parse_model_info(const std::string& body) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& error) {
    return Status::error(std::string("model info is not JSON: ") + error.what());
  }
  if (!json.is_object()) return Status::error("model info is not a JSON object");
  if (!json.contains("sha") || !json["sha"].is_string()) {
    return Status::error("model info has no 'sha' (commit) field");
  }
  ModelInfo info;
  info.commit = json["sha"].get<std::string>();
  if (!is_commit_hash(info.commit)) {
    return Status::error("model info 'sha' is not a 40-hex commit: '" + one_line(info.commit) + "'");
  }
  if (!json.contains("siblings") || !json["siblings"].is_array()) {
    return Status::error("model info has no 'siblings' (file list) array");
  }
  for (const auto& sibling : json["siblings"]) {
    if (!sibling.is_object() || !sibling.contains("rfilename") || !sibling["rfilename"].is_string()) {
      return Status::error("model info 'siblings' entry without 'rfilename'");
    }
    RepoFile file;
    file.path = sibling["rfilename"].get<std::string>();
    if (sibling.contains("lfs") && sibling["lfs"].is_object() && sibling["lfs"].contains("size") &&
        sibling["lfs"]["size"].is_number_integer()) {
      file.size_bytes = sibling["lfs"]["size"].get<int64_t>();
    } else if (sibling.contains("size") && sibling["size"].is_number_integer()) {
      file.size_bytes = sibling["size"].get<int64_t>();
    }
    info.files.push_back(std::move(file));
  }
  return info;
}

HubApi::HubApi(const HubConfig& config, const PullOptions& options)
    : config_(config), options_(options) {}

void HubApi::backoff_sleep(int attempt, const HttpResponse* response) const {
  int64_t wait_ms = options_.initial_backoff_ms;
  for (int i = 1; i < attempt && wait_ms < options_.max_backoff_ms; ++i) wait_ms *= 2;
  if (response) {
    if (std::optional<int64_t> retry_after = parse_size(response->headers.get("Retry-After"))) {
      wait_ms = *retry_after * 1000;
    }
  }
  wait_ms = std::clamp<int64_t>(wait_ms, 0, options_.max_backoff_ms);
  std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
}

HttpResponse HubApi::perform_with_retries(HttpRequest request, bool retry_connect,
                                          const std::function<void(HttpRequest*)>& before_attempt)
    const {
  HttpResponse response;
  for (int attempt = 1;; ++attempt) {
    if (before_attempt) before_attempt(&request);
    response = http_perform(request);
    if (!is_retryable(response, retry_connect) || attempt >= options_.max_attempts) return response;
    const std::string what = response.error == TransportError::kNone
                                 ? "HTTP " + std::to_string(response.status)
                                 : std::string(transport_error_name(response.error));
    KILN_LOG(Warning) << "hub request failed (" << what << "), retrying (attempt " << attempt + 1
                      << " of " << options_.max_attempts << ")";
    backoff_sleep(attempt, &response);
  }
}

std::string HubApi::describe_failure(const HttpResponse& response, const std::string& repo_id,
                                     const std::string& revision, const std::string& file) const {
  const std::string page = config_.endpoint + "/" + repo_id;
  if (response.error != TransportError::kNone) {
    return "cannot reach the Hugging Face Hub at " + config_.endpoint + " (" +
           transport_error_name(response.error) + ": " + one_line(response.error_text) + ")";
  }
  const long status = response.status;
  const std::string code = response.headers.get("X-Error-Code").value_or("");
  const std::string status_text = "HTTP " + std::to_string(status);
  const std::string token_hint =
      config_.token ? "the token in use was refused or has no access to it"
                    : "no token is set (HF_TOKEN, HUGGING_FACE_HUB_TOKEN, --token or $HF_HOME/token)";
  if (code == "GatedRepo" || ((status == 401 || status == 403) && code != "RepoNotFound")) {
    return repo_id + " is gated or private (" + status_text + "): accept its licence on " + page +
           " and set HF_TOKEN to a token of an account with access; " + token_hint;
  }
  if (code == "RepoNotFound" || (status == 401 && code.empty())) {
    return "repository " + repo_id + " does not exist on " + config_.endpoint + " (" + status_text +
           ")" + (status == 401 ? ", or it is private or gated: accept its licence on " + page +
                                      " and set HF_TOKEN to a token with access; " + token_hint
                                : "");
  }
  if (code == "RevisionNotFound") {
    return "revision '" + revision + "' does not exist in " + repo_id + " (" + status_text +
           "); check --revision";
  }
  if (code == "EntryNotFound") {
    return "file '" + file + "' does not exist in " + repo_id + " at revision " + revision + " (" +
           status_text + ")";
  }
  if (status == 404) {
    return repo_id + (file.empty() ? "" : "/" + file) + " at revision '" + revision +
           "' was not found on " + config_.endpoint + " (" + status_text +
           "): the repository or revision does not exist";
  }
  std::string message = "the Hub at " + config_.endpoint + " answered " + status_text + " for " +
                        repo_id + (file.empty() ? "" : "/" + file);
  if (status == 429 || status >= 500) {
    message += " after " + std::to_string(options_.max_attempts) + " attempts; try again later";
  }
  if (std::optional<std::string> detail = response.headers.get("X-Error-Message")) {
    message += " (" + one_line(*detail) + ")";
  }
  return message;
}

Result<ModelInfo> HubApi::model_info(const std::string& repo_id, const std::string& revision,
                                     HubFailure* failure) const {
  *failure = HubFailure::kNone;
  HttpRequest request;
  request.url = config_.endpoint + "/api/models/" + repo_id + "/revision/" +
                quote_path(revision, /*keep_slash=*/false) + "?blobs=true";
  request.token = config_.token;
  request.connect_timeout_s = options_.connect_timeout_s;
  request.stall_timeout_s = options_.stall_timeout_s;
  // Redirects (a renamed repo) are followed; the token only goes to the endpoint's own host.
  HttpResponse response;
  for (int hop = 0;; ++hop) {
    response = perform_with_retries(request, /*retry_connect=*/false);
    if (response.error != TransportError::kNone || response.status < 300 || response.status > 399) break;
    const std::optional<std::string> location = response.headers.get("Location");
    if (!location || hop >= 10) break;
    request.url = resolve_location(request.url, *location);
    if (url_origin(request.url) != url_origin(config_.endpoint)) request.token.reset();
  }
  if (response.error != TransportError::kNone) {
    *failure = HubFailure::kNetwork;
    return Status::error(describe_failure(response, repo_id, revision, ""));
  }
  if (response.status != 200) {
    *failure = (response.status >= 500 || response.status == 429) ? HubFailure::kNetwork
                                                                    : HubFailure::kHttp;
    return Status::error(describe_failure(response, repo_id, revision, ""));
  }
  Result<ModelInfo> info = parse_model_info(response.body);
  if (!info.ok()) {
    *failure = HubFailure::kProtocol;
    return Status::error(config_.endpoint + " did not answer like the Hugging Face Hub for " +
                         repo_id + ": " + info.message() + " (check HF_ENDPOINT)");
  }
  return info;
}

Result<FileMetadata> HubApi::file_metadata(const std::string& repo_id, const std::string& revision,
                                           const std::string& file) const {
  HttpRequest request;
  request.url = config_.endpoint + "/" + repo_id + "/resolve/" +
                quote_path(revision, /*keep_slash=*/false) + "/" + quote_path(file);
  request.head = true;
  request.token = config_.token;
  // The real size, not that of a compressed body.
  request.headers = {"Accept-Encoding: identity"};
  request.connect_timeout_s = options_.connect_timeout_s;
  request.stall_timeout_s = options_.stall_timeout_s;
  HttpResponse response;
  for (int hop = 0;; ++hop) {
    response = perform_with_retries(request, /*retry_connect=*/true);
    if (response.error != TransportError::kNone) break;
    if (response.status < 300 || response.status > 399) break;
    const std::optional<std::string> location = response.headers.get("Location");
    // Only relative redirects (a renamed repo) are followed here; an absolute one is the CDN
    // location the GET will use, as in huggingface_hub's _httpx_follow_relative_redirects.
    if (!location || location->find("://") != std::string::npos || hop >= 10) break;
    request.url = resolve_location(request.url, *location);
  }
  if (response.error != TransportError::kNone || response.status >= 400) {
    return Status::error(describe_failure(response, repo_id, revision, file));
  }
  FileMetadata metadata;
  const std::string what = repo_id + "/" + file + ": the Hub's answer at " + request.url;
  metadata.commit = response.headers.get("X-Repo-Commit").value_or("");
  if (metadata.commit.empty()) {
    return Status::error(what + " has no X-Repo-Commit header; a proxy or firewall may be in the "
                                "way (check HF_ENDPOINT)");
  }
  std::optional<std::string> etag = response.headers.get("X-Linked-Etag");
  if (!etag) etag = response.headers.get("ETag");
  if (!etag || normalize_etag(*etag).empty()) return Status::error(what + " has no ETag");
  metadata.etag = normalize_etag(*etag);
  if (metadata.etag.find('/') != std::string::npos || metadata.etag == "." || metadata.etag == "..") {
    return Status::error(what + " has an ETag that cannot name a file: '" + one_line(metadata.etag) + "'");
  }
  std::optional<int64_t> size = parse_size(response.headers.get("X-Linked-Size"));
  if (!size) size = parse_size(response.headers.get("Content-Length"));
  if (!size) return Status::error(what + " has no Content-Length");
  metadata.size_bytes = *size;
  const std::optional<std::string> location = response.headers.get("Location");
  metadata.location = location && response.status >= 300 ? resolve_location(request.url, *location)
                                                          : request.url;
  metadata.send_token = url_origin(metadata.location) == url_origin(request.url);
  return metadata;
}

}  // namespace kiln::hub
