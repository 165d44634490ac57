#include "hub/pull.h"

#include <curl/curl.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "base/byte_size.h"
#include "base/log.h"
#include "hub/blob_download.h"
#include "hub/cache_layout.h"
#include "hub/download_progress.h"
#include "hub/file_selection.h"
#include "hub/hub_api.h"

namespace kiln::hub {
namespace fs = std::filesystem;
namespace {

// curl_global_init is reference-counted; holding one for the pull keeps libcurl initialised
// before the worker threads start.
class CurlScope {
 public:
  CurlScope() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlScope() { curl_global_cleanup(); }
  CurlScope(const CurlScope&) = delete;
  CurlScope& operator=(const CurlScope&) = delete;
};

Result<int64_t> statvfs_free_bytes(const std::string& path) {
  // The cache folder may not exist yet: ask the nearest existing ancestor.
  fs::path probe = fs::absolute(path);
  std::error_code error;
  while (!fs::exists(probe, error) && probe.has_parent_path() && probe != probe.parent_path()) {
    probe = probe.parent_path();
  }
  struct statvfs info {};
  if (::statvfs(probe.c_str(), &info) != 0) {
    return Status::error("cannot read free space of " + probe.string() + ": " + std::strerror(errno));
  }
  return static_cast<int64_t>(info.f_bavail) * static_cast<int64_t>(info.f_frsize);
}

int64_t file_size_or_zero(const fs::path& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  return error ? 0 : static_cast<int64_t>(size);
}

// Runs fn(i) for i in [0, count) on up to `workers` threads; stops handing out work after the
// first failure and returns it (with how many others failed).
Status run_parallel(size_t count, int workers, std::atomic<bool>* cancelled,
                    const std::function<Status(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::mutex mutex;
  Status first_error = ok_status();
  int num_errors = 0;
  const auto work = [&] {
    while (!cancelled->load()) {
      const size_t index = next.fetch_add(1);
      if (index >= count) return;
      Status status = fn(index);
      if (!status.ok()) {
        std::lock_guard<std::mutex> lock(mutex);
        if (first_error.ok()) first_error = status;
        ++num_errors;
        cancelled->store(true);
      }
    }
  };
  const int num_threads = std::max(1, std::min<int>(workers, static_cast<int>(count)));
  std::vector<std::thread> threads;
  for (int i = 1; i < num_threads; ++i) threads.emplace_back(work);
  work();
  for (std::thread& thread : threads) thread.join();
  if (!first_error.ok() && num_errors > 1) {
    return Status::error(first_error.message() + " (and " + std::to_string(num_errors - 1) +
                         " more files failed)");
  }
  return first_error;
}

Result<PullResult> from_cache(const RepoCache& cache, const std::string& repo_id,
                              const std::string& revision) {
  const std::optional<std::string> commit = cache.cached_commit(revision);
  if (!commit) return Status::error("");
  const fs::path dir = cache.snapshot_dir(*commit);
  std::error_code error;
  if (!fs::is_directory(dir, error) || fs::is_empty(dir, error)) return Status::error("");
  PullResult result;
  result.snapshot_dir = dir;
  result.commit = *commit;
  result.from_cache_only = true;
  for (auto it = fs::recursive_directory_iterator(dir, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    if (!it->is_directory()) ++result.num_files;
  }
  return result;
}

Result<PullResult> pull_online(const std::string& repo_id, const HubConfig& config,
                               const PullOptions& options, const RepoCache& cache) {
  HubApi api(config, options);
  HubFailure failure = HubFailure::kNone;
  Result<ModelInfo> info = api.model_info(repo_id, options.revision, &failure);
  if (!info.ok()) {
    if (failure == HubFailure::kNetwork) {
      Result<PullResult> cached = from_cache(cache, repo_id, options.revision);
      if (cached.ok()) {
        KILN_LOG(Warning) << info.message() << "; using the cached snapshot " << cached->commit
                          << " of " << repo_id << " (set HF_HUB_OFFLINE=1 to skip the Hub)";
        return cached;
      }
      return Status::error(info.message() + ", and " + repo_id + " (revision " + options.revision +
                           ") is not in the cache at " + config.cache_dir +
                           ". Check the network and HF_ENDPOINT; if the model was downloaded "
                           "before, point HF_HUB_CACHE (or HF_HOME) at that cache and set "
                           "HF_HUB_OFFLINE=1");
    }
    return info.status();
  }
  const std::string commit = info->commit;

  std::vector<std::string> selected;
  for (const RepoFile& file : info->files) {
    if (!is_selected(file.path, options.include_patterns)) continue;
    KILN_RETURN_IF_ERROR(validate_repo_path(file.path).with_context(repo_id));
    selected.push_back(file.path);
  }
  if (selected.empty()) {
    return Status::error(repo_id + " at revision " + options.revision +
                         " has no config.json, tokenizer or *.safetensors files (nor files matching "
                         "--include)");
  }

  // Like huggingface_hub, a ref is written as soon as the commit is known.
  KILN_RETURN_IF_ERROR(cache.write_ref(options.revision, commit));

  // Files whose snapshot pointer already resolves are done; the rest get a HEAD for their ETag,
  // size and location (in parallel: one round trip each).
  std::vector<std::string> missing;
  for (const std::string& file : selected) {
    std::error_code error;
    if (!fs::exists(cache.pointer_path(commit, file), error)) missing.push_back(file);
  }
  std::vector<BlobJob> jobs(missing.size());
  std::atomic<bool> cancelled{false};
  KILN_RETURN_IF_ERROR(run_parallel(missing.size(), std::max(options.max_parallel_files, 8),
                                    &cancelled, [&](size_t i) -> Status {
    KILN_ASSIGN_OR_RETURN(FileMetadata metadata, api.file_metadata(repo_id, commit, missing[i]));
    jobs[i] = BlobJob{repo_id, commit, missing[i], std::move(metadata)};
    return ok_status();
  }));

  // Disk space: everything not already in blobs/, less what partial downloads hold.
  int64_t needed = 0;
  std::vector<std::string> counted;
  for (const BlobJob& job : jobs) {
    if (fs::exists(cache.blob_path(job.metadata.etag))) continue;
    if (std::find(counted.begin(), counted.end(), job.metadata.etag) != counted.end()) continue;
    counted.push_back(job.metadata.etag);
    needed += std::max<int64_t>(
        0, job.metadata.size_bytes - file_size_or_zero(cache.incomplete_path(job.metadata.etag)));
  }
  if (needed > 0) {
    const auto free_space = options.free_space ? options.free_space : statvfs_free_bytes;
    KILN_ASSIGN_OR_RETURN(int64_t free_bytes, free_space(config.cache_dir));
    if (free_bytes < needed) {
      return Status::error("not enough disk space for " + repo_id + ": the download needs " +
                           format_bytes(needed) + " but only " + format_bytes(free_bytes) +
                           " is free at " + config.cache_dir +
                           "; free some space or set HF_HUB_CACHE to a larger disk");
    }
  }

  // Largest first, so the long transfers overlap and the small files fill the gaps.
  std::sort(jobs.begin(), jobs.end(), [](const BlobJob& a, const BlobJob& b) {
    return a.metadata.size_bytes > b.metadata.size_bytes;
  });
  KILN_LOG(Info) << "pulling " << repo_id << " at " << options.revision << " (commit " << commit
                 << "): " << jobs.size() << " of " << selected.size() << " files to fetch, "
                 << format_bytes(needed);
  {
    DownloadProgress progress(needed, options.show_progress && needed > 0);
    cancelled.store(false);
    KILN_RETURN_IF_ERROR(run_parallel(jobs.size(), options.max_parallel_files, &cancelled,
                                      [&](size_t i) {
      return download_blob(api, cache, jobs[i], &progress, &cancelled);
    }));
  }

  PullResult result;
  result.snapshot_dir = cache.snapshot_dir(commit);
  result.commit = commit;
  result.num_files = static_cast<int>(selected.size());
  result.num_downloaded = static_cast<int>(jobs.size());
  result.downloaded_bytes = needed;
  return result;
}

}  // namespace

std::string redact_token(std::string message, const HubConfig& config) {
  if (!config.token || config.token->empty()) return message;
  for (size_t at = message.find(*config.token); at != std::string::npos;
       at = message.find(*config.token, at)) {
    message.replace(at, config.token->size(), "***");
  }
  return message;
}

Result<PullResult> pull_model(const std::string& repo_id, const HubConfig& config,
                              const PullOptions& options) {
  KILN_RETURN_IF_ERROR(validate_repo_id(repo_id));
  if (options.revision.empty() || options.revision.find("..") != std::string::npos ||
      options.revision.front() == '/') {
    return Status::error("--revision '" + options.revision + "' is not a branch, tag or commit");
  }
  const RepoCache cache(config.cache_dir, repo_id);
  if (config.offline) {
    Result<PullResult> cached = from_cache(cache, repo_id, options.revision);
    if (!cached.ok()) {
      return Status::error(repo_id + " (revision " + options.revision + ") is not in the cache at " +
                           config.cache_dir +
                           " and HF_HUB_OFFLINE is set: unset HF_HUB_OFFLINE to download it, or "
                           "point HF_HUB_CACHE (or HF_HOME) at the cache that holds it");
    }
    return cached;
  }
  KILN_RETURN_IF_ERROR(cache.mark_cache_dir());
  CurlScope curl;
  Result<PullResult> result = pull_online(repo_id, config, options, cache);
  if (!result.ok()) return Status::error(redact_token(result.message(), config));
  return result;
}

Result<fs::path> resolve_model(const std::string& model_or_path, const HubConfig& config,
                               const PullOptions& options) {
  std::error_code error;
  if (fs::is_directory(model_or_path, error)) return fs::path(model_or_path);
  const bool looks_like_path = model_or_path.empty() || model_or_path.front() == '/' ||
                               model_or_path.front() == '.' || model_or_path.front() == '~' ||
                               !validate_repo_id(model_or_path).ok();
  if (looks_like_path) {
    return Status::error("model '" + model_or_path +
                         "' is neither a local directory nor a Hugging Face repo id (ORG/NAME)");
  }
  KILN_ASSIGN_OR_RETURN(PullResult pulled, pull_model(model_or_path, config, options));
  return pulled.snapshot_dir;
}

}  // namespace kiln::hub
