// huggingface_hub's cache layout, so that kiln and Python tools share one cache:
//   <cache>/models--org--name/blobs/<etag>                 file contents, named by ETag
//   <cache>/models--org--name/blobs/<etag>.incomplete      a partial download, resumed later
//   <cache>/models--org--name/refs/<revision>              the commit sha a branch/tag points to
//   <cache>/models--org--name/snapshots/<commit>/<file>    relative symlink to ../../blobs/<etag>
//   <cache>/.locks/models--org--name/<etag>.lock           the lock that guards one blob
//   <cache>/CACHEDIR.TAG                                   the backup-tool marker (bford.info/cachedir)
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "base/status.h"

namespace kiln::hub {

// "org/name" with each part non-empty and free of path tricks ("..", "--" and leading '.' are
// refused, as the Hub refuses them).
Status validate_repo_id(const std::string& repo_id);

// A full 40-hex lowercase commit sha, which revision strings may be.
bool is_commit_hash(const std::string& revision);

// A repo path ("sub/dir/file.json") that stays inside the snapshot: no empty, "." or ".." parts.
Status validate_repo_path(const std::string& path);

class RepoCache {
 public:
  RepoCache(std::filesystem::path cache_dir, const std::string& repo_id);

  // models--org--name
  static std::string folder_name(const std::string& repo_id);

  const std::filesystem::path& storage_dir() const { return storage_dir_; }
  std::filesystem::path blob_path(const std::string& etag) const;
  std::filesystem::path incomplete_path(const std::string& etag) const;
  std::filesystem::path lock_path(const std::string& etag) const;
  std::filesystem::path ref_path(const std::string& revision) const;
  std::filesystem::path snapshot_dir(const std::string& commit) const;
  std::filesystem::path pointer_path(const std::string& commit, const std::string& file) const;

  // The symlink target from a snapshot file to its blob: "../../blobs/<etag>", with one more
  // "../" per folder level of `file`.
  static std::string pointer_target(const std::string& file, const std::string& etag);

  // The commit a revision resolves to from the cache alone: the revision itself when it is a
  // commit sha, else the contents of refs/<revision>. nullopt when unknown.
  std::optional<std::string> cached_commit(const std::string& revision) const;

  // Writes refs/<revision> = commit (no newline, like huggingface_hub) unless the revision is the
  // commit itself or the ref already says so.
  Status write_ref(const std::string& revision, const std::string& commit) const;

  // Writes <cache>/CACHEDIR.TAG with huggingface_hub's exact text when the cache has none (an
  // existing tag is never rewritten), so backup tools skip the cache whichever tool made it.
  Status mark_cache_dir() const;

  // Makes snapshots/<commit>/<file> point at blobs/<etag> (replacing what was there).
  Status link_pointer(const std::string& commit, const std::string& file,
                      const std::string& etag) const;

 private:
  std::filesystem::path cache_dir_;
  std::string folder_;
  std::filesystem::path storage_dir_;
};

}  // namespace kiln::hub
