#include "hub/blob_download.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

#include "base/byte_size.h"
#include "base/log.h"
#include "hub/file_lock.h"
#include "hub/sha256.h"

namespace kiln::hub {
namespace fs = std::filesystem;
namespace {

// An open .incomplete file being appended to, hashed as it grows.
class PartialFile {
 public:
  ~PartialFile() {
    if (fd_ >= 0) ::close(fd_);
  }

  Status open(const fs::path& path, int64_t expected_size, bool hash) {
    path_ = path;
    hash_ = hash;
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) return Status::error("cannot open " + path.string() + ": " + std::strerror(errno));
    struct stat info {};
    if (::fstat(fd_, &info) != 0) return Status::error("cannot stat " + path.string() + ": " + std::strerror(errno));
    size_ = info.st_size;
    // A partial longer than the file cannot be a prefix of it.
    if (size_ > expected_size) return restart();
    if (hash_ && size_ > 0) {
      std::vector<char> buffer(1 << 20);
      int64_t offset = 0;
      while (offset < size_) {
        const ssize_t got = ::pread(fd_, buffer.data(), buffer.size(), offset);
        if (got <= 0) return Status::error("cannot read " + path.string() + ": " + std::strerror(errno));
        hasher_.update(buffer.data(), static_cast<size_t>(got));
        offset += got;
      }
    }
    return ok_status();
  }

  // Throws away what was written (the server sent the whole file instead of the range).
  Status restart() {
    if (::ftruncate(fd_, 0) != 0) {
      return Status::error("cannot truncate " + path_.string() + ": " + std::strerror(errno));
    }
    size_ = 0;
    hasher_ = Sha256();
    return ok_status();
  }

  // False on a write error, kept in write_errno().
  bool append(const char* data, size_t bytes) {
    size_t done = 0;
    while (done < bytes) {
      const ssize_t wrote = ::write(fd_, data + done, bytes - done);
      if (wrote < 0) {
        if (errno == EINTR) continue;
        write_errno_ = errno;
        return false;
      }
      done += static_cast<size_t>(wrote);
    }
    if (hash_) hasher_.update(data, bytes);
    size_ += static_cast<int64_t>(bytes);
    return true;
  }

  Status close() {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
      write_errno_ = errno;
      return Status::error("cannot write " + path_.string() + ": " + std::strerror(errno));
    }
    return ok_status();
  }

  int64_t size() const { return size_; }
  int write_errno() const { return write_errno_; }
  std::string digest() { return hasher_.hex_digest(); }

 private:
  fs::path path_;
  int fd_ = -1;
  int64_t size_ = 0;
  bool hash_ = false;
  int write_errno_ = 0;
  Sha256 hasher_;
};

Status write_failure(const PartialFile& partial, const fs::path& path, int64_t expected) {
  const int error = partial.write_errno();
  std::string message = "cannot write " + path.string() + ": " + std::strerror(error);
  if (error == ENOSPC || error == EDQUOT) {
    message = "disk full while writing " + path.string() + ": " +
              format_bytes(expected - partial.size()) + " more were needed for this file in " +
              path.parent_path().string() +
              "; free some space (or set HF_HUB_CACHE to a larger disk) and run again: the "
              "download resumes where it stopped";
  }
  return Status::error(message);
}

}  // namespace

Status download_blob(const HubApi& api, const RepoCache& cache, const BlobJob& job,
                     DownloadProgress* progress, const std::atomic<bool>* cancelled) {
  const FileMetadata& meta = job.metadata;
  const fs::path blob = cache.blob_path(meta.etag);
  const fs::path incomplete = cache.incomplete_path(meta.etag);
  std::error_code error;
  fs::create_directories(blob.parent_path(), error);
  if (error) return Status::error("cannot create " + blob.parent_path().string() + ": " + error.message());

  KILN_ASSIGN_OR_RETURN(FileLock lock, FileLock::acquire(cache.lock_path(meta.etag)));
  // Another process (or worker) may have finished this blob while we waited for the lock.
  if (fs::exists(blob)) return cache.link_pointer(job.commit, job.file, meta.etag);

  const bool check_sha = is_sha256_hex(meta.etag);
  PartialFile partial;
  KILN_RETURN_IF_ERROR(partial.open(incomplete, meta.size_bytes, check_sha));
  if (partial.size() > 0) {
    KILN_LOG(Info) << job.file << ": resuming from " << format_bytes(partial.size()) << " of "
                   << format_bytes(meta.size_bytes);
  }
  const int file_id = progress ? progress->start_file(job.file, meta.size_bytes - partial.size()) : 0;

  std::string local_error;
  HttpRequest request;
  request.url = meta.location;
  if (meta.send_token) request.token = api.config().token;
  request.connect_timeout_s = api.options().connect_timeout_s;
  request.stall_timeout_s = api.options().stall_timeout_s;
  request.on_start = [&](long status, const HttpHeaders& headers) {
    if (status == 206) {
      const std::optional<std::string> range = headers.get("Content-Range");
      const std::optional<ContentRange> parsed = range ? parse_content_range(*range) : std::nullopt;
      if (!parsed || parsed->first != partial.size()) {
        local_error = "the server answered a Range request for " + job.file + " with Content-Range '" +
                      range.value_or("") + "' (expected bytes " + std::to_string(partial.size()) + "-)";
        return false;
      }
      return true;
    }
    if (partial.size() > 0) {  // a 200 to a Range request: the whole file comes again
      if (progress) progress->advance(file_id, -partial.size());
      Status status_restart = partial.restart();
      if (!status_restart.ok()) {
        local_error = status_restart.message();
        return false;
      }
    }
    return true;
  };
  request.on_body = [&](const char* data, size_t bytes) {
    if (partial.size() + static_cast<int64_t>(bytes) > meta.size_bytes) {
      local_error = job.file + ": the server sent more than the " + std::to_string(meta.size_bytes) +
                    " bytes the Hub announced";
      return false;
    }
    if (!partial.append(data, bytes)) return false;
    if (progress) progress->advance(file_id, static_cast<int64_t>(bytes));
    return true;
  };

  Status result = ok_status();
  int attempt = 1;
  while (partial.size() < meta.size_bytes) {
    request.headers.clear();
    if (partial.size() > 0) request.headers.push_back("Range: bytes=" + std::to_string(partial.size()) + "-");
    const int64_t before = partial.size();
    HttpResponse response = http_perform(request);
    if (partial.write_errno() != 0) {
      result = write_failure(partial, incomplete, meta.size_bytes);
      break;
    }
    if (!local_error.empty()) {
      result = Status::error(local_error);
      break;
    }
    if (response.error == TransportError::kNone && response.status >= 300 && response.status <= 399) {
      const std::optional<std::string> location = response.headers.get("Location");
      if (!location || attempt > 10) {
        result = Status::error(job.file + ": redirect without a usable Location from " + request.url);
        break;
      }
      const std::string next = resolve_location(request.url, *location);
      if (url_origin(next) != url_origin(request.url)) request.token.reset();
      request.url = next;
      ++attempt;
      continue;
    }
    if (response.error == TransportError::kNone && response.status >= 200 && response.status < 300) {
      if (partial.size() < meta.size_bytes && partial.size() == before) {
        result = Status::error(job.file + ": the server sent " + std::to_string(partial.size()) +
                               " of " + std::to_string(meta.size_bytes) + " bytes and no more");
        break;
      }
      if (partial.size() < meta.size_bytes) {
        // The body ended early without a transport error (no Content-Length); resume.
        continue;
      }
      break;
    }
    // Progress resets the retry budget: a flaky link that keeps moving is not given up on.
    if (partial.size() > before) attempt = 1;
    if (!is_retryable(response, /*retry_connect=*/true) || attempt >= api.options().max_attempts ||
        (cancelled && cancelled->load())) {
      result = Status::error(api.describe_failure(response, job.repo_id, job.commit, job.file) +
                             " while downloading " + job.file +
                             (partial.size() > 0 ? "; run again to resume" : ""));
      break;
    }
    KILN_LOG(Warning) << job.file << ": download interrupted ("
                      << (response.error == TransportError::kNone
                              ? "HTTP " + std::to_string(response.status)
                              : std::string(transport_error_name(response.error)))
                      << ") at " << format_bytes(partial.size()) << ", resuming (attempt "
                      << attempt + 1 << " of " << api.options().max_attempts << ")";
    api.backoff_sleep(attempt, &response);
    ++attempt;
  }

  if (result.ok()) result = partial.close();
  if (result.ok() && check_sha) {
    const std::string digest = partial.digest();
    if (digest != meta.etag) {
      fs::remove(incomplete, error);
      result = Status::error(job.file + ": sha256 of the download is " + digest +
                             " but the Hub says " + meta.etag +
                             " (its ETag); the partial file was deleted, run again to retry");
    }
  }
  if (result.ok()) {
    fs::rename(incomplete, blob, error);
    if (error) result = Status::error("cannot move " + incomplete.string() + " to " + blob.string() + ": " + error.message());
  }
  if (progress) progress->finish_file(file_id, result.ok());
  KILN_RETURN_IF_ERROR(result);
  return cache.link_pointer(job.commit, job.file, meta.etag);
}

}  // namespace kiln::hub
