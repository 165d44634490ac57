#include "base/file_reading.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kiln {

Result<OpenedFile> open_regular_file(const std::filesystem::path& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Status::error(path.string() + ": cannot open: " + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int error = errno;
    ::close(fd);
    return Status::error(path.string() + ": cannot stat: " + std::strerror(error));
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    const char* kind = S_ISFIFO(info.st_mode) ? "a FIFO" : S_ISDIR(info.st_mode) ? "a directory"
                       : S_ISCHR(info.st_mode) || S_ISBLK(info.st_mode) ? "a device"
                       : S_ISSOCK(info.st_mode) ? "a socket" : "not a regular file";
    return Status::error(path.string() + ": is " + std::string(kind) + ", not a regular file");
  }
  // Regular files ignore O_NONBLOCK for reads; clear it anyway so that nothing depends on that.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return OpenedFile{fd, static_cast<size_t>(info.st_size)};
}

Result<std::string> read_regular_file(const std::filesystem::path& path, size_t max_bytes) {
  KILN_ASSIGN_OR_RETURN(const OpenedFile file, open_regular_file(path));
  if (file.size_bytes > max_bytes) {
    ::close(file.fd);
    return Status::error(path.string() + ": " + std::to_string(file.size_bytes) + " bytes, more than the " +
                         std::to_string(max_bytes) + " bytes such a file may have");
  }
  std::string text(file.size_bytes, '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(file.fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(file.fd);
      return Status::error(path.string() + ": read failed" + (n < 0 ? std::string(": ") + std::strerror(error)
                                                                    : std::string(": the file shrank")));
    }
    done += static_cast<size_t>(n);
  }
  ::close(file.fd);
  return text;
}

}  // namespace kiln
