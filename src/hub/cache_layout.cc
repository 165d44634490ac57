#include "hub/cache_layout.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <unistd.h>

namespace kiln::hub {
namespace fs = std::filesystem;

Status validate_repo_id(const std::string& repo_id) {
  const size_t slash = repo_id.find('/');
  const auto bad = [&](const std::string& why) {
    return Status::error("'" + repo_id + "' is not a Hugging Face repo id (" + why +
                         "); expected ORG/NAME such as deepseek-ai/DeepSeek-R1-Distill-Llama-8B");
  };
  if (slash == std::string::npos) return bad("no '/'");
  if (repo_id.find('/', slash + 1) != std::string::npos) return bad("more than one '/'");
  const std::string parts[2] = {repo_id.substr(0, slash), repo_id.substr(slash + 1)};
  for (const std::string& part : parts) {
    if (part.empty()) return bad("empty part");
    if (part.size() > 96) return bad("part longer than 96 characters");
    if (part.front() == '.' || part.front() == '-') return bad("part starts with '.' or '-'");
    if (part.find("--") != std::string::npos || part.find("..") != std::string::npos) {
      return bad("'--' or '..' inside");
    }
    for (char c : part) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
      if (!ok) return bad(std::string("character '") + c + "' not allowed");
    }
  }
  return ok_status();
}

bool is_commit_hash(const std::string& revision) {
  if (revision.size() != 40) return false;
  for (char c : revision) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status validate_repo_path(const std::string& path) {
  if (path.empty() || path.front() == '/') {
    return Status::error("repo file '" + path + "' is not a relative path");
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return Status::error("repo file '" + path + "' would leave the snapshot folder");
    }
    start = end + 1;
  }
  return ok_status();
}

RepoCache::RepoCache(fs::path cache_dir, const std::string& repo_id)
    : cache_dir_(std::move(cache_dir)),
      folder_(folder_name(repo_id)),
      storage_dir_(cache_dir_ / folder_) {}

std::string RepoCache::folder_name(const std::string& repo_id) {
  std::string name = "models";
  size_t start = 0;
  while (true) {
    const size_t slash = repo_id.find('/', start);
    name += "--" + repo_id.substr(start, slash == std::string::npos ? std::string::npos
                                                                     : slash - start);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return name;
}

fs::path RepoCache::blob_path(const std::string& etag) const { return storage_dir_ / "blobs" / etag; }

fs::path RepoCache::incomplete_path(const std::string& etag) const {
  return storage_dir_ / "blobs" / (etag + ".incomplete");
}

fs::path RepoCache::lock_path(const std::string& etag) const {
  return cache_dir_ / ".locks" / folder_ / (etag + ".lock");
}

fs::path RepoCache::ref_path(const std::string& revision) const {
  return storage_dir_ / "refs" / revision;
}

fs::path RepoCache::snapshot_dir(const std::string& commit) const {
  return storage_dir_ / "snapshots" / commit;
}

fs::path RepoCache::pointer_path(const std::string& commit, const std::string& file) const {
  return snapshot_dir(commit) / file;
}

std::string RepoCache::pointer_target(const std::string& file, const std::string& etag) {
  std::string target = "../../";
  for (char c : file) {
    if (c == '/') target += "../";
  }
  return target + "blobs/" + etag;
}

std::optional<std::string> RepoCache::cached_commit(const std::string& revision) const {
  if (is_commit_hash(revision)) return revision;
  std::ifstream file(ref_path(revision));
  if (!file) return std::nullopt;
  std::stringstream contents;
  contents << file.rdbuf();
  std::string commit = contents.str();
  while (!commit.empty() && (commit.back() == '\n' || commit.back() == '\r')) commit.pop_back();
  if (!is_commit_hash(commit)) return std::nullopt;
  return commit;
}

Status RepoCache::write_ref(const std::string& revision, const std::string& commit) const {
  if (revision == commit) return ok_status();
  if (cached_commit(revision) == commit) return ok_status();
  const fs::path path = ref_path(revision);
  std::error_code error;
  fs::create_directories(path.parent_path(), error);
  if (error) return Status::error("cannot create " + path.parent_path().string() + ": " + error.message());
  // Written through a temporary name and renamed so a concurrent reader never sees half a sha.
  const fs::path temporary = path.string() + ".tmp" + std::to_string(getpid());
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file << commit;
    if (!file) return Status::error("cannot write " + temporary.string() + ": " + std::strerror(errno));
  }
  fs::rename(temporary, path, error);
  if (error) return Status::error("cannot write " + path.string() + ": " + error.message());
  return ok_status();
}

Status RepoCache::mark_cache_dir() const {
  // The tag's signature line is fixed by the cache directory tagging specification; the comment
  // lines are huggingface_hub's, byte for byte (tests/hub compares the cache with its).
  static constexpr char kTag[] =
      "Signature: 8a477f597d28d172789f06886806bc55\n"
      "# This file is a cache directory tag created by huggingface_hub.\n"
      "# For information about cache directory tags, see:\n"
      "#\thttps://bford.info/cachedir/\n";
  const fs::path path = cache_dir_ / "CACHEDIR.TAG";
  std::error_code error;
  if (fs::exists(path, error)) return ok_status();
  fs::create_directories(cache_dir_, error);
  if (error) return Status::error("cannot create " + cache_dir_.string() + ": " + error.message());
  const fs::path temporary = path.string() + ".tmp" + std::to_string(getpid());
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file << kTag;
    if (!file) return Status::error("cannot write " + temporary.string() + ": " + std::strerror(errno));
  }
  // link() fails when another process made the tag meanwhile: theirs stays.
  const int linked = ::link(temporary.c_str(), path.c_str());
  const int saved = errno;
  fs::remove(temporary, error);
  if (linked != 0 && saved != EEXIST) {
    return Status::error("cannot write " + path.string() + ": " + std::strerror(saved));
  }
  return ok_status();
}

Status RepoCache::link_pointer(const std::string& commit, const std::string& file,
                               const std::string& etag) const {
  const fs::path pointer = pointer_path(commit, file);
  std::error_code error;
  fs::create_directories(pointer.parent_path(), error);
  if (error) return Status::error("cannot create " + pointer.parent_path().string() + ": " + error.message());
  const std::string target = pointer_target(file, etag);
  // A unique temporary link renamed over the pointer: atomic, so two processes linking the same
  // file never see a missing or half-made pointer.
  const fs::path temporary = pointer.string() + ".tmp" + std::to_string(getpid()) + "_" +
                             std::to_string(reinterpret_cast<uintptr_t>(&error));
  fs::remove(temporary, error);
  if (::symlink(target.c_str(), temporary.c_str()) != 0) {
    return Status::error("cannot create the symlink " + pointer.string() + ": " + std::strerror(errno));
  }
  if (::rename(temporary.c_str(), pointer.c_str()) != 0) {
    const int saved = errno;
    fs::remove(temporary, error);
    return Status::error("cannot create the symlink " + pointer.string() + ": " + std::strerror(saved));
  }
  return ok_status();
}

}  // namespace kiln::hub
