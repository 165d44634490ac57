// Public entry points of the hub layer: fetch a model from the Hugging Face Hub into the shared
// huggingface_hub cache (`kiln pull`), and turn what a user passed to `kiln serve` (a local
// folder or a repo id) into a local folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "base/status.h"
#include "hub/hub_config.h"

namespace kiln::hub {

struct PullResult {
  std::filesystem::path snapshot_dir;  // <cache>/models--org--name/snapshots/<commit>
  std::string commit;
  int num_files = 0;             // selected files in the snapshot
  int num_downloaded = 0;        // of which fetched now (the rest were cached)
  int64_t downloaded_bytes = 0;  // bytes fetched now (resumed parts count once)
  bool from_cache_only = false;  // offline, or the Hub unreachable and a snapshot was cached
};

// Downloads the selected files of `repo_id` at options.revision (default files plus
// options.include_patterns, see file_selection.h) into config.cache_dir, several at once, and
// returns the snapshot folder. Offline (config.offline) it resolves from the cache only. When
// the Hub cannot be reached but the revision is cached, the cached snapshot is used with a
// warning. Errors are one line and never contain the token.
Result<PullResult> pull_model(const std::string& repo_id, const HubConfig& config,
                              const PullOptions& options);

// What `kiln serve MODEL` calls: an existing local directory is returned as is; otherwise
// `model_or_path` must be a repo id (org/name), which is pulled (or found in the cache) and its
// snapshot folder returned.
Result<std::filesystem::path> resolve_model(const std::string& model_or_path,
                                            const HubConfig& config, const PullOptions& options);

// Removes every occurrence of the token from a message (a defence in depth for logs).
std::string redact_token(std::string message, const HubConfig& config);

}  // namespace kiln::hub
