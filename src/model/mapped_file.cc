#include "model/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/file_reading.h"

namespace kiln {

Result<std::unique_ptr<MappedFile>> MappedFile::open(const std::filesystem::path& path) {
  // A FIFO named as a weights file blocked open() forever; it is refused without waiting.
  KILN_ASSIGN_OR_RETURN(const OpenedFile file, open_regular_file(path));
  const int fd = file.fd;
  const size_t size = file.size_bytes;
  const uint8_t* data = nullptr;
  if (size > 0) {
    void* mapping = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      const int error = errno;
      ::close(fd);
      return Status::error(path.string() + ": mmap failed: " + std::strerror(error));
    }
    data = static_cast<const uint8_t*>(mapping);
  }
  ::close(fd);  // the mapping keeps the file open
  return std::unique_ptr<MappedFile>(new MappedFile(path, data, size));
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void MappedFile::advise_will_need(size_t offset, size_t length) const {
  if (data_ == nullptr || offset >= size_) return;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t begin = offset / page * page;
  const size_t end = std::min(size_, offset + length);
  ::madvise(const_cast<uint8_t*>(data_) + begin, end - begin, MADV_WILLNEED);
}

void MappedFile::populate(size_t offset, size_t length) const {
  if (data_ == nullptr || offset >= size_) return;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t begin = offset / page * page;
  const size_t end = std::min(size_, offset + length);
#ifdef MADV_POPULATE_READ
  if (::madvise(const_cast<uint8_t*>(data_) + begin, end - begin, MADV_POPULATE_READ) == 0) return;
#endif
  volatile uint8_t sink = 0;
  uint8_t accumulated = 0;
  for (size_t at = begin; at < end; at += page) accumulated ^= data_[at];
  sink = sink ^ accumulated;
}

}  // namespace kiln
