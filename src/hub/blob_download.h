// Fetches one file into blobs/<etag> exactly as huggingface_hub does: under the blob's lock,
// into <etag>.incomplete (resumed with a Range request when a partial exists), checked against
// the expected size and, for LFS files (64-hex ETag), against the sha256; then renamed into
// place and linked from snapshots/<commit>/<file>.
#pragma once

#include <atomic>
#include <string>

#include "base/status.h"
#include "hub/cache_layout.h"
#include "hub/download_progress.h"
#include "hub/hub_api.h"

namespace kiln::hub {

struct BlobJob {
  std::string repo_id;
  std::string commit;
  std::string file;
  FileMetadata metadata;
};

// Downloads (or finds) the blob and links the snapshot pointer. Once `cancelled` is set (another
// file failed) a transfer in flight still completes, but an interrupted one is not retried: its
// partial file stays for the next run. `progress` may be null.
Status download_blob(const HubApi& api, const RepoCache& cache, const BlobJob& job,
                     DownloadProgress* progress, const std::atomic<bool>* cancelled);

}  // namespace kiln::hub
