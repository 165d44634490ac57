// The Hub's HTTP API as huggingface_hub calls it: the model info endpoint for a revision's
// commit and file list, and a HEAD on /{repo}/resolve/{commit}/{file} for a file's ETag, size
// and download location. Retries with exponential backoff on 5xx, 429 and dropped connections;
// turns 401/403/404 into one-line messages that say what to do.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "hub/http_client.h"
#include "hub/hub_config.h"

namespace kiln::hub {

struct RepoFile {
  std::string path;                   // "model-00001-of-00002.safetensors", "sub/x.json"
  std::optional<int64_t> size_bytes;  // when the API reports it
};

struct ModelInfo {
  std::string commit;  // the 40-hex sha the revision points to
  std::vector<RepoFile> files;
};

// What a HEAD on the resolve URL says about one file.
struct FileMetadata {
  std::string commit;     // X-Repo-Commit
  std::string etag;       // X-Linked-Etag or ETag, normalised: the blob's name
  std::string location;   // where to GET it (the CDN URL after an absolute redirect)
  int64_t size_bytes = 0; // X-Linked-Size or Content-Length
  bool send_token = true; // false when location is on another host (signed CDN URL)
};

// Why a request failed, so callers can fall back to the cache on network trouble only.
enum class HubFailure { kNone, kNetwork, kHttp, kProtocol };

class HubApi {
 public:
  HubApi(const HubConfig& config, const PullOptions& options);

  // GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true
  Result<ModelInfo> model_info(const std::string& repo_id, const std::string& revision,
                               HubFailure* failure) const;

  // HEAD {endpoint}/{repo}/resolve/{commit}/{file}, following relative redirects only.
  Result<FileMetadata> file_metadata(const std::string& repo_id, const std::string& revision,
                                     const std::string& file) const;

  // Performs `request` up to options.max_attempts times, sleeping with exponential backoff
  // (or Retry-After) between attempts that failed with 5xx, 429 or a transport error other
  // than DNS/connect failure (those mean "no network" and return at once unless
  // `retry_connect`). `before_attempt` runs before each try (a download resumes there).
  HttpResponse perform_with_retries(HttpRequest request, bool retry_connect,
                                    const std::function<void(HttpRequest*)>& before_attempt = {})
      const;

  // The one-line message for a failed response (HTTP error or transport failure).
  std::string describe_failure(const HttpResponse& response, const std::string& repo_id,
                               const std::string& revision, const std::string& file) const;

  void backoff_sleep(int attempt, const HttpResponse* response) const;

  const HubConfig& config() const { return config_; }
  const PullOptions& options() const { return options_; }

 private:
  HubConfig config_;
  PullOptions options_;
};

// True for responses worth retrying: 429, 5xx, or a transport failure mid-request.
bool is_retryable(const HttpResponse& response, bool retry_connect);

// Parses the model info JSON body; names the missing field on error.
Result<ModelInfo> parse_model_info(const std::string& body);

}  // namespace kiln::hub
